"""The shared sidebar: dataset, model, graph and device pickers, and the :class:`Selection` they make.

Only what the user *selected* lives in ``st.session_state`` (keys in :data:`SELECTION_KEYS`). The
sidebar never runs a model: it leaves a slot for the prediction, which :func:`viz_app.cache.trace_for`
fills on the pages that compute the selected graph's trace anyway.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from core.model.card import structure_summary as pooling_summary  # noqa: F401  (state re-exports it)
from core.model.compat import check_compatibility
from core.data.graphs import GraphDataset
from viz_app.cache import (
    DEFAULT_MODEL_STEM, SYNTHETIC, card_compatibility, checkpoint_label, dataset_choices, dataset_overview, list_checkpoints,
    dataset_defaults, foreign_classes, unreadable_checkpoints,
    load_dataset, model_bundle, model_card, model_class_names, cuda_available, stamp_of, user_models_dir,
)

#: session_state keys holding the user's selection (kept across pages).
SELECTION_KEYS = ("dataset", "data_dir", "model", "graph", "device", "filter_classes", "filter_sizes")


# ---------------------------------------------------------------------------- the sidebar
@dataclass
class Selection:
    """What the user picked in the sidebar (plus the loaded dataset and model card)."""

    dataset_name: str
    data_dir: str | None
    dataset: GraphDataset
    model_path: str | None
    card: dict | None
    spec: object | None
    device: str
    graph_index: int
    model_problem: str | None = None  # set when the model cannot run on this dataset
    prediction_slot: object | None = field(default=None, repr=False)  # sidebar placeholder (st.empty)

    def show_prediction(self, probabilities) -> None:
        """Write the selected graph's prediction into the sidebar (called with a trace or summary at hand)."""
        if self.prediction_slot is None or probabilities is None:
            return
        model_classes = model_class_names(self.card, self.dataset)
        predicted = int(np.argmax(probabilities))
        name = model_classes[predicted] if predicted < len(model_classes) else str(predicted)
        label = self.graph.label
        elsewhere = foreign_classes(self.card, self.dataset_name)
        mark = (f"(a class of {elsewhere}: not scored against {self.dataset_name}'s labels)" if elsewhere
                else "(correct)" if predicted == label else "(wrong)" if label is not None else "")
        held_out = (self.card or {}).get("test_indices")
        if not elsewhere and label is not None and held_out:
            # right on a graph it was trained on says little: say which kind of graph this is
            mark += (" on a graph held out from its training" if self.graph_index in set(map(int, held_out))
                     else " on one of its training graphs")
        self.prediction_slot.markdown(f"predicted: **{name}** (p = {float(probabilities[predicted]):.2f}) {mark}")

    @property
    def graph(self):
        return self.dataset[self.graph_index]

    @property
    def stamp(self) -> float:
        return stamp_of(self.model_path) if self.model_path else 0.0

    @property
    def usable(self) -> bool:
        return self.model_path is not None and self.model_problem is None


def _kept(key: str) -> str:
    """The plain session_state key (never a widget's) that keeps a copy of selection ``key``."""
    return f"_kept_{key}"


def keep_selection() -> None:
    """Keep the explorer's selection (dataset, model, graph) alive on pages without the sidebar.

    Streamlit drops a widget's state when a page that does not render it runs; re-assigning the
    values keeps the selection for when the user returns. That is not enough: a ``run_every``
    fragment (the pages that poll for background work) firing after the user left its page drops
    the sidebar widgets' state all the same (Streamlit issue #10805), and the app fell back to the
    synthetic dataset. So every value is also copied to a plain key no widget owns, and restored
    from there when the widget's own state is gone.
    """
    for key in SELECTION_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
        elif _kept(key) in st.session_state:
            st.session_state[key] = st.session_state[_kept(key)]
    remember_selection()


def remember_selection() -> None:
    """Copy the current selection to the keys :func:`keep_selection` restores it from."""
    for key in SELECTION_KEYS:
        if key in st.session_state:
            st.session_state[_kept(key)] = st.session_state[key]


def select_graph(index: int) -> None:
    """Make graph ``index`` the selection (usable from widget callbacks, e.g. a plotly selection)."""
    st.session_state["graph"] = int(index)


def clicked_graph(event) -> int | None:
    """The graph index a plotly selection event points at (first point with customdata), or None.

    ``event`` is the chart's session-state value: a dict, or an object with ``.selection.points``."""
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), "points", [])
    for point in points or []:
        custom = point.get("customdata")
        if custom is not None:
            return int(custom[0] if isinstance(custom, (list, tuple)) else custom)
    return None


def select_graph_on_click(chart_key: str):
    """An ``on_select`` callback for the plotly chart under ``chart_key`` whose points carry a graph
    index as their (first) customdata: the clicked graph becomes the selection."""

    def pick() -> None:
        index = clicked_graph(st.session_state.get(chart_key))
        if index is not None:
            select_graph(index)

    return pick


def _pick_from_filter() -> None:
    value = st.session_state.get("_matching_graph")
    if value is not None:
        select_graph(value)


def check_model(card: dict, spec, dataset: GraphDataset) -> tuple[str | None, str | None]:
    """(warning, problem) of running a model on a dataset (:func:`core.model.compat.check_compatibility`)."""
    result = check_compatibility(card, spec, dataset_name=dataset.name, sample_graph=dataset[0],
                                 num_classes=dataset.num_classes)
    return result.warning, result.problem


def _default_model(checkpoints: list[dict], dataset_name: str) -> str | None:
    """The model to show for ``dataset_name``: the shipped one ``pretrained/defaults.json`` names for it,
    then a shipped one trained on it (diffpool first), then any trained on it, then the shipped default,
    then anything; ties go to the shortest name (``dd-diffpool`` before ``dd-diffpool-sum``)."""
    chosen = dataset_defaults().get(dataset_name.lower(), {}).get("model")

    def rank(entry: dict) -> tuple:
        same_dataset = str(entry["dataset"]).lower() == dataset_name.lower()
        named = entry["source"] == "shipped" and entry["name"] == chosen
        return (not same_dataset, not named, entry["variant"] != "diffpool", entry["source"] != "shipped",
                entry["name"] != DEFAULT_MODEL_STEM, len(entry["name"]), entry["name"])

    return min(checkpoints, key=rank)["path"] if checkpoints else None


def _download(name: str, data_dir: str | None) -> None:
    from core.data.datasets import load_dataset as core_load

    with st.spinner(f"Downloading {name}…"):
        try:
            core_load(name, data_dir=data_dir or None, download=True, progress=False)
        except Exception as error:  # shown to the user; the app keeps working
            st.session_state["_download_error"] = f"Download of {name} failed: {error}"
        else:
            st.session_state.pop("_download_error", None)
            st.cache_data.clear()


def sidebar(need_model: bool = True) -> Selection:
    """Render the shared sidebar and return the :class:`Selection`.

    Calls ``st.stop()`` (after explaining why) when the selected dataset is not on disk, or when
    ``need_model`` and no model can run on it.
    """
    keep_selection()
    if "_pending_model" in st.session_state:  # set by the Train page before the widget exists
        st.session_state["model"] = st.session_state.pop("_pending_model")
    side = st.sidebar
    side.header("Selection")

    # -- dataset
    env_dir = os.environ.get("DIFFPOOL_DATA", "")
    st.session_state.setdefault("data_dir", env_dir)
    data_dir = side.text_input("TU data folder", key="data_dir",
                               help="Folder holding TU datasets (NAME/ or NAME.zip); default $DIFFPOOL_DATA or the download cache.")
    data_dir = data_dir.strip() or None
    if data_dir and not Path(data_dir).expanduser().is_dir():
        side.warning(f"There is no folder {data_dir}: datasets are looked for in the download cache only, and a "
                     "download goes there. Check the path, or clear it.")
    names, present = dataset_choices(data_dir)
    st.session_state.setdefault("dataset", SYNTHETIC)
    if st.session_state["dataset"] not in names:
        st.session_state["dataset"] = SYNTHETIC
    dataset_name = side.selectbox(
        "Dataset", names, key="dataset",
        format_func=lambda n: n if n in present else f"{n} (not downloaded)",
    )
    if dataset_name not in present:
        side.button(f"Download {dataset_name}", on_click=_download, args=(dataset_name, data_dir), type="primary")
        if "_download_error" in st.session_state:
            side.error(st.session_state["_download_error"])
        st.info(f"{dataset_name} is not in the data folder. Download it from the sidebar, or pick another dataset.")
        st.stop()
    try:
        dataset = load_dataset(dataset_name, data_dir)
    except Exception as error:
        st.error(f"Could not load {dataset_name}: {error}")
        st.stop()
    overview = dataset_overview(dataset_name, data_dir)

    # -- model
    checkpoints = list_checkpoints()
    paths = [c["path"] for c in checkpoints]
    by_path = {c["path"]: c for c in checkpoints}
    current = by_path.get(st.session_state.get("model"))
    dataset_changed = st.session_state.get("_model_dataset") not in (None, dataset_name)
    if current is None or (dataset_changed and str(current["dataset"]).lower() != dataset_name.lower()):
        # A new dataset brings its own model when one was trained on it.
        st.session_state["model"] = _default_model(checkpoints, dataset_name)
    st.session_state["_model_dataset"] = dataset_name
    model_path = None
    if paths:
        model_path = side.selectbox("Model", paths, key="model", format_func=lambda p: checkpoint_label(by_path[p]),
                                    help=f"Checkpoints in pretrained/ and {user_models_dir()}")
    else:
        side.warning(f"No models found in pretrained/ or {user_models_dir()}. Train one on the Train page.")
    if paths and not any(str(c["dataset"]).lower() == dataset_name.lower() for c in checkpoints):
        side.info(f"No model here was trained on {dataset_name}, so the one shown comes from another dataset. "
                  f"The Train page trains one on {dataset_name} (it opens on the sidebar's dataset), and the new "
                  "model joins this list.", icon=":material/model_training:")
    default = dataset_defaults().get(dataset_name.lower())
    if model_path is not None and default and Path(model_path).name == default["model"] and default.get("why"):
        # one line here; the full reason (what else was tried, how it compares) one click away
        side.caption(f"Why this model for {dataset_name}: {default.get('brief') or default['why']}")
        if default.get("brief") and default["brief"] != default["why"]:
            with side.expander("The full reason"):
                st.caption(default["why"])
    broken = unreadable_checkpoints()
    if broken:
        with side.expander(f"{len(broken)} unreadable model{'s' if len(broken) != 1 else ''}",
                           icon=":material/warning:"):
            for entry in broken:
                st.markdown(f"**{entry['name']}** ({entry['source']}): {entry['reason']}")

    devices = ["cpu"] + (["cuda"] if cuda_available() else [])
    st.session_state.setdefault("device", "cpu")
    if st.session_state["device"] not in devices:
        st.session_state["device"] = "cpu"
    device = side.selectbox("Device", devices, key="device")

    card = spec = problem = None
    if model_path is not None:
        try:
            # The card only: weights load when a page runs the model (the first page may draw a
            # stored trace and import no torch at all).
            card = model_card(model_path)
        except Exception as error:
            problem = f"cannot load {Path(model_path).name}: {error}"
        else:
            spec = card.features
            if "torch" in sys.modules:
                # Weights whose header is sound but whose tensors do not fit the card fail here, in
                # words, rather than on the page. Skipped only while torch is not loaded yet: the
                # first page then draws a stored trace whose key holds these weights' digest.
                try:
                    model_bundle(model_path, device)
                except Exception as error:
                    problem = f"cannot load {Path(model_path).name}: {error}"
            # the card's check, cached per card version (it builds the first graph's features)
            warning, unfit = card_compatibility(model_path, dataset_name, data_dir)
            problem = problem or unfit
            if warning:
                side.warning(warning)
        if problem:
            side.error(f"This model cannot run on {dataset_name}: {problem}")
        else:
            summary = pooling_summary(card.get("structure"))
            if summary:
                side.caption(f"Its pooling on its held-out fold: {summary} (Model card page for more).")

    # -- graph picker
    count = overview["num_graphs"]
    st.session_state.setdefault("graph", 0)
    if not 0 <= int(st.session_state["graph"]) < count:
        st.session_state["graph"] = 0
    index = int(side.number_input("Graph index", min_value=0, max_value=count - 1, step=1, key="graph",
                                  help=f"0 … {count - 1}"))
    with side.expander("Filter graphs"):
        class_names = overview["class_names"]
        valid = [c for c in st.session_state.get("filter_classes", range(len(class_names))) if c < len(class_names)]
        st.session_state["filter_classes"] = valid
        classes = st.multiselect("True class", list(range(len(class_names))), key="filter_classes",
                                 format_func=lambda c: class_names[c])
        low, high = int(overview["sizes"].min()), int(overview["sizes"].max())
        if low < high:
            a, b = st.session_state.get("filter_sizes", (low, high))
            a, b = max(low, min(int(a), high)), max(low, min(int(b), high))
            st.session_state["filter_sizes"] = (a, b) if a < b else (low, high)
            sizes = st.slider("Nodes", low, high, key="filter_sizes")
        else:
            sizes = (low, high)
        matching = np.flatnonzero(np.isin(overview["labels"], classes)
                                  & (overview["sizes"] >= sizes[0]) & (overview["sizes"] <= sizes[1]))
        st.caption(f"{len(matching)} of {count} graphs match.")
        if len(matching):
            options = matching[:1000].tolist()
            st.session_state["_matching_graph"] = index if index in options else None
            st.selectbox("Go to a matching graph", options, key="_matching_graph", on_change=_pick_from_filter,
                         placeholder="choose…",
                         format_func=lambda i: f"#{i} · {class_names[overview['labels'][i]]} · {overview['sizes'][i]} nodes")

    graph = dataset[index]
    label = class_names[graph.label] if graph.label is not None and graph.label < len(class_names) else "—"
    side.markdown(f"**{graph.name or f'graph {index}'}** — {graph.num_nodes} nodes, {graph.num_edges} edges  \n"
                  f"true class: **{label}**")
    # The prediction needs the model run on this graph: pages that compute the trace (or the
    # dataset summary) fill this slot; the sidebar itself runs no model.
    prediction_slot = side.empty() if problem is None and model_path is not None else None
    selection = Selection(dataset_name, data_dir, dataset, model_path, card, spec, device, index, problem,
                          prediction_slot)
    remember_selection()  # what the sidebar settled on (a new dataset's default model, a reset graph)
    if not selection.usable and need_model:
        if model_path is None:
            st.info("No model available yet: train one on the **Train** page, or put a checkpoint in "
                    f"`{user_models_dir()}`.")
        else:
            st.error(f"The selected model cannot run on {dataset_name}: {problem}. Pick another model or dataset.")
        st.stop()
    return selection

