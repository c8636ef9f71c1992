"""Two models' predictions on the same graphs: the one implementation behind the Model card's
"Against another model" and Compare's "Predictions" sections.

The numbers are ``core.analysis.predictions.prediction_agreement``'s (both accuracies, the share of
same predictions, the 2×2 counts both right / only A / only B / neither, the exact McNemar
p-value); the predictions are each model's dataset summary (``viz_app.cache``), which runs in the
background worker, so a page calling :func:`show_prediction_comparison` never waits for a whole
dataset: the section says it is coming and the page reruns when it is there.

Any two models that can run on the dataset can be set against each other, pooling or not
(set2set, sortpool, ecc, baseline only classify; they have no clusters but do have predictions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from core.analysis.predictions import MAJORITY_MARGIN, majority_share, prediction_agreement  # noqa: F401
from viz_app import cache, widgets
from viz_app.sidebar import select_graph

#: How long a page waits for a summary before it shows the section's placeholder instead.
SUMMARY_WAIT_S = 0.1
EXPLORE_PAGE = "viz_app/pages/explore.py"


def held_out_graphs(cards: list, dataset_name: str, num_graphs: int) -> tuple[np.ndarray, str]:
    """The graphs to compare two models on, and a phrase saying which they are.

    The graphs no model was trained on: the overlap of the test folds of the cards trained on this
    dataset (a model trained on another dataset saw none of its graphs). Without test indices, or
    when the folds do not overlap, every graph, which flatters both models.

    >>> held_out_graphs([{"dataset": "D", "test_indices": [1, 2, 3]}, {"dataset": "D", "test_indices": [2, 3, 9]}], "D", 10)
    (array([2, 3]), "the 2 graphs held out from both models' training (their test folds' overlap)")
    """
    here = [card for card in cards if _trained_on(card, dataset_name)]
    folds = [set(held_out_indices(card, dataset_name, num_graphs)) for card in here]
    if here and all(folds):
        shared = np.asarray(sorted(set.intersection(*folds)), dtype=np.int64)
        if len(shared):
            whose = "both models'" if len(here) == 2 else "the model's"
            what = "their test folds' overlap" if len(here) == 2 else "the other model was trained on another dataset"
            return shared, f"the {len(shared)} graphs held out from {whose} training ({what})"
    why = "the cards share no held-out graphs" if here and all(folds) else "a card lists no held-out graphs"
    return (np.arange(num_graphs, dtype=np.int64),
            f"all {num_graphs} graphs of {dataset_name}, training graphs included ({why}), so both figures are optimistic")


def _trained_on(card: dict, dataset_name: str) -> bool:
    return str(card.get("dataset", "")).lower() == dataset_name.lower()


def held_out_indices(card: dict, dataset_name: str, num_graphs: int) -> list[int]:
    """The graphs of ``dataset_name`` the model never saw in training: its card's held-out test fold
    (``test_indices`` below ``num_graphs``) when it was trained on that dataset, else none.

    >>> held_out_indices({"dataset": "D", "test_indices": [4, 1, 12]}, "d", 10), held_out_indices({"dataset": "E"}, "D", 10)
    ([1, 4], [])
    """
    if not _trained_on(card, dataset_name):
        return []
    return sorted({int(i) for i in (card.get("test_indices") or []) if 0 <= int(i) < num_graphs})


def held_out_majority(card, dataset) -> float | None:
    """Share of the card's held-out test graphs of ``dataset`` that are in their largest class: what
    always answering that class scores there (None without test indices)."""
    index = [int(i) for i in (card.get("test_indices") or []) if 0 <= int(i) < len(dataset)]
    return majority_share(np.asarray(dataset.labels)[index])


def compare_partners(entries: list[dict], dataset_name: str, pools: bool) -> list[dict]:
    """Compare's candidates for model B, best first: models trained on ``dataset_name`` first; then
    a model of the other kind (without pooling when the selected model ``pools``, and the other way
    round), DiffPool before other variants, shipped before the user's, by name. ``entries`` are
    :func:`viz_app.cache.list_checkpoints` rows (path, name, variant, dataset, source)."""
    from core.model.diffpool import NO_POOLING_VARIANTS

    return sorted(entries, key=lambda c: (str(c["dataset"]).lower() != dataset_name.lower(),
                                          (c["variant"] in NO_POOLING_VARIANTS) != pools, c["variant"] != "diffpool",
                                          c["source"] != "shipped", c["name"]))


def contrast_partner(candidates: list[str], selected: str, structures: dict) -> str | None:
    """Compare's default model B for the two-model view: the first of ``candidates`` (paths in the
    picker's order, ``selected`` skipped) whose pooling is of the other kind than the selected model's
    by their cards (``core.model.card.pools_into_structure``: structure against no structure), so the
    first view sets a structural pooling beside one that is not; else the first candidate. None when
    there is no other. ``structures`` maps a path to its card's ``structure`` field (None if absent)."""
    from core.model.card import pools_into_structure

    others = [path for path in candidates if path != selected]
    kind = pools_into_structure(structures.get(selected))
    if kind is not None:
        for path in others:
            other_kind = pools_into_structure(structures.get(path))
            if other_kind is not None and other_kind != kind:
                return path
    return others[0] if others else None


def card_partners(entries: list[dict], variant: str) -> list[dict]:
    """The Model card's candidates to compare a ``variant`` model with, best first: DiffPool models
    first, then one of the other kind (a pooling model against one without and the other way round),
    by name."""
    from core.model.diffpool import NO_POOLING_VARIANTS

    pools = variant not in NO_POOLING_VARIANTS
    return sorted(entries, key=lambda e: (e["variant"] != "diffpool", (e["variant"] not in NO_POOLING_VARIANTS) == pools,
                                          e["name"]))


def _class_name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def _open_in_explore(key: str) -> None:
    choice = st.session_state.get(f"{key}_pick")
    if choice is not None:
        select_graph(int(choice))
        st.session_state["_open_explore"] = True


def show_prediction_comparison(selection, path_a: str, path_b: str, key: str, names: tuple[str, str] | None = None,
                               explore_link: bool = False) -> Callable[[], bool] | None:
    """Accuracy of two models on the dataset's held-out graphs, where they differ, and McNemar's test.

    Args:
        selection: the sidebar's :class:`viz_app.sidebar.Selection` (dataset, device).
        path_a, path_b: checkpoint stems.
        key: prefix of this section's widget keys.
        names: how the text calls the two models (default: their file names).
        explore_link: offer to open a graph where they disagree on the Explore page.

    Returns None when the section is drawn (or cannot be), else a ``ready`` callable for
    :func:`viz_app.widgets.rerun_when_ready`: the summaries are still being computed.
    """
    if st.session_state.pop("_open_explore", False):
        st.switch_page(EXPLORE_PAGE)
    stem_a, stem_b = Path(path_a).name, Path(path_b).name
    name_a, name_b = names or (stem_a, stem_b)
    for path in (path_a, path_b):
        warning, problem = cache.card_compatibility(path, selection.dataset_name, selection.data_dir)
        if problem:
            st.error(f"{Path(path).name} cannot run on {selection.dataset_name}: {problem}")
            return None
        elsewhere = cache.foreign_classes(cache.model_card(path), selection.dataset_name)
        if elsewhere:
            st.info(f"Predictions are compared only between models trained on {selection.dataset_name}: "
                    f"{Path(path).name} was trained on {elsewhere}, whose classes are not {selection.dataset_name}'s.")
            return None
    try:
        cards = [cache.model_card(path) for path in (path_a, path_b)]  # no weights: the summaries hold the runs
        summaries = [cache.summary_if_ready(path, selection.device, selection.dataset_name, selection.data_dir,
                                            wait_s=SUMMARY_WAIT_S) for path in (path_a, path_b)]
    except Exception as error:  # weights that do not match their card, a failed run: say so, keep the page
        st.error(f"Cannot compare {stem_a} and {stem_b} on {selection.dataset_name}: {error}")
        return None
    if any(summary is None for summary in summaries):
        widgets.pending_note(f"Running {stem_a} and {stem_b} over the {len(selection.dataset)} graphs of "
                             f"{selection.dataset_name} in the background; this section fills in when they are done.")
        return lambda: all(cache.summary_if_ready(path, selection.device, selection.dataset_name,
                                                  selection.data_dir) is not None for path in (path_a, path_b))
    labels = np.asarray(summaries[0]["labels"], dtype=np.int64)
    predicted_a, predicted_b = (np.asarray(s["logits"]).argmax(axis=1) for s in summaries)
    shared, where = held_out_graphs(cards, selection.dataset_name, len(labels))
    result = prediction_agreement(predicted_a[shared], predicted_b[shared], labels[shared])
    variants = [str(card.get("variant", "?")) for card in cards]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"{name_a} ({variants[0]})", f"{result['accuracy_a']:.1%}")
    m2.metric(f"{name_b} ({variants[1]})", f"{result['accuracy_b']:.1%}")
    m3.metric("Same prediction", f"{result['agreement']:.1%}")
    m4.metric("McNemar p", f"{result['mcnemar_p']:.3f}",
              help="Exact two-sided test on the graphs where exactly one model is right; a large p means "
                   "the difference in accuracy is within chance on these graphs.")
    st.caption(f"On {where}. Both right: {result['both_correct']} · only {name_a}: {result['only_a_correct']} · "
               f"only {name_b}: {result['only_b_correct']} · neither: {result['neither_correct']}.")
    rows = shared[result["disagreements"]]
    if not len(rows):
        st.caption("The two models predict the same class for every one of these graphs.")
        return None
    class_names = list(selection.dataset.class_names)
    sizes = cache.dataset_overview(selection.dataset_name, selection.data_dir)["sizes"]
    st.markdown(f"**Graphs where they disagree** ({len(rows)})")
    table = widgets.markdown_table(
        ["graph", "nodes", "true", name_a, name_b],
        [(i, sizes[i], _class_name(class_names, labels[i]), _class_name(class_names, predicted_a[i]),
          _class_name(class_names, predicted_b[i])) for i in rows], right=(0, 1))
    with st.container(height=320 if len(rows) > 8 else "content", key=f"{key}_disagreements"):
        st.markdown(table)
    if explore_link:
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        pick.selectbox("A graph where they disagree", rows.tolist(), key=f"{key}_pick",
                       format_func=lambda i: f"#{i} · {sizes[i]} nodes · true {_class_name(class_names, labels[i])}")
        go.button("Open in Explore", key=f"{key}_open", on_click=_open_in_explore, args=(key,),
                  help="Makes it the selected graph (on every page) and opens Explore.")
    return None
