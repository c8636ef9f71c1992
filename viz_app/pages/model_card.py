"""Model card: what the selected model is, how it was trained and how well it does (per class)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from core.model.card import structure_sentences
from core.model.diffpool import NO_POOLING_VARIANTS, VARIANT_SUMMARY
from viz_app import diagnosis_panel, figures, predictions_panel, state


selection = state.sidebar()
card = selection.card

st.title(f"Model card — {Path(selection.model_path).name}")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Variant", card.get("variant", "?"))
c2.metric("Trained on", str(card.get("dataset", "?")))
accuracy = card.get("accuracy")
test_accuracy = accuracy.get("test") if isinstance(accuracy, dict) else accuracy
elsewhere = state.foreign_classes(card, selection.dataset_name)  # its classes are another dataset's
majority = None if elsewhere else predictions_panel.held_out_majority(card, selection.dataset)
scored = isinstance(test_accuracy, (int, float))
c3.metric("Test accuracy (this model's fold)", f"{test_accuracy:.1%}" if scored else "—",
          delta=f"{100 * (test_accuracy - majority):+.1f} points over the largest class"
          if scored and majority is not None else None,
          help="Accuracy of these weights on the test fold they were held out from, and how far above always "
               "answering the fold's largest class"
               + (f" ({majority:.1%})" if majority is not None else "") + " it is. The cross-validation "
               "figure below (all folds) is the one to compare with papers.")
if scored and majority is not None and test_accuracy < majority + predictions_panel.MAJORITY_MARGIN:
    st.warning(f"On its held-out fold this model scores {test_accuracy:.1%}, no better than always answering the "
               f"largest class ({majority:.1%}): it has not learned to classify these graphs.")
seconds = card.get("training_seconds")
c4.metric("Training time", f"{seconds:.0f} s" if isinstance(seconds, (int, float)) else "—")
variant = card.get("variant", "?")
if variant in VARIANT_SUMMARY:
    settings = card.get("settings") or {}
    extras = []
    if settings.get("structure_weight"):
        extras.append(f"DMoN's modularity objective at weight {settings['structure_weight']:g} at every level")
    if settings.get("positional"):
        extras.append(f"{settings['positional']} Laplacian eigenvectors as node features"
                      + (" of the assignment GNN only" if settings.get("positional_assign_only") else ""))
    if settings.get("input_norm"):
        extras.append("a batch norm of the input features")
    st.markdown(f"**`{variant}`** — {VARIANT_SUMMARY[variant]}" + (f"; trained with {', '.join(extras)}" if extras
                                                                    else "") + ".")
features = getattr(card, "features", None)
if features is not None and features.solver_dependent:
    # A card that names the basis chose LAPACK's on purpose (`--eigenbasis solver`, e.g. to join a grid's
    # earlier folds); one that names none predates the canonical basis.
    chosen = "eigenbasis" in (card.get("features") or {})
    why = ("it was trained with `--eigenbasis solver`, the basis of the earlier runs it joins" if chosen
           else "it was trained before the canonical eigenbasis")
    st.caption(f"Its Laplacian eigenvectors are the ones LAPACK returned ({why}). Where a graph's eigenvectors "
               "are not unique (repeated eigenvalues, tied entries), "
               "another CPU returns others: there a graph or two per fold can be predicted otherwise than its "
               "stored results say. Models trained now use the canonical basis, the same on every CPU.")
if variant == "graphsage" or variant in NO_POOLING_VARIANTS:
    st.info("This model has **no pooling levels**: it makes no cluster assignments, so Explore, Compare and "
            "Teaching have no clusters to show for it. It is here to be compared with pooling models on "
            "accuracy — see *Against another model* below.")
if card.get("protocol"):
    st.markdown(f"**Protocol.** {card['protocol']}")
cv = card.get("cross_validation")
if cv:
    honest, paper = cv.get("honest") or {}, cv.get("paper") or {}
    done, planned = cv.get("folds_completed", "?"), (card.get("settings") or {}).get("folds")
    figure = (f"{honest.get('mean', float('nan')):.1%} on one test fold (no spread from one fold: not a "
              "cross-validated figure)" if done == 1 else
              f"{honest.get('mean', float('nan')):.1%} ± {honest.get('std', float('nan')):.1%}")
    st.markdown(f"**Cross-validation.** honest: {figure}"
                + (f" · paper protocol (optimistic): {paper.get('accuracy', paper.get('mean', float('nan'))):.1%}"
                   + (f" (one epoch for every fold: the best of the {paper['epochs_compared']} all folds trained)"
                      if paper.get("epochs_compared") else "") if paper else "")
                + f" · folds completed: {done}" + (f" of {planned}" if planned else "")
                + (f" · always answering each test fold's largest class: {cv['majority']['mean']:.1%}"
                   if isinstance(cv.get("majority"), dict) else ""))
    if honest.get("description") and honest["description"] not in str(card.get("protocol", "")):
        st.caption(honest["description"])
structure = card.get("structure")
if isinstance(structure, dict) and structure.get("levels"):
    st.markdown(f"**What its pooling is** (the diagnosis of the {structure.get('graphs', '?')} graphs of its "
                "held-out fold, stored in its card when it was written):")
    st.markdown("\n".join(f"- {diagnosis_panel.verdict_markdown(level['verdict'])} {sentence}"
                           for level, sentence in zip(structure["levels"], structure_sentences(structure))))
elif not (variant == "graphsage" or variant in NO_POOLING_VARIANTS):
    st.caption("This card does not say what its pooling is (shipped cards do: `bench/make_pretrained.py "
               "--structure-only STEM` adds it). The Atlas page diagnoses every graph of the selected dataset, "
               "Explore the graph at hand.")

siblings = diagnosis_panel.sibling_seed_models(selection.model_path)
if siblings:
    rows = []
    for stem in [selection.model_path, *siblings]:
        sibling = card if stem == selection.model_path else state.model_card(stem)
        held_out = (sibling.get("accuracy") or {}).get("test")
        rows.append({"seed": sibling.get("seed"), "model": Path(stem).name,
                     "held-out accuracy": f"{held_out:.1%}" if isinstance(held_out, (int, float)) else "—",
                     "its pooling on its held-out fold": state.pooling_summary(sibling.get("structure")) or "—"})
    scores = [float(r["held-out accuracy"].rstrip("%")) for r in rows if r["held-out accuracy"] != "—"]
    compared = ("Explore's *Stability* tab compares their clusters graph by graph."
                if len(siblings) >= diagnosis_panel.MIN_SEED_SIBLINGS else
                f"Explore's *Stability* tab compares clusters across seeds once {diagnosis_panel.MIN_SEED_SIBLINGS} "
                "retrainings ship; the rest are still to be trained.")
    st.markdown(f"**Retrained with {len(siblings)} other seed{'s' if len(siblings) != 1 else ''}** (`seeds/` beside "
                "it; the same command, and each seed also draws its own fold 0, so each row is scored on other "
                "held-out graphs): held-out accuracy "
                + (f"{min(scores):.1f}–{max(scores):.1f} %" if scores else "—")
                + f". How much of one model's figure and clusters is the luck of one training run; {compared}")
    # a Markdown table: drawn at once (a data grid took the page's first visit from ~0.5 to ~0.8 s)
    st.markdown(state.markdown_table(["seed", "model", "held-out accuracy", "its pooling on its held-out fold"],
                                     [(r["seed"], f"`{r['model']}`", r["held-out accuracy"],
                                       r["its pooling on its held-out fold"]) for r in rows], right=(0, 2)))


def confusion_table(matrix: np.ndarray, names: list[str], per_class: list[float]) -> str:
    """The confusion matrix (rows: true class, columns: predicted; right answers in bold) with each
    true class's accuracy and its number of graphs, as a Markdown table."""
    rows = []
    for c, name in enumerate(names):
        counts = [f"**{matrix[c, p]}**" if p == c else str(matrix[c, p]) for p in range(len(names))]
        accuracy = "—" if np.isnan(per_class[c]) else f"{per_class[c]:.1%}"
        rows.append([name, *counts, accuracy, str(int(matrix[c].sum()))])
    return state.markdown_table(["true ↓ · predicted →", *names, "accuracy", "graphs"], rows,
                                right=tuple(range(1, len(names) + 3)))


# ---------------------------------------------------------------- evaluation here
# Both sections below need a model run over the whole dataset (the background dataset summary):
# they show when it is done, and the page does not wait for it (D&D takes a while).
waiting = []
st.subheader("Per-class accuracy and confusion matrix")
same_dataset = str(card.get("dataset", "")).lower() == selection.dataset_name.lower()
test_indices = card.get("test_indices") if same_dataset else None
summary = state.summary_for(selection, wait_s=predictions_panel.SUMMARY_WAIT_S)  # fills the sidebar's prediction
if elsewhere:
    st.info(f"Not scored on {selection.dataset_name}: this model was trained on {elsewhere}, so its "
            f"classes are {elsewhere}'s, and {selection.dataset_name}'s labels mean other things. Pick "
            f"{elsewhere} in the sidebar for its accuracy, or train a model on {selection.dataset_name} "
            "on the Train page.")
elif summary is None:
    state.pending_note(f"Running the model over the {len(selection.dataset)} graphs of {selection.dataset_name} in "
                       "the background; this section fills in when it is done.")
    waiting.append(lambda: state.summary_if_ready(selection.model_path, selection.device, selection.dataset_name,
                                                  selection.data_dir) is not None)
else:
    labels, predicted = summary["labels"], summary["logits"].argmax(axis=1)
    stored = summary.get("source") == "stored"
    if test_indices:
        index = np.asarray(test_indices, dtype=np.int64)
        index = index[index < len(labels)]
        cpu_note = (": its LAPACK eigenvectors can move a graph or two on another CPU, see above"
                    if features is not None and features.solver_dependent else "")
        origin = (f"From the model's run over every graph stored beside it when it was shipped (computed on that "
                  f"machine{cpu_note})" if stored else "Computed now")
        st.caption(f"{origin} on the card's held-out test fold: {len(index)} graphs of {selection.dataset_name}.")
    else:
        index = np.arange(len(labels))
        why = "the card lists no test indices" if same_dataset else f"the model was trained on {card.get('dataset')}"
        st.caption(f"Computed on the whole dataset ({len(index)} graphs; {why}) — includes training graphs, so "
                   "optimistic.")
    class_names = list(selection.dataset.class_names)
    num_classes = max(len(class_names), int(predicted.max(initial=0)) + 1)
    names = class_names + [str(c) for c in range(len(class_names), num_classes)]
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels[index], predicted[index]), 1)
    per_class = [matrix[c, c] / matrix[c].sum() if matrix[c].sum() else float("nan") for c in range(num_classes)]
    overall = float(np.trace(matrix) / max(matrix.sum(), 1))
    st.metric("Accuracy (stored run)" if stored else "Accuracy (computed here)", f"{overall:.1%}")
    # A Markdown table, not two plotly charts: every number is written in either way, and the charts
    # took ~0.4 s of this page's first visit in the browser (2 cores).
    st.markdown(confusion_table(matrix, names, per_class))

if card.get("history"):
    state.show_figure(figures.training_curves(card["history"]), key="card_curves",
                      file_stem=f"{Path(selection.model_path).name}-curves")

# ---------------------------------------------------------------- against another model
st.subheader("Against another model", help="Both models predict the same graphs; where exactly one of them is "
             "right, an exact McNemar test says whether that split is more uneven than chance.")


def _comparable(entry: dict) -> bool:
    return entry["path"] != selection.model_path and str(entry["dataset"]).lower() == selection.dataset_name.lower()


others = [entry for entry in state.list_checkpoints() if _comparable(entry)]
if not others or not same_dataset:
    st.caption(f"No other model trained on {selection.dataset_name} to compare with"
               + ("" if same_dataset else f" (this model was trained on {card.get('dataset')})") + ".")
else:
    by_path = {e["path"]: e for e in predictions_panel.card_partners(others, variant)}
    other_path = st.selectbox("Compare with", list(by_path), key="card_other",
                              format_func=lambda p: state.checkpoint_label(by_path[p]))
    ready = predictions_panel.show_prediction_comparison(selection, selection.model_path, other_path, key="card_vs",
                                                         names=("This model", Path(other_path).name))
    if ready is not None:
        waiting.append(ready)

# ---------------------------------------------------------------- configuration
st.subheader("Configuration")


def settings_table(settings: dict) -> str:
    """A card's settings (a flat dict, lists and dicts written as JSON) as a Markdown table."""
    return state.markdown_table(["setting", "value"], [
        (f"`{name}`", json.dumps(value) if isinstance(value, (list, dict)) else str(value))
        for name, value in settings.items()])


# Markdown tables, not st.json: with its JSON viewers (drawn even inside closed expanders) this section
# took ~0.3 s of the page's first visit in the browser (2 cores); the whole card as JSON is drawn on request.
left, right = st.columns(2)
with left:
    st.markdown("**Model config**")
    st.markdown(settings_table(card.get("config", {})))
with right:
    st.markdown("**Features**")
    st.markdown(settings_table(card.get("features", {})))
    st.markdown(f"**Parameters:** {card.get('num_parameters', '?'):,}" if isinstance(card.get("num_parameters"), int)
                else "**Parameters:** ?")
    st.markdown(f"**Created:** {card.get('created', '?')} · **seed** {card.get('seed', '?')}")
st.markdown("**Command**")
st.code(card.get("command") or "(not recorded)", language="bash")
if isinstance(card.get("machine"), dict):
    with st.expander("Machine"):
        st.markdown(settings_table(card["machine"]))
if st.toggle("Show the full card (JSON)", key="card_full_json",
             help=f"Everything {Path(selection.model_path).name}.json holds except the per-epoch history "
                  "(drawn above as training curves)."):
    st.json({k: v for k, v in card.items() if k != "history"}, expanded=1)

if waiting:
    state.rerun_when_ready(lambda: all(ready() for ready in waiting))
