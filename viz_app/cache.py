"""Cached loaders and computations of the app: models, datasets, traces, layouts, summaries, projections.

Pages ask these functions for data; they render nothing but spinners. Caching:

- ``st.cache_resource``: models (one torch module per checkpoint file version and device);
- ``st.cache_data``: datasets, traces, layouts, network HTML, dataset summaries, 2-D projections.

Models run only through ``core.model.inference``. UMAP is never imported at start-up:
:func:`projection_now` queues ``analysis.project_2d`` (which imports it lazily) only when asked.

Where models are found: ``pretrained/`` beside this repository (``$DIFFPOOL_PRETRAINED``) and the
user models folder (``$DIFFPOOL_MODELS``, default ``~/.diffpool-explorer/models``). Datasets:
``synthetic-hierarchy`` (generated) and the TU datasets in ``$DIFFPOOL_DATA`` (or the folder typed in
the sidebar).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from core import analysis
from core.data.graphs import GraphDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
PRETRAINED_DIR = REPO_ROOT / "pretrained"
DEFAULT_MODEL_STEM = "synthetic-hierarchy-diffpool"
SYNTHETIC = "synthetic-hierarchy"
LAYOUT_SEED = 0

#: ``$DIFFPOOL_THREADS``: torch CPU threads of the app's server process (default 1, as the CLI's
#: ``--threads``; 0 = torch's own choice).
THREADS_ENV = "DIFFPOOL_THREADS"


def torch_threads_wanted() -> int:
    """Threads the app gives torch: ``$DIFFPOOL_THREADS`` or 1 (0 = leave torch's default)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    try:
        return max(0, int(raw)) if raw else 1
    except ValueError as error:
        raise ValueError(f"${THREADS_ENV} must be a whole number of threads, got {raw!r}") from error


def apply_torch_threads() -> int:
    """Give torch the app's intra-op thread count for the process; returns that count (0 = torch's own).

    Called by ``streamlit_app.py`` on every rerun, before any page runs: every model run, fit,
    training and dataset summary then uses the CLI's default of one thread. Dense DiffPool work is
    small, and on a shared machine extra threads mostly wait on each other.

    torch is not imported for this (~1.1 s): the app's first page draws a stored trace without it.
    While torch is not loaded, ``OMP_NUM_THREADS`` is set so that torch starts with the count
    whenever and in whichever thread it is first imported (it reads the variable at start); once
    it is loaded, ``torch.set_num_threads`` is applied directly.
    """
    wanted = torch_threads_wanted()
    torch = sys.modules.get("torch")
    if wanted:
        _limit_blas_threads(wanted)
    if torch is None:
        if wanted:
            os.environ["OMP_NUM_THREADS"] = str(wanted)
        return wanted
    if wanted and torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return torch.get_num_threads()


@st.cache_resource(show_spinner=False)
def _limit_blas_threads(count: int) -> None:
    """Limit numpy's BLAS (OpenBLAS / MKL) to ``count`` threads, once per process.

    Measured on the 2-core machine under load: a [48, 5748] × [5748, 48] product took 0.7 s with
    BLAS's default threads and 3 ms single-threaded. (threadpoolctl comes with scikit-learn.)
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=count, user_api="blas")


def lower_thread_priority(niceness: int = 10) -> None:
    """Give the calling thread a lower CPU priority (Linux: ``nice`` of that thread alone).

    The background workers (dataset summaries, UMAP fits and the UMAP warm-up) run at this
    priority: on a machine with few cores they then take the CPU only when the page's own script
    and the browser leave it idle. Measured on the 2-core machine: the UMAP warm-up (~15 s of numba
    compilation) running at normal priority beside a page tour doubled the pages' first visits.
    Elsewhere (no per-thread nice) it does nothing.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


# ---------------------------------------------------------------------------- pages first
#: The background worker starts its next piece of work only once no page script has run for this
#: long: the browser is still drawing what the last run sent (a D&D network takes ~0.35 s, a page
#: of figures up to ~1 s on 2 cores). At 0.5 s, D&D's large-graph prefetch ran between the pages
#: of a tour and took ~0.25 s from the first visits of Embeddings and Train.
QUIET_AFTER_RUN_S = 1.5
#: ... but it never waits longer than this for one piece (a user clicking without pause).
MOST_YIELD_S = 10.0
_activity = threading.Condition()
_activity_state = {"running": 0, "waiting": 0, "last_end": 0.0, "wanted_until": 0.0}


@contextlib.contextmanager
def foreground_run() -> Iterator[None]:
    """Mark a page's script run (``streamlit_app.py`` wraps every rerun in it)."""
    with _activity:
        _activity_state["running"] += 1
    try:
        yield
    finally:
        with _activity:
            _activity_state["running"] -= 1
            _activity_state["last_end"] = time.monotonic()
            _activity.notify_all()


@contextlib.contextmanager
def waiting_on_background() -> Iterator[None]:
    """Mark a page that waits for the background worker's result: the worker then never yields."""
    with _activity:
        _activity_state["waiting"] += 1
        _activity.notify_all()
    try:
        yield
    finally:
        with _activity:
            _activity_state["waiting"] -= 1


def want_background(for_s: float = 2.0) -> None:
    """Mark that a page polls for background results (it shows them when ready): for ``for_s``
    seconds the worker does not yield to pages. Polling pages call it on every poll."""
    with _activity:
        _activity_state["wanted_until"] = max(_activity_state["wanted_until"], time.monotonic() + for_s)
        _activity.notify_all()


def yield_to_pages(quiet_s: float = QUIET_AFTER_RUN_S, most_s: float = MOST_YIELD_S) -> float:
    """Called by background work between its pieces: wait while a page script runs or ran less than
    ``quiet_s`` ago, unless a page waits for background results; at most ``most_s``. Returns the
    seconds waited.

    Called by prefetching work (large graphs, the dataset summary Explore starts at its end), not
    by work a page has asked for and shows when done (the atlas' diagnosis). Run beside a page on two cores it took the CPU from the page and from the browser drawing its
    result (D&D switches to small graphs took 0.9 s while large ones were prepared, 0.4 s after).
    """
    started = time.monotonic()
    with _activity:
        while not _activity_state["waiting"]:
            now = time.monotonic()
            if now < _activity_state["wanted_until"]:
                break
            idle_for = now - _activity_state["last_end"]
            if (not _activity_state["running"] and idle_for >= quiet_s) or now - started >= most_s:
                break
            _activity.wait(timeout=min(0.05, max(quiet_s - idle_for, 0.01)))
    return time.monotonic() - started


# ---------------------------------------------------------------------------- places
def user_models_dir() -> Path:
    """``$DIFFPOOL_MODELS`` or ``~/.diffpool-explorer/models`` (created on demand by the Train page)."""
    return Path(os.environ.get("DIFFPOOL_MODELS") or "~/.diffpool-explorer/models").expanduser()


def shipped_models_dir() -> Path:
    """``$DIFFPOOL_PRETRAINED`` or the repository's ``pretrained/`` (the shipped models)."""
    return Path(os.environ.get("DIFFPOOL_PRETRAINED") or PRETRAINED_DIR).expanduser()


def dataset_defaults() -> dict[str, dict]:
    """``pretrained/defaults.json``: per dataset, the shipped model the app opens it on and why
    (``{"ENZYMES": {"model": "enzymes-diffpool-structural", "why": "..."}}``); {} when absent or unreadable."""
    path = shipped_models_dir() / "defaults.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k).lower(): v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("model"), str)}


def model_dirs() -> list[Path]:
    return [shipped_models_dir(), user_models_dir()]


def _file_stamp(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# ---------------------------------------------------------------------------- checkpoints
@st.cache_data(show_spinner=False)
def _scan_checkpoints(directories: tuple[str, ...], stamps: tuple) -> tuple[list[dict], list[dict]]:
    """(readable checkpoints, unreadable ones with their reason) of every models folder."""
    from core.model.card import scan_models

    found, unreadable = [], []
    for directory in directories:
        folder = Path(directory)
        source = "shipped" if folder == shipped_models_dir() else "yours"
        good, bad = scan_models(folder)
        for stem, card in good:
            if not stem.with_suffix(".safetensors").is_file():
                continue  # a card whose weights are still being written (or were removed)
            found.append({
                "path": str(stem),
                "name": stem.name,
                "variant": card.get("variant", "?"),
                "dataset": card.get("dataset", "?"),
                "accuracy": card.get("accuracy"),
                "source": source,
            })
        unreadable += [{"path": str(path), "name": path.name, "reason": reason, "source": source} for path, reason in bad]
    names = [entry["name"] for entry in found]
    for entry in found:  # a name in both folders (a copy of a shipped model): labels must tell them apart
        entry["twin"] = names.count(entry["name"]) > 1
    return found, unreadable


def _scan_all() -> tuple[list[dict], list[dict]]:
    directories = tuple(str(d) for d in model_dirs())
    # The folders' own modification times: adding, removing or renaming a file changes them, and
    # checkpoints are written beside and renamed into place (``write_pair_atomically``). Two stats
    # instead of one per file: on this loaded machine a stat took ~1 ms, 40 of them per rerun.
    stamps = tuple((str(d), _file_stamp(d)) for d in model_dirs())
    return _scan_checkpoints(directories, stamps)


def list_checkpoints() -> list[dict]:
    """Every readable checkpoint in ``pretrained/`` and the user models folder: dicts with path, name, variant,
    dataset, accuracy, source."""
    return _scan_all()[0]


def unreadable_checkpoints() -> list[dict]:
    """Checkpoints that cannot be used (broken card, truncated weights, weights without a card), each with
    ``path``, ``name``, ``reason`` and ``source`` — listed apart in the sidebar, never loaded."""
    return _scan_all()[1]


def checkpoint_label(entry: dict) -> str:
    accuracy = entry.get("accuracy")
    if isinstance(accuracy, dict):
        accuracy = accuracy.get("test")
    acc = f" · test acc {accuracy:.0%}" if isinstance(accuracy, (int, float)) else ""
    # The model picker keeps its choice by label: two checkpoints of one name need two labels.
    where = f" ({entry['source']})" if entry.get("twin") else ""
    return f"{entry['name']}{where} — {entry['variant']} on {entry['dataset']}{acc}"


@st.cache_data(show_spinner=False, max_entries=256)
def _card_compatibility(path: str, stamp: float, dataset_name: str, data_dir: str | None,
                        need_pooling: bool) -> tuple[str | None, str | None]:
    from core.model.card import CheckpointError
    from core.model.compat import check_compatibility

    try:
        card = _card(path, stamp)  # the card the sidebar and other pages already read, not a second parse
    except CheckpointError as error:
        return None, f"cannot read its card: {error}"
    dataset = load_dataset(dataset_name, data_dir)
    result = check_compatibility(card, card.features, dataset_name=dataset.name, sample_graph=dataset[0],
                                 num_classes=dataset.num_classes, need_pooling=need_pooling)
    return result.warning, result.problem


def card_compatibility(path: str, dataset_name: str, data_dir: str | None,
                       need_pooling: bool = False) -> tuple[str | None, str | None]:
    """(warning, problem) of running the checkpoint at ``path`` on a dataset, from its card alone.

    No weights are loaded (``core.model.compat.check_compatibility`` reads the card's config and
    features and builds the features of the dataset's first graph): a page listing every model
    (Compare) loads only the ones it runs. Cached per card file version.
    """
    return _card_compatibility(path, _file_stamp(Path(path + ".json")), dataset_name, data_dir, need_pooling)


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def load_model(path: str, device: str = "cpu", stamp: float = 0.0):
    """(model, FeatureSpec, card) for a checkpoint stem; cached per file version and device."""
    from core.model.checkpoint import load_checkpoint

    return load_checkpoint(path, device)


@st.cache_resource(show_spinner=False, max_entries=64)
def _card(path: str, stamp: float):
    from core.model.card import read_card

    return read_card(path)


def model_card(path: str):
    """The validated :class:`~core.model.card.ModelCard` of a checkpoint, without loading weights or
    importing torch; cached per card file version. Raises ``CheckpointError`` when unreadable."""
    return _card(path, _file_stamp(Path(path + ".json")))


def cuda_available() -> bool:
    """Whether the Device picker offers CUDA. Without an NVIDIA driver on the machine the answer is
    no without importing torch (~1.1 s on a cold start); with one, torch is asked."""
    torch = sys.modules.get("torch")
    if torch is None:
        if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version")):
            return False
        import torch
    return bool(torch.cuda.is_available())


def model_bundle(path: str, device: str = "cpu"):
    """:func:`load_model` keyed by the weights file's modification time (retrained files reload)."""
    return load_model(path, device, _file_stamp(Path(path + ".safetensors")))


# ---------------------------------------------------------------------------- datasets
def load_dataset(name: str, data_dir: str | None = None) -> GraphDataset:
    """A dataset from disk (never downloads); ``synthetic-hierarchy`` is generated. Read-only.

    One cached object per dataset and data folder (:func:`_load_dataset`): the synthetic dataset does
    not depend on the folder, and a folder given as ``""`` or with spaces is the same as none or the
    stripped one. (Teaching's call without a folder made a second synthetic copy, ~0.2 s of its first
    visit, and took one of the cache's four places.)
    """
    folder = None if name.lower() == SYNTHETIC else ((data_dir or "").strip() or None)
    return _load_dataset(name, folder)


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def _load_dataset(name: str, data_dir: str | None = None) -> GraphDataset:
    """A dataset from disk (never downloads); ``synthetic-hierarchy`` is generated. Read-only.

    ``st.cache_resource``, not ``cache_data``: cache_data hands every caller a fresh unpickled
    copy, which for PROTEINS or D&D cost ~0.2 s per call, several calls per graph switch (py-spy).
    One shared object per process: callers must not modify it.

    Class names are made readable for display (``core.data.class_names``: "enzyme (1)" for D&D's label 1).
    """
    from core.data.class_names import readable_class_names
    from core.data.datasets import load_dataset as core_load

    from core.data.features import remember_eigenvectors

    dataset = core_load(name, data_dir=data_dir or None, download=False, progress=False)
    dataset.class_names = readable_class_names(dataset.name, list(dataset.class_names))
    remember_eigenvectors(dataset.graphs)  # summary, diagnosis and traces build the same positional features
    return dataset


def model_class_names(card, dataset: GraphDataset) -> list[str]:
    """Display names of a model's classes: the dataset's when the model was trained on it, else the
    card's own (made readable for the dataset it names)."""
    from core.data.class_names import readable_class_names

    card = card or {}
    trained_on = str(card.get("dataset") or "")
    if not trained_on or trained_on.lower() == dataset.name.lower() or not card.get("class_names"):
        return list(dataset.class_names)
    return readable_class_names(trained_on, [str(c) for c in card["class_names"]])


def foreign_classes(card, dataset_name: str) -> str | None:
    """The dataset a model was trained on when that is not ``dataset_name``, else None: such a
    model's classes are the other dataset's, so its predictions are never scored against
    ``dataset_name``'s labels (class 1 of one dataset is not class 1 of another)."""
    trained_on = str((card or {}).get("dataset") or "")
    return trained_on if trained_on and trained_on.lower() != dataset_name.lower() else None


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
    from core.data.datasets import KNOWN_DATASETS, available_datasets

    try:
        present = set(available_datasets(data_dir or None))
    except OSError:
        present = set()
    return [SYNTHETIC] + list(KNOWN_DATASETS), present | {SYNTHETIC}


# ---------------------------------------------------------------------------- traces and drawings
@st.cache_resource(show_spinner="Running the model…", max_entries=128)
def graph_trace(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int, stamp: float = 0.0):
    """The :class:`GraphTrace` of graph ``index`` (cached per model file version). Read-only.

    ``st.cache_resource``, not ``cache_data``: cache_data pickles the trace to store it and hands
    every call an unpickled copy; D&D's largest graph (5,748 nodes) carries a dense [N, N] input
    adjacency (130 MB), and the copies cost 0.26 s of its first switch and ~0.1 s of every rerun.
    One shared object per process: callers must not modify it.
    """
    stored = stored_trace(model_path, dataset_name, data_dir, index) if device == "cpu" else None
    if stored is not None:
        return stored
    prepared = _prepared_result(model_path, device, dataset_name, data_dir, index, stamp)
    if prepared is not None:  # a large graph computed in the background when its dataset was opened
        return prepared.trace
    return _compute_trace(model_path, device, dataset_name, data_dir, index, stamp)


def stored_trace(model_path: str, dataset_name: str, data_dir: str | None, index: int):
    """The trace stored beside a checkpoint (``<stem>.first-trace.npz``: graph 0 of a shipped model's
    dataset) when it was computed from these very files and this graph, else None.

    What lets the app's first page draw without importing torch (~1.1 s of a cold start); the key
    holds the digests of the checkpoint's two files and of the graph, so a retrained model, another
    data folder or another graph never gets a stale trace. CPU traces only.
    """
    from core.model.trace import STORED_TRACE_SUFFIX, load_trace, stored_trace_key

    path = Path(model_path + STORED_TRACE_SUFFIX)
    if index != 0 or not path.is_file():  # first traces hold graph 0: no digests computed for others
        return None
    dataset = load_dataset(dataset_name, data_dir)
    if not len(dataset):
        return None
    try:
        key = stored_trace_key(model_path, dataset.name, index, dataset[index])
    except OSError:
        return None
    return load_trace(path, key)


def trace_for(selection, index: int | None = None, model_path: str | None = None):
    """Trace of ``index`` (default: the selected graph) under ``model_path`` (default: the selected model).

    ``selection`` is a :class:`viz_app.sidebar.Selection`. The trace of the selected graph under the
    selected model also fills the sidebar's prediction line (the sidebar itself runs no model).
    Pages that want the dataset summary ready later call :func:`start_dataset_summary` at their end.
    """
    path = model_path or selection.model_path
    trace = graph_trace(path, selection.device, selection.dataset_name, selection.data_dir,
                        selection.graph_index if index is None else index, _file_stamp(Path(path + ".safetensors")))
    if path == selection.model_path and index in (None, selection.graph_index) and trace.logits is not None:
        show = getattr(selection, "show_prediction", None)
        if show is not None:
            show(trace.probabilities)
    return trace


@st.cache_data(show_spinner="Computing layout…", max_entries=256)
def graph_layout(dataset_name: str, data_dir: str | None, index: int, seed: int = LAYOUT_SEED) -> np.ndarray:
    """Seeded node positions [N, 2] (``core.analysis.layout.graph_layout``), shared by every model."""
    if seed == LAYOUT_SEED:
        prepared = _prepared_layout(dataset_name, data_dir, index)
        if prepared is not None:
            return prepared
    return _compute_layout(dataset_name, data_dir, index, seed)


@st.cache_data(show_spinner="Drawing the network…", max_entries=64)
def input_network(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int, stamp: float):
    """:class:`viz_app.network.NetworkDrawing` of the input graph coloured by level-1 cluster."""
    prepared = _prepared_result(model_path, device, dataset_name, data_dir, index, stamp)
    if prepared is not None:
        return prepared.drawing
    from viz_app.network import input_graph_network

    trace = graph_trace(model_path, device, dataset_name, data_dir, index, stamp)
    graph = load_dataset(dataset_name, data_dir)[index]
    return input_graph_network(graph, trace, graph_layout(dataset_name, data_dir, index), seed=LAYOUT_SEED)


def load_torch_in_background() -> None:
    """Import torch in a background thread (once per process; not at all if it is already loaded).

    The first page draws a stored trace without torch; every other page runs models. Explore calls
    this once its network is sent, so the ~1.1 s import overlaps the diagnosis and the browser's
    drawing instead of landing on the next page's first visit; SciPy's optimizer (Compare's cluster
    matching) follows in the same thread. The thread count is already set
    (:func:`apply_torch_threads` leaves ``OMP_NUM_THREADS`` for it).
    """
    if not {"torch", "scipy.optimize"} <= set(sys.modules):
        _torch_loader()


def import_pandas_last() -> None:
    """Import pandas in the calling page's own script thread, at its end (once per process).

    UMAP needs it (through scikit-learn), and Embeddings' first fit starts with it: ~0.3 s that
    page's first visit paid once scikit-learn's metrics no longer brought it in the background. It
    cannot load in a background thread: plotly and Streamlit look pandas up in ``sys.modules``
    without importing it, and a page drawing a figure meanwhile finds it half-initialised (a test
    met that). Explore calls this last, once its figures and diagnosis are sent.
    """
    if "pandas" not in sys.modules:
        import pandas  # noqa: F401


@functools.lru_cache(maxsize=1)
def _torch_loader() -> threading.Thread:
    def load() -> None:
        import torch  # noqa: F401

        apply_torch_threads()
        # Compare's cluster matching: an import its first visit paid when Explore drew from stored
        # results. (NMI / ARI need no scikit-learn: core.analysis.agreement.partition_scores.)
        import scipy.optimize  # noqa: F401
        # Not pandas (UMAP needs it; scikit-learn's metrics used to bring it here): a page drawing a
        # figure while this thread is half-way through importing it fails (plotly and Streamlit look it
        # up in sys.modules). Pages import it in their own script: import_pandas_last.

    thread = threading.Thread(target=load, name="torch-loader", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def background_pool() -> ThreadPoolExecutor:
    """One background worker for whole-dataset runs (summaries, the atlas' diagnosis), shared by every session."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-summary",
                              initializer=lower_thread_priority)


@st.cache_resource(show_spinner=False, max_entries=8)
def _summary_job(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float) -> Future:
    """The summary of one model file version on one dataset, computed once in the background (or
    read from the results shipped beside the checkpoint)."""
    from core.diagnose import default_truth_key

    dataset = load_dataset(dataset_name, data_dir)
    stored = stored_results(model_path, device, dataset_name, data_dir, stamp, default_truth_key(dataset))
    if stored is not None:
        return done_future({
            "logits": np.stack([g["logits"] for g in stored["graphs"]]),
            "graph_embeddings": np.stack([g["graph_embedding"] for g in stored["graphs"]]),
            "entropy": stored["entropy"],
            "labels": dataset.labels,
            "source": "stored",
        })
    return background_pool().submit(_compute_summary, model_path, device, dataset_name, data_dir, stamp)


def done_future(value) -> Future:
    """A finished :class:`Future` holding ``value`` (what a background job hands over when there is no work)."""
    future: Future = Future()
    future.set_result(value)
    return future


@st.cache_resource(show_spinner=False, max_entries=8)
def stored_results(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float,
                   truth_name: str | None) -> dict | None:
    """The whole-dataset results shipped beside a checkpoint (``<stem>.dataset-results.npz``, see
    :data:`core.diagnose.STORED_RESULTS_SUFFIX`) when computed from these very files and this
    dataset, with these known groups, on the CPU; else None (then the background worker computes
    them). Read-only: one shared dict."""
    from core.diagnose import STORED_RESULTS_SUFFIX, load_dataset_results, stored_results_key

    path = Path(model_path + STORED_RESULTS_SUFFIX)
    if device != "cpu" or not path.is_file():
        return None
    try:
        key = stored_results_key(model_path, load_dataset(dataset_name, data_dir), truth_name)
    except OSError:
        return None
    return load_dataset_results(path, key)


def start_dataset_summary(selection) -> None:
    """Start computing the selection's dataset summary in the background (returns at once).

    Called at the end of Explore's script, once its figures are sent: by the time the user opens
    the Embeddings or Model card page the summary is usually ready. Not earlier: even at a lower
    priority the worker shares the interpreter (GIL) with the page, so started with the first
    trace it ran beside the page's own network, layout and diagnosis.
    """
    if selection.model_path is not None and getattr(selection, "usable", True):
        _summary_job(selection.model_path, selection.device, selection.dataset_name, selection.data_dir,
                     _file_stamp(Path(selection.model_path + ".safetensors")))


def summary_if_ready(model_path: str, device: str, dataset_name: str, data_dir: str | None,
                     wait_s: float = 0.0) -> dict | None:
    """Whole-dataset results of a model — logits [G, C], graph_embeddings [G, g], entropy rows per
    level, labels [G], source (``"stored"``: the results shipped beside the checkpoint, computed
    where they were written; ``"computed"``: run here) — if ready (waiting at most ``wait_s``
    seconds), else None.

    Computed once per model file version and dataset, in the background worker, which starts it
    when nobody has yet (a failed computation is forgotten, so the next call tries again). No page
    waits for a whole dataset's run (D&D's takes tens of seconds): each shows its other sections at
    once, says this one is coming, and reruns when it is done (:func:`viz_app.widgets.rerun_when_ready`).
    """
    job = _summary_job(model_path, device, dataset_name, data_dir, _file_stamp(Path(model_path + ".safetensors")))
    if not job.done():
        want_background()  # this page shows it when ready: the worker stops yielding to pages
    if not job.done() and wait_s > 0:
        with waiting_on_background():
            wait([job], timeout=wait_s)
    if not job.done():
        return None
    try:
        return job.result()
    except Exception:
        _summary_job.clear()
        raise


def _compute_summary(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float) -> dict:
    """:func:`summary_if_ready`'s work (no Streamlit calls: it runs in a worker thread).

    Traces are made in chunks and reduced at once (only assignments are kept for
    ``analysis.dataset_level_entropy``), so memory stays small on big datasets.
    """
    apply_torch_threads()  # a worker thread: set its torch threads as the script threads do
    from core.model.inference import trace_graphs
    from core.model.trace import GraphTrace, LevelTrace

    model, spec, card = load_model(model_path, device, stamp)
    dataset = load_dataset(dataset_name, data_dir)
    seed = int(card.get("seed", 0) or 0)
    logits, embeddings, slim = [], [], []
    for start in range(0, len(dataset), 64):
        yield_to_pages()
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
        "source": "computed",
    }


def summary_for(selection, wait_s: float = 0.0) -> dict | None:
    """:func:`summary_if_ready` for the selected model and dataset (None while it runs in the
    background); once there, it fills the sidebar's prediction line too."""
    summary = summary_if_ready(selection.model_path, selection.device, selection.dataset_name, selection.data_dir,
                               wait_s=wait_s)
    show = getattr(selection, "show_prediction", None)
    if summary is not None and show is not None and selection.graph_index < len(summary["logits"]):
        logits = np.asarray(summary["logits"][selection.graph_index], dtype=np.float64)
        exp = np.exp(logits - logits.max())
        show(exp / exp.sum())
    return summary


@st.cache_resource(show_spinner=False)
def _projection_pool() -> ThreadPoolExecutor:
    """One worker for UMAP fits, shared by every session (UMAP fits are CPU-bound and seeded single-threaded)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="umap",
                              initializer=lower_thread_priority)


@st.cache_resource(show_spinner=False, max_entries=32)
def _umap_job(digest: str, _points: np.ndarray, seed: int) -> Future:
    """A UMAP fit of ``_points`` queued on :func:`_projection_pool` (``digest`` = the points' content)."""
    warm = warm_umap_in_background()

    def run() -> tuple[np.ndarray, str]:
        warm.join()  # the one-off numba compilation first, then this fit
        return analysis.project_2d(_points, seed=seed)

    return _projection_pool().submit(run)


def projection_now(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str, bool]:
    """A 2-D projection that never waits for UMAP: (coords [n, 2], method, UMAP still pending).

    UMAP's result when it is ready; until then PCA (instant) while UMAP runs in a background thread
    (``pending`` True: the page can poll and rerun). Few points (< 15) or constant data: PCA, as
    ``analysis.project_2d`` decides.
    """
    array = np.ascontiguousarray(points, dtype=np.float32)
    coords, method = analysis.project_2d(array, method="pca")
    if len(array) < analysis.UMAP_MIN_POINTS or float(np.ptp(array, axis=0).max(initial=0.0)) == 0.0:
        return coords, method, False
    digest = hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()
    job = _umap_job(digest, array, seed)
    if not job.done():
        return coords, "pca (UMAP in progress)", True
    try:
        umap_coords, umap_method = job.result()
    except Exception as error:  # a failed UMAP leaves the PCA picture, and says why
        return coords, f"pca (UMAP failed: {type(error).__name__})", False
    return umap_coords, umap_method, False


@st.cache_resource(show_spinner=False)
def warm_umap_in_background() -> threading.Thread:
    """Import umap and run one tiny fit in a daemon thread, once per server process.

    The first UMAP fit in a process costs ~15–20 s of numba compilation. It starts with the first
    UMAP fit asked for (Embeddings draws PCA meanwhile; shipped models bring precomputed
    coordinates), not when the app opens: compiling beside the first page visits made each of them
    slower, for a fit most sessions never ask for.
    """

    def warm() -> None:
        lower_thread_priority()
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


# ---------------------------------------------------------------------------- large graphs, prepared ahead
#: Graphs with more nodes than this are prepared in the background when Explore opens their dataset:
#: on D&D a switch to one of them cost 0.15–1 s of model run alone (Laplacian eigenvectors and a
#: dense N × N input adjacency in the trace), far more than any other part of the page.
PREPARE_MIN_NODES = 1000
#: (model, dataset) pairs whose prepared graphs are kept; older ones are dropped (D&D's ten large graphs
#: hold ~25 MB, ~5 s of work: their traces keep the sparse adjacency, see :func:`_compute_trace`).
PREPARED_PAIRS_KEPT = 2

@dataclass
class PreparedGraph:
    """One large graph made ready ahead of a switch: its trace, layout and network drawing."""

    trace: object
    positions: np.ndarray
    drawing: object


def _compute_trace(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int, stamp: float):
    """The :class:`GraphTrace` of graph ``index`` (no Streamlit calls: also runs in the background worker).

    Above ``core.model.trace.DENSE_TRACE_MAX_NODES`` nodes the trace holds the input adjacency as
    scipy CSR (D&D's largest graph: ~0.2 MB instead of a 130 MB dense copy in the cache).
    """
    from core.model.inference import trace_graphs

    model, spec, card = load_model(model_path, device, stamp)
    graph = load_dataset(dataset_name, data_dir)[index]
    return trace_graphs(model, [graph], spec, [index], seed=int(card.get("seed", 0) or 0))[0]


def _compute_layout(dataset_name: str, data_dir: str | None, index: int, seed: int = LAYOUT_SEED) -> np.ndarray:
    """Seeded positions [N, 2] of graph ``index`` (``core.analysis.layout.graph_layout``)."""
    from core.analysis.layout import graph_layout as layout

    graph = load_dataset(dataset_name, data_dir)[index]
    return layout(graph.sparse_adjacency(), seed=seed)


def _prepare_graph(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int,
                   stamp: float) -> PreparedGraph:
    """Trace, layout and drawing of one graph, as the page would compute them (background worker)."""
    from viz_app.network import input_graph_network

    apply_torch_threads()  # a worker thread: set its torch threads as the script threads do
    yield_to_pages()
    trace = _compute_trace(model_path, device, dataset_name, data_dir, index, stamp)
    yield_to_pages()  # between the steps too: a large graph's trace, layout and drawing take ~1 s each
    positions = _compute_layout(dataset_name, data_dir, index)
    yield_to_pages()
    graph = load_dataset(dataset_name, data_dir)[index]
    return PreparedGraph(trace, positions, input_graph_network(graph, trace, positions, seed=LAYOUT_SEED))


@st.cache_resource(show_spinner=False)
def _prepared_jobs() -> dict:
    """(model_path, device, dataset_name, data_dir, stamp) → {graph index: Future of PreparedGraph}, oldest
    pair first; shared by every session (guarded by :func:`_prepared_lock`)."""
    return {}


@st.cache_resource(show_spinner=False)
def _prepared_lock() -> threading.Lock:
    return threading.Lock()


def _prepared_job(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int,
                  stamp: float) -> Future | None:
    with _prepared_lock():
        return _prepared_jobs().get((model_path, device, dataset_name, data_dir, stamp), {}).get(index)


def _prepared_result(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int,
                     stamp: float) -> PreparedGraph | None:
    """The prepared graph when one was queued for exactly this model file version and graph; None when
    none was, or it failed (the caller then computes, and shows any error itself).

    A job already running is waited for (it is part-way through, and a second run beside it would
    compete with it for the CPU; on a machine loaded by other programs the lower-priority worker can
    then take longer than the page's thread would have); one still queued behind other work is
    cancelled and the caller computes at once.
    """
    job = _prepared_job(model_path, device, dataset_name, data_dir, index, stamp)
    if job is None or job.cancel():
        return None
    try:
        with waiting_on_background():
            return job.result()
    except Exception:  # noqa: BLE001 (the caller computes the same graph and shows the error itself)
        return None


def _prepared_layout(dataset_name: str, data_dir: str | None, index: int) -> np.ndarray | None:
    """A finished prepared layout of graph ``index`` under any model (layouts do not depend on the model)."""
    with _prepared_lock():
        jobs = [group[index] for key, group in _prepared_jobs().items()
                if key[2] == dataset_name and key[3] == data_dir and index in group]
    for job in jobs:
        if job.done() and not job.cancelled() and job.exception() is None:
            return job.result().positions
    return None


def start_preparing_large_graphs(selection, min_nodes: int = PREPARE_MIN_NODES) -> list[int]:
    """Queue the selection's graphs with more than ``min_nodes`` nodes, largest first, in the background
    worker: their trace, layout and drawing are then ready before the user switches to them.

    Called by Explore at the end of its script, once its figures are sent, and before
    :func:`start_dataset_summary`: the one :func:`background_pool` worker runs jobs in order (D&D's
    ten large graphs take ~5 s, its summary ~25 s), and one background thread, not two, then
    shares the interpreter with the page. Once per model file version and dataset; returns the
    graph indices queued now ([] when already queued or none is that large). A switch to a graph
    still queued computes it at once (:func:`_prepared_result`).
    """
    if selection.model_path is None or not getattr(selection, "usable", True):
        return []
    stamp = _file_stamp(Path(selection.model_path + ".safetensors"))
    key = (selection.model_path, selection.device, selection.dataset_name, selection.data_dir, stamp)
    with _prepared_lock():
        jobs = _prepared_jobs()
        if key in jobs:
            return []
        sizes = dataset_overview(selection.dataset_name, selection.data_dir)["sizes"]
        large = [int(i) for i in np.argsort(-sizes, kind="stable") if sizes[i] > min_nodes]
        jobs[key] = {i: background_pool().submit(_prepare_graph, *key[:4], i, stamp) for i in large}
        for old in list(jobs)[:-PREPARED_PAIRS_KEPT]:  # forget older pairs: queued jobs cancelled, a running one ends
            for job in jobs.pop(old).values():
                job.cancel()
    return large
