"""Cached loaders and the shared sidebar of every page.

Data flows one way: pages call :func:`sidebar` (which renders the dataset / model / graph /
device pickers and returns a :class:`Selection`), then ask the cached functions here for traces,
layouts and drawings. Caching:

- ``st.cache_resource``: models (one torch module per checkpoint file version and device);
- ``st.cache_data``: datasets, traces, layouts, network HTML, dataset summaries, 2-D projections.

Only what the user *selected* lives in ``st.session_state`` (keys in :data:`SELECTION_KEYS`).
UMAP is never imported here at start-up: :func:`graph_projection` / :func:`node_projection` call
``analysis.project_2d`` (which imports it lazily) only when the Embeddings page asks.

Where models are found: ``pretrained/`` beside this repository and the user models folder
(``$DIFFPOOL_MODELS``, default ``~/.diffpool-explorer/models``). Datasets: ``synthetic-hierarchy``
(generated) and the TU datasets in ``$DIFFPOOL_DATA`` (or the folder typed in the sidebar).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core import analysis
from core.graphs import GraphDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
PRETRAINED_DIR = REPO_ROOT / "pretrained"
DEFAULT_MODEL_STEM = "synthetic-hierarchy-diffpool"
SYNTHETIC = "synthetic-hierarchy"
LAYOUT_SEED = 0

#: session_state keys holding the user's selection (kept across pages).
SELECTION_KEYS = ("dataset", "data_dir", "model", "graph", "device", "filter_classes", "filter_sizes")


# ---------------------------------------------------------------------------- places
def user_models_dir() -> Path:
    """``$DIFFPOOL_MODELS`` or ``~/.diffpool-explorer/models`` (created on demand by the Train page)."""
    return Path(os.environ.get("DIFFPOOL_MODELS") or "~/.diffpool-explorer/models").expanduser()


def shipped_models_dir() -> Path:
    """``$DIFFPOOL_PRETRAINED`` or the repository's ``pretrained/`` (the shipped models)."""
    return Path(os.environ.get("DIFFPOOL_PRETRAINED") or PRETRAINED_DIR).expanduser()


def model_dirs() -> list[Path]:
    return [shipped_models_dir(), user_models_dir()]


def _file_stamp(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# ---------------------------------------------------------------------------- checkpoints
@st.cache_data(show_spinner=False)
def _scan_checkpoints(directories: tuple[str, ...], stamps: tuple) -> list[dict]:
    from core.checkpoint import CheckpointError, read_card

    found = []
    for directory in directories:
        folder = Path(directory)
        if not folder.is_dir():
            continue
        for card_path in sorted(folder.glob("*.json")):
            if card_path.name.endswith(".projection.json") or not card_path.with_suffix(".safetensors").is_file():
                continue
            try:
                card = read_card(card_path)
            except CheckpointError:
                continue
            found.append({
                "path": str(card_path.with_suffix("")),
                "name": card_path.stem,
                "variant": card.get("variant", "?"),
                "dataset": card.get("dataset", "?"),
                "accuracy": card.get("accuracy"),
                "source": "shipped" if folder == shipped_models_dir() else "yours",
            })
    return found


def list_checkpoints() -> list[dict]:
    """Every checkpoint in ``pretrained/`` and the user models folder: dicts with path, name, variant, dataset."""
    directories = tuple(str(d) for d in model_dirs())
    stamps = tuple(
        (p.name, _file_stamp(p)) for d in model_dirs() if d.is_dir() for p in sorted(d.glob("*.json"))
    )
    return _scan_checkpoints(directories, stamps)


def checkpoint_label(entry: dict) -> str:
    accuracy = entry.get("accuracy")
    if isinstance(accuracy, dict):
        accuracy = accuracy.get("test")
    acc = f" · test acc {accuracy:.0%}" if isinstance(accuracy, (int, float)) else ""
    return f"{entry['name']} — {entry['variant']} on {entry['dataset']}{acc}"


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def load_model(path: str, device: str = "cpu", stamp: float = 0.0):
    """(model, FeatureSpec, card) for a checkpoint stem; cached per file version and device."""
    from core.checkpoint import load_checkpoint

    return load_checkpoint(path, device)


def model_bundle(path: str, device: str = "cpu"):
    """:func:`load_model` keyed by the weights file's modification time (retrained files reload)."""
    return load_model(path, device, _file_stamp(Path(path + ".safetensors")))


# ---------------------------------------------------------------------------- datasets
@st.cache_data(show_spinner="Loading dataset…", max_entries=4)
def load_dataset(name: str, data_dir: str | None = None) -> GraphDataset:
    """A dataset from disk (never downloads); ``synthetic-hierarchy`` is generated."""
    from core.datasets import load_dataset as core_load

    return core_load(name, data_dir=data_dir or None, download=False, progress=False)


@st.cache_data(show_spinner=False, max_entries=8)
def dataset_overview(name: str, data_dir: str | None = None) -> dict:
    """Small per-graph table of a dataset: labels [G], sizes [G], class_names, num_graphs."""
    dataset = load_dataset(name, data_dir)
    return {
        "labels": dataset.labels,
        "sizes": np.array([g.num_nodes for g in dataset.graphs], dtype=np.int64),
        "class_names": list(dataset.class_names),
        "num_graphs": len(dataset),
    }


def dataset_choices(data_dir: str | None) -> tuple[list[str], set[str]]:
    """(every dataset name offered, names present locally)."""
    from core.datasets import KNOWN_DATASETS, available_datasets

    try:
        present = set(available_datasets(data_dir or None))
    except OSError:
        present = set()
    return [SYNTHETIC] + list(KNOWN_DATASETS), present | {SYNTHETIC}


# ---------------------------------------------------------------------------- traces and drawings
@st.cache_data(show_spinner="Running the model…", max_entries=256)
def graph_trace(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int, stamp: float = 0.0):
    """The :class:`GraphTrace` of graph ``index`` (cached per model file version)."""
    from core.inference import trace_graphs

    model, spec, card = load_model(model_path, device, stamp)
    graph = load_dataset(dataset_name, data_dir)[index]
    return trace_graphs(model, [graph], spec, [index], seed=int(card.get("seed", 0) or 0))[0]


def trace_for(selection: "Selection", index: int | None = None, model_path: str | None = None):
    """Trace of ``index`` (default: the selected graph) under ``model_path`` (default: the selected model)."""
    path = model_path or selection.model_path
    return graph_trace(path, selection.device, selection.dataset_name, selection.data_dir,
                       selection.graph_index if index is None else index, _file_stamp(Path(path + ".safetensors")))


@st.cache_data(show_spinner="Computing layout…", max_entries=256)
def graph_layout(dataset_name: str, data_dir: str | None, index: int, seed: int = LAYOUT_SEED) -> np.ndarray:
    """Seeded node positions [N, 2] (``analysis.layout_positions``), shared by every model."""
    graph = load_dataset(dataset_name, data_dir)[index]
    return analysis.layout_positions(graph.sparse_adjacency(), seed=seed)


@st.cache_data(show_spinner="Drawing the network…", max_entries=64)
def input_network(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int, stamp: float):
    """:class:`viz_app.network.NetworkDrawing` of the input graph coloured by level-1 cluster."""
    from viz_app.network import input_graph_network

    trace = graph_trace(model_path, device, dataset_name, data_dir, index, stamp)
    graph = load_dataset(dataset_name, data_dir)[index]
    return input_graph_network(graph, trace, graph_layout(dataset_name, data_dir, index), seed=LAYOUT_SEED)


@st.cache_data(show_spinner="Running the model over the dataset…", max_entries=8)
def dataset_summary(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float) -> dict:
    """Whole-dataset results of a model: logits [G, C], graph_embeddings [G, g], entropy rows per level.

    Traces are made in chunks and reduced at once (only assignments are kept for
    ``analysis.dataset_level_entropy``), so memory stays small on big datasets.
    """
    from core.inference import trace_graphs
    from core.trace import GraphTrace, LevelTrace

    model, spec, card = load_model(model_path, device, stamp)
    dataset = load_dataset(dataset_name, data_dir)
    seed = int(card.get("seed", 0) or 0)
    logits, embeddings, slim = [], [], []
    for start in range(0, len(dataset), 64):
        indices = list(range(start, min(start + 64, len(dataset))))
        for trace in trace_graphs(model, [dataset[i] for i in indices], spec, indices, seed=seed):
            logits.append(trace.logits)
            embeddings.append(trace.graph_embedding)
            slim.append(GraphTrace(
                levels=[LevelTrace(l.assignment, np.zeros((0, 0)), np.zeros((0, 0)), np.zeros((0, 0)),
                                   l.node_entropy, 0.0, 0.0) for l in trace.levels],
                adjacency=None, final_embeddings=np.zeros((0, 0)), graph_embedding=np.zeros(0)))
    return {
        "logits": np.stack(logits),
        "graph_embeddings": np.stack(embeddings),
        "entropy": analysis.dataset_level_entropy(slim),
        "labels": dataset.labels,
    }


def summary_for(selection: "Selection") -> dict:
    return dataset_summary(selection.model_path, selection.device, selection.dataset_name, selection.data_dir,
                           _file_stamp(Path(selection.model_path + ".safetensors")))


@st.cache_data(show_spinner="Projecting to 2-D (the first UMAP fit in a process takes ~20 s)…", max_entries=32)
def project_points(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """``analysis.project_2d`` cached by the points' content."""
    return analysis.project_2d(points, seed=seed)


@st.cache_resource(show_spinner=False)
def warm_umap_in_background() -> threading.Thread:
    """Import umap and run one tiny fit in a daemon thread, once per server process.

    The first UMAP fit in a process costs ~15–20 s of numba compilation (PITFALLS.md); started
    after the home page has rendered, it is usually done before anyone opens Embeddings.
    """

    def warm() -> None:
        try:
            analysis.project_2d(np.random.default_rng(0).random((20, 4)).astype(np.float32), seed=0, method="umap")
        except Exception:  # a failed warm-up only means the first real fit pays the cost
            pass

    # umap imports pandas; plotly and streamlit look pandas up in sys.modules without importing
    # it, and would find it half-initialised if the thread were still importing it. Import it here.
    import pandas  # noqa: F401

    thread = threading.Thread(target=warm, name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def stored_projection(model_path: str) -> dict | None:
    """``<stem>.projection.json`` beside a checkpoint (precomputed graph-embedding coordinates), or None."""
    path = Path(model_path + ".projection.json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        coords = np.asarray(data["coords"], dtype=np.float32).reshape(-1, 2)
        indices = np.asarray(data["graph_indices"], dtype=np.int64)
    except (OSError, ValueError, KeyError) as error:
        st.warning(f"Ignoring {path.name}: {error}")
        return None
    if len(indices) != len(coords):
        st.warning(f"Ignoring {path.name}: {len(indices)} graph indices but {len(coords)} coordinates")
        return None
    return {"graph_indices": indices, "coords": coords, "method": str(data.get("method", "umap"))}


def stamp_of(model_path: str) -> float:
    return _file_stamp(Path(model_path + ".safetensors"))


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

    @property
    def graph(self):
        return self.dataset[self.graph_index]

    @property
    def stamp(self) -> float:
        return stamp_of(self.model_path) if self.model_path else 0.0

    @property
    def usable(self) -> bool:
        return self.model_path is not None and self.model_problem is None


def keep_selection() -> None:
    """Keep the explorer's selection (dataset, model, graph) alive on pages without the sidebar.

    Streamlit drops a widget's state when a page that does not render it runs; re-assigning the
    values keeps the selection for when the user returns.
    """
    for key in SELECTION_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def select_graph(index: int) -> None:
    """Make graph ``index`` the selection (usable from widget callbacks, e.g. a plotly selection)."""
    st.session_state["graph"] = int(index)


def _pick_from_filter() -> None:
    value = st.session_state.get("_matching_graph")
    if value is not None:
        select_graph(value)


def check_model(card: dict, spec, dataset: GraphDataset) -> tuple[str | None, str | None]:
    """(warning, problem) of running a model on a dataset: a different dataset is a warning;
    features that cannot be built or a class-count mismatch are problems (the model cannot run)."""
    warning = problem = None
    if card.get("dataset") and str(card["dataset"]).lower() != dataset.name.lower():
        if spec is not None and spec.kind in ("labels", "attributes", "labels+attributes"):
            # Node label ids and attribute columns are each dataset's own coding (label 2 is an
            # amino-acid type in D&D, a helix in PROTEINS): a matching width would run, meaninglessly.
            return None, (f"it reads {card['dataset']}'s node {spec.kind.replace('+', ' and ')}, which "
                          f"{dataset.name} codes differently")
        warning = f"This model was trained on **{card['dataset']}**, not {dataset.name}; its clusters may mean little here."
    try:
        features = spec.build(dataset[0])
        expected = card.get("config", {}).get("input_dim")
        if expected is not None and features.shape[1] != int(expected):
            problem = f"the model expects {expected} input features, {dataset.name} gives {features.shape[1]}"
    except ValueError as error:
        problem = str(error)
    num_classes = card.get("config", {}).get("num_classes")
    if problem is None and num_classes is not None and int(num_classes) != dataset.num_classes:
        warning = (warning or "") + (
            f" The model predicts {num_classes} classes, {dataset.name} has {dataset.num_classes}: "
            "predicted classes are not comparable with true ones."
        )
    return warning, problem


def _default_model(checkpoints: list[dict], dataset_name: str) -> str | None:
    """The model to show for ``dataset_name``: a shipped one trained on it (diffpool first), then
    any trained on it, then the shipped default, then anything; ties go to the shortest name
    (``dd-diffpool`` before ``dd-diffpool-sum``)."""

    def rank(entry: dict) -> tuple:
        same_dataset = str(entry["dataset"]).lower() == dataset_name.lower()
        return (not same_dataset, entry["variant"] != "diffpool", entry["source"] != "shipped",
                entry["name"] != DEFAULT_MODEL_STEM, len(entry["name"]), entry["name"])

    return min(checkpoints, key=rank)["path"] if checkpoints else None


def _download(name: str, data_dir: str | None) -> None:
    from core.datasets import load_dataset as core_load

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
    import torch

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

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    st.session_state.setdefault("device", "cpu")
    if st.session_state["device"] not in devices:
        st.session_state["device"] = "cpu"
    device = side.selectbox("Device", devices, key="device")

    card = spec = problem = None
    if model_path is not None:
        try:
            _, spec, card = model_bundle(model_path, device)
        except Exception as error:
            problem = f"cannot load {Path(model_path).name}: {error}"
        else:
            warning, problem = check_model(card, spec, dataset)
            if warning:
                side.warning(warning)
        if problem:
            side.error(f"This model cannot run on {dataset_name}: {problem}")

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
    selection = Selection(dataset_name, data_dir, dataset, model_path, card, spec, device, index, problem)
    if selection.usable:
        trace = trace_for(selection)
        probabilities = trace.probabilities
        model_classes = (card or {}).get("class_names") or class_names
        if probabilities is not None:
            predicted = trace.predicted
            name = model_classes[predicted] if predicted < len(model_classes) else str(predicted)
            mark = "(correct)" if predicted == graph.label else "(wrong)"
            side.markdown(f"predicted: **{name}** (p = {probabilities[predicted]:.2f}) {mark}")
    elif need_model:
        if model_path is None:
            st.info("No model available yet: train one on the **Train** page, or put a checkpoint in "
                    f"`{user_models_dir()}`.")
        else:
            st.error(f"The selected model cannot run on {dataset_name}: {problem}. Pick another model or dataset.")
        st.stop()
    return selection


# ---------------------------------------------------------------------------- display helpers
def assignments_csv(node_names: list[str], assignment: np.ndarray) -> str:
    """CSV of a soft assignment: node, hard_cluster, confidence, p_0..p_{k-1} (core.io's writer when present)."""
    try:
        from core.io import assignments_to_csv
    except ImportError:  # core/io.py not there yet: same columns, written here
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        matrix = np.asarray(assignment, dtype=np.float64)
        writer.writerow(["node", "hard_cluster", "confidence", *[f"p_{k}" for k in range(matrix.shape[1])]])
        for name, row in zip(node_names, matrix):
            writer.writerow([name, int(row.argmax()), f"{row.max():.6g}", *[f"{p:.6g}" for p in row]])
        return out.getvalue()
    return assignments_to_csv(list(node_names), assignment)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text).strip("-") or "figure"


def fit_level_widget(key: str, trace, first) -> None:
    """Reset the level widget ``key`` to ``first`` when the model's levels changed since it was drawn.

    A level picker keeps its key across models, so after a switch from a 2-level model to a
    1-level one its stored choice can point at a level that no longer exists, and a radio whose
    option labels changed (they carry the cluster counts) is left with nothing ticked in the
    browser. Setting the value (rather than deleting it) makes Streamlit send it to the page.
    """
    shape = tuple(level.num_clusters for level in trace.levels)
    marker = f"{key}__levels"
    if st.session_state.get(marker) != shape:
        if marker in st.session_state and key in st.session_state:
            st.session_state[key] = first
        st.session_state[marker] = shape


def pooling_level_select(trace, key: str) -> int:
    """The "Pooling level" picker (0-based level index, shown as ``level l → l+1``) for one trace."""
    fit_level_widget(key, trace, 0)
    return st.selectbox("Pooling level", list(range(trace.num_levels)), key=key,
                        format_func=lambda l: f"level {l} → {l + 1}")


def coarsened_level_header(trace, key: str) -> int:
    """Level picker, heading and cluster-use caption above a coarsened-graph view; returns the level (1-based)."""
    fit_level_widget(key, trace, 1)
    level = st.radio("Coarsened level", list(range(1, trace.num_levels + 1)), horizontal=True, key=key,
                     format_func=lambda l: f"level {l} ({trace.levels[l - 1].num_clusters} clusters)")
    st.subheader(f"After pooling {level}",
                 help="Node = cluster; size = cluster mass ΣᵢSᵢₖ (soft node count); edge width = coarsened weight "
                      "A'ₖₘ = Σᵢⱼ Sᵢₖ Aᵢⱼ Sⱼₘ (how strongly two clusters are linked); the label's number is the "
                      "self-loop A'ₖₖ (weight kept inside the cluster).")
    record = trace.levels[level - 1]
    stats = analysis.assignment_stats(record.assignment)
    st.caption(f"Level {level}: {stats['clusters_used']} of {record.num_clusters} clusters used, "
               f"effective clusters {stats['effective_clusters']:.2f}.")
    return level


def show_coarsened_level(trace, positions: np.ndarray, key: str, file_stem: str) -> int:
    """Level picker, heading, caption and the coarsened graph as a plotly network; returns the level.

    Plotly rather than a second pyvis iframe: a graph switch then re-sends one network, not two.
    Clusters sit at the mass-weighted centre of their members in ``positions`` (the input layout).
    """
    from viz_app import figures
    from viz_app.network import coarse_layout

    level = coarsened_level_header(trace, key=key)
    record = trace.levels[level - 1]
    members = np.bincount(record.hard_assignment, minlength=record.num_clusters)
    empty = int((np.asarray(record.cluster_mass) < figures.EMPTY_CLUSTER_MASS).sum())
    show_empty = empty == 0 or st.toggle(
        f"Show the {empty} empty cluster{'s' if empty > 1 else ''}", key=f"{key}_show_empty", value=False,
        help=f"Clusters holding less than {figures.EMPTY_CLUSTER_MASS} of a node's worth of assignment mass "
             "(ΣᵢSᵢₖ). They exist in the model but no node is pooled into them.")
    show_figure(figures.coarse_graph_figure(coarse_layout(trace, level, positions), record.coarsened_adjacency,
                                            record.cluster_mass, level, members, hide_empty=not show_empty),
                key=f"{key}_figure{level}", file_stem=f"{file_stem}-level{level}")
    return level


def show_entropy_metrics(record, level_index: int) -> dict:
    """Mean entropy, log C, clusters used and effective clusters of one level as metrics, and a
    warning when the level collapsed; returns :func:`core.analysis.assignment_stats`."""
    stats = analysis.assignment_stats(record.assignment)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Mean entropy", f"{stats['mean_entropy']:.3f}", help="Mean H(S_i) = −Σₖ Sᵢₖ log Sᵢₖ in nats: 0 = every "
              "node sure of its cluster, log C = every node spread evenly over all clusters.")
    c2.metric("log C bound", f"{stats['max_entropy']:.3f}", help="Entropy of a uniform row over C clusters.")
    c3.metric("Clusters used", f"{stats['clusters_used']} / {record.num_clusters}",
              help="Clusters that are the most likely cluster of at least one node.")
    c4.metric("Effective clusters", f"{stats['effective_clusters']:.2f}",
              help="exp(entropy of the cluster mass ΣᵢSᵢₖ): C when mass is spread evenly, 1 when one cluster holds all.")
    if stats["collapsed"]:
        st.warning(f"Cluster collapse at level {level_index} → {level_index + 1}: the mass behaves like fewer than "
                   "two clusters, so this level pools (almost) the whole graph at once.")
    return stats


def show_figure(fig, key: str, file_stem: str | None = None, **chart_kwargs):
    """``st.plotly_chart`` (modebar kept: its camera button saves a PNG) plus an offline HTML download.

    The HTML (plotly.js embedded, works with no network) is generated only when clicked.
    Returns what ``st.plotly_chart`` returns (the selection state when ``on_select`` is given).
    """
    from viz_app.figures import PLOTLY_CONFIG, figure_html

    result = st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, **chart_kwargs)
    st.download_button("⬇ HTML", data=lambda: figure_html(fig), file_name=f"{_slug(file_stem or key)}.html",
                       mime="text/html", key=f"{key}__html", on_click="ignore",
                       help="Standalone interactive HTML (works offline). Use the camera icon on the chart for PNG.")
    return result


def embed_html(html: str, height: int) -> None:
    """Show a self-contained HTML drawing (pyvis) in an iframe of ``height`` pixels."""
    if hasattr(st, "iframe"):  # Streamlit >= 1.5x: components.html is deprecated in favour of st.iframe
        st.iframe(html, height=height)
    else:
        import streamlit.components.v1 as components

        components.html(html, height=height)


def show_network(drawing, key: str, height: int, file_stem: str) -> None:
    """Embed a :class:`viz_app.network.NetworkDrawing` and offer it as standalone HTML."""
    for note in drawing.notes:
        st.caption(note)
    embed_html(drawing.html, height)
    st.download_button("⬇ network HTML", data=lambda: drawing.html, file_name=f"{_slug(file_stem)}.html", mime="text/html",
                       key=f"{key}__html", on_click="ignore", help="Standalone network page (vis-network inlined, offline).")
