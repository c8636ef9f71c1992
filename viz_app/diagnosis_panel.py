"""The diagnosis panel: what each pooling level learned, as a verdict and its numbers.

Shared by Explore (a dataset graph under a trained model) and Upload (a fitted graph). The
numbers come from :func:`core.diagnose.diagnose_trace` (the same function the CLI
``python -m core.diagnose`` runs), so the app and the command line agree.

Public, stable entry points:

- :func:`show_diagnosis` ``(diagnoses, title)`` — render one verdict badge, its sentence, the
  reasons and the numbers per level. ``diagnoses`` is the list of level dicts returned by
  :func:`core.diagnose.diagnose_trace`.
- :func:`truth_picker` ``(graph, key)`` — a selectbox over the graph's categorical node columns
  (known groups); returns ``(column name, int codes [N])`` or ``(None, None)``.
- :func:`graph_diagnosis` — cached diagnosis of one dataset graph under one model.
- :func:`show_graph_verdicts` ``(selection)`` — that diagnosis' verdicts in one line of badges.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future

import numpy as np
import streamlit as st

from core.analysis.diagnosis import EXPLANATIONS, VERDICTS, diagnose_trace
from core.diagnose import default_truth_key

#: Badge colour per verdict; only ``healthy`` is green, failures are red or orange.
VERDICT_COLORS = {
    "healthy": "green",
    "collapsed": "red",
    "uniform": "red",
    "feature-driven": "orange",
    "fragmented": "orange",
}

#: Hex colours of the verdicts for plotly figures (atlas), in the same spirit as the badges.
VERDICT_HEX = {
    "healthy": "#2ca02c",
    "collapsed": "#d62728",
    "uniform": "#9467bd",
    "feature-driven": "#ff7f0e",
    "fragmented": "#8c564b",
}


def _number(value, digits: int = 2, percent: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:.0%}" if percent else f"{value:.{digits}f}"


def level_numbers(result: dict) -> list[tuple[str, str, str]]:
    """(label, value, help) rows of one level's diagnosis, in the order the panel shows them."""
    rows = [
        ("Clusters used", f"{result['clusters_used']} / {result['num_clusters']}",
         "Clusters that are the most likely cluster of at least one node."),
        ("Largest cluster", _number(result["largest_share"], percent=True),
         "Share of the assignment mass ΣᵢSᵢₖ held by the biggest cluster."),
        ("Effective count", _number(result["effective_clusters"]),
         "exp(entropy of the cluster mass): from the mass alone, blind to uniform rows."),
        ("Normalised entropy", _number(result["entropy_normalised"]),
         "Mean H(Sᵢ) / log C: 0 = every node decided, 1 = every row uniform."),
        ("Modularity", f"{_number(result['modularity'])} vs {_number(result['modularity_louvain'])}",
         "Modularity of the hard clusters vs Louvain's communities on the same graph."),
        ("Ratio to Louvain", _number(result["modularity_ratio"]),
         "Modularity / Louvain's modularity (— when Louvain finds no structure)."),
        ("Conductance", _number(result["conductance"]),
         "Mean share of a cluster's edge volume that leaves it (0 = closed clusters)."),
        ("Connected share", _number(result["connected_share"], percent=True),
         "Nodes lying in the largest connected piece of their own cluster (100 % = clusters are regions)."),
    ]
    if result.get("label_nmi") is not None:
        rows.append(("Label NMI", _number(result["label_nmi"]),
                     "NMI between the clusters and the node labels: high = clusters copy the labels."))
    if result.get("truth_nmi") is not None:
        rows.append(("Truth NMI / ARI", f"{_number(result['truth_nmi'])} / {_number(result['truth_ari'])}",
                     "Agreement with the known groups (through S₀…S_l for deeper levels)."))
    return rows


def verdict_markdown(verdict: str) -> str:
    """A coloured Streamlit badge with the verdict's name (``:red-badge[collapsed]``)."""
    return f":{VERDICT_COLORS.get(verdict, 'gray')}-badge[{verdict}]"


def verdicts_line(diagnoses: list[dict]) -> str:
    """Every level's verdict in one line of badges: ``level 1 :green-badge[healthy] · level 2 …``."""
    return " · ".join(f"level {result.get('level', index) + 1} {verdict_markdown(result['verdict'])}"
                      for index, result in enumerate(diagnoses))


def verdict_runs(verdicts: dict[int, dict]) -> str:
    """Verdicts keyed by epoch (diagnosis dicts), told in runs of epochs: ``fragmented at epochs 0–5,
    then healthy at epochs 10–150``.

    >>> verdict_runs({0: {"verdict": "uniform"}, 5: {"verdict": "healthy"}, 10: {"verdict": "healthy"}})
    'uniform at epoch 0, then healthy at epochs 5–10'
    """
    runs: list[list] = []
    for epoch in sorted(verdicts):
        verdict = verdicts[epoch]["verdict"]
        if runs and runs[-1][0] == verdict:
            runs[-1][2] = epoch
        else:
            runs.append([verdict, epoch, epoch])
    return ", then ".join(f"{verdict} at epoch {first}" if first == last else f"{verdict} at epochs {first}–{last}"
                          for verdict, first, last in runs)


def show_diagnosis(diagnoses: list[dict], title: str | None = "What pooling learned", key: str = "diagnosis") -> None:
    """Render the diagnosis of every pooling level: badge, sentence, reasons, numbers.

    diagnoses: one dict per level from :func:`core.diagnose.diagnose_trace` (or
    :func:`core.diagnose.diagnose_level` dicts with a ``level`` key added). title: heading above
    the panel (None for none). key: prefix for widget keys (unique per page).
    """
    if title:
        st.subheader(title, help="Verdict per pooling level from core.diagnose (thresholds in the README): "
                     + "; ".join(f"{v}: {EXPLANATIONS[v]}" for v in VERDICTS))
    if not diagnoses:
        st.info("This model has no pooling levels, so there is nothing to diagnose.")
        return
    for index, result in enumerate(diagnoses):
        level = result.get("level", index)
        verdict = result["verdict"]
        with st.container(border=True, key=f"{key}_level{level}"):
            st.markdown(f"**Level {level} → {level + 1}** ({result['num_nodes']} → {result['num_clusters']}) "
                        f"{verdict_markdown(verdict)} {result['explanation']}")
            if result.get("reasons"):
                st.caption("Why: " + "; ".join(result["reasons"]) + ".")
            rows = level_numbers(result)
            # One compact line on the default view; the same numbers with their meaning one click away.
            st.markdown(" · ".join(f"{label} **{value}**" for label, value, _ in rows))
            with st.expander("What these numbers mean"):
                for start in range(0, len(rows), 5):
                    for column, (label, value, help_text) in zip(st.columns(5), rows[start:start + 5]):
                        column.metric(label, value, help=help_text)


#: The known-groups column the pickers start on where a graph has it (the synthetic dataset's planted communities).
DEFAULT_TRUTH = "community"


def truth_columns(graph) -> list[str]:
    """The graph's node_data columns that look like groups (2 … N/2 distinct values)."""
    columns = []
    for name, values in (graph.node_data or {}).items():
        distinct = len(set(map(str, values)))
        if 2 <= distinct <= max(2, graph.num_nodes // 2):
            columns.append(name)
    return columns


def truth_picker(graph, key: str, default: str | None = DEFAULT_TRUTH) -> tuple[str | None, np.ndarray | None]:
    """Selectbox "Compare with known groups" over :func:`truth_columns`; returns (name, int codes [N])."""
    columns = truth_columns(graph)
    if not columns:
        return None, None
    options = [None, *columns]
    index = options.index(default) if default in options else 0
    name = st.selectbox("Compare clusters with known groups", options, index=index, key=key,
                        format_func=lambda c: "— none —" if c is None else c,
                        help="A node column holding known groups (the planted communities of the synthetic "
                             "dataset, or an attribute of an uploaded graph): NMI / ARI against the clusters.")
    if name is None:
        return None, None
    _, codes = np.unique(np.asarray([str(v) for v in graph.node_data[name]]), return_inverse=True)
    return name, codes.reshape(-1)


@st.cache_data(show_spinner="Diagnosing the pooling…", max_entries=256)
def graph_diagnosis(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int,
                    stamp: float, truth_name: str | None = None) -> list[dict]:
    """:func:`core.diagnose.diagnose_trace` of one dataset graph (node labels and ``truth_name`` groups)."""
    from viz_app import state

    trace = state.graph_trace(model_path, device, dataset_name, data_dir, index, stamp)
    graph = state.load_dataset(dataset_name, data_dir)[index]
    truth = None
    if truth_name and truth_name in (graph.node_data or {}):
        _, truth = np.unique(np.asarray([str(v) for v in graph.node_data[truth_name]]), return_inverse=True)
    # The graph's own sparse adjacency instead of the trace's dense copy (the same matrix): D&D's
    # largest graph spent 0.16 s turning 5,748² dense cells into CSR.
    sparse = dataclasses.replace(trace, adjacency=graph.sparse_adjacency())
    return diagnose_trace(sparse, graph.node_labels, truth)


def show_graph_verdicts(selection) -> None:
    """One line with the selected graph's verdict at every level, so a view of its clusters never stands
    without what they are (Compare, Embeddings); Explore shows the full diagnosis."""
    # The known groups Explore's diagnosis was asked for (its picker's default unless changed): the same
    # cached result, not a second diagnosis. The verdicts do not depend on them.
    truth = st.session_state.get("explore_truth", DEFAULT_TRUTH)
    diagnoses = graph_diagnosis(selection.model_path, selection.device, selection.dataset_name, selection.data_dir,
                                selection.graph_index, selection.stamp,
                                truth if truth in truth_columns(selection.graph) else None)
    st.markdown(f"This graph's pooling: {verdicts_line(diagnoses)} (Explore says why)")


@st.cache_resource(show_spinner=False, max_entries=8)
def _dataset_diagnosis_job(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float,
                           truth_name: str | None) -> Future:
    """The whole-dataset diagnosis of one model file version, computed once in the background worker
    (or read from the results shipped beside the checkpoint)."""
    from viz_app import cache

    stored = cache.stored_results(model_path, device, dataset_name, data_dir, stamp, truth_name)
    if stored is not None:
        return cache.done_future(stored)
    return cache.background_pool().submit(_compute_dataset_diagnosis, model_path, device, dataset_name, data_dir,
                                          stamp, truth_name)


def _compute_dataset_diagnosis(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float,
                               truth_name: str | None) -> dict:
    """:func:`dataset_diagnosis`'s work (no Streamlit calls: it runs in the worker thread)."""
    from core.diagnose import diagnose_dataset
    from viz_app import cache

    cache.apply_torch_threads()  # a worker thread: set its torch threads as the script threads do
    # No yield_to_pages here: only a page that shows the result (the atlas, the dataset-wide
    # entropy) starts this job, and it is waiting for it.
    model, spec, card = cache.load_model(model_path, device, stamp)
    dataset = cache.load_dataset(dataset_name, data_dir)
    return diagnose_dataset(model, spec, dataset, seed=int(card.get("seed", 0) or 0), truth_key=truth_name)


def _job_result(job: Future) -> dict:
    try:
        return job.result()
    except Exception:
        _dataset_diagnosis_job.clear()  # a failed run is forgotten: the next call tries again
        raise


def dataset_diagnosis(model_path: str, device: str, dataset_name: str, data_dir: str | None, stamp: float,
                      truth_name: str | None = None) -> dict:
    """:func:`core.diagnose.diagnose_dataset` over the whole dataset, once per model file version
    (in the background worker; this waits for it with a spinner). Read-only: one shared dict.

    Feeds the atlas, the dataset's verdict shares and the dataset-wide entropy rows.
    """
    job = _dataset_diagnosis_job(model_path, device, dataset_name, data_dir, stamp, truth_name)
    if job.done():
        return _job_result(job)
    from viz_app import cache

    with st.spinner("Diagnosing every graph of the dataset (once per model and dataset)…"), cache.waiting_on_background():
        return _job_result(job)


#: ``"community"`` on the synthetic dataset, else None: the same default as ``python -m core.diagnose``.
default_truth = default_truth_key


def dataset_diagnosis_for(selection) -> dict:
    """:func:`dataset_diagnosis` of the sidebar's selection (truth: :func:`default_truth`)."""
    return dataset_diagnosis(selection.model_path, selection.device, selection.dataset_name, selection.data_dir,
                             selection.stamp, default_truth(selection.dataset))


def dataset_diagnosis_if_ready(selection) -> dict | None:
    """:func:`dataset_diagnosis_for` when it is computed, else None (it is started in the background)."""
    from viz_app import cache

    job = _dataset_diagnosis_job(selection.model_path, selection.device, selection.dataset_name, selection.data_dir,
                                 selection.stamp, default_truth(selection.dataset))
    if job.done():
        return _job_result(job)
    cache.want_background()  # the atlas polls for it: work queued before it (a summary) stops yielding
    return None


# ---------------------------------------------------------------------------- stability
#: Seeds fitted for the stability view (≥ 5, as the issue asks).
STABILITY_SEEDS = (0, 1, 2, 3, 4)
#: Seed retrainings a shipped model needs beside it before Explore compares its clusters across them (five
#: runs, as many as the structure fits it is set against).
MIN_SEED_SIBLINGS = 4


@st.cache_data(show_spinner="Fitting the graph once per seed…", max_entries=32)
def seed_stability(_graph, graph_key: str, cluster_counts: tuple[int, ...], seeds: tuple[int, ...] = STABILITY_SEEDS,
                   epochs: int = 150) -> dict:
    """Self-supervised fits (``core.fit.fit_graph``) of one graph over ``seeds``, compared at level 0.

    _graph: the :class:`core.data.graphs.Graph` (not hashed; ``graph_key`` names it for the cache).
    Returns :func:`core.analysis.clustering_stability` of the runs' hard clusters plus
    ``verdicts`` (level-0 verdict of each run) and ``seeds``.
    """
    from core import analysis
    from core.train.fit import FitSettings, fit_graph

    traces = [fit_graph(_graph, FitSettings(cluster_counts=list(cluster_counts), seed=int(s), epochs=epochs)).trace
              for s in seeds]
    result = analysis.clustering_stability([t.levels[0].hard_assignment for t in traces])
    result["verdicts"] = [diagnose_trace(t, _graph.node_labels)[0]["verdict"] for t in traces]
    result["seeds"] = list(seeds)
    return result


#: Mean pairwise NMI from which runs "find nearly the same clusters", and under which they "disagree".
STABLE_NMI, UNSTABLE_NMI = 0.9, 0.6


def stability_words(mean_nmi: float, stable_share: float, runs: str = "seed") -> str:
    """What a stability result means, in one sentence (thresholds STABLE_NMI / UNSTABLE_NMI).

    >>> stability_words(0.95, 0.9).startswith("**Stable**")
    True
    """
    if mean_nmi >= STABLE_NMI:
        return (f"**Stable**: every {runs} finds nearly the same clusters (mean NMI {mean_nmi:.2f}, {stable_share:.0%} "
                "of nodes in the same cluster every time): they are a property of this graph, not of one run.")
    if mean_nmi >= UNSTABLE_NMI:
        return (f"**Partly stable**: the {runs}s agree in part (mean NMI {mean_nmi:.2f}); {stable_share:.0%} of nodes "
                "keep their cluster in every run. Read one run's clusters as one of several plausible partitions: "
                "the red nodes below are the ones it could have put elsewhere.")
    return (f"**Unstable**: the {runs}s disagree (mean NMI {mean_nmi:.2f}, {stable_share:.0%} of nodes in the same "
            "cluster every time): these clusters are an accident of one run, not a property of the graph.")


def show_stability_result(result: dict, graph, positions: np.ndarray, key: str, file_stem: str,
                          runs: str = "seed") -> None:
    """Metrics, run verdicts and the per-node agreement drawing of a :func:`core.analysis.clustering_stability`
    result (with ``verdicts`` and ``seeds`` added); ``runs`` names what differs between runs."""
    from viz_app import figures, state

    agreement = result["node_agreement"]
    st.markdown(stability_words(result["mean_nmi"], float((agreement == 1).mean()), runs))
    c1, c2, c3 = st.columns(3)
    c1.metric("Mean pairwise NMI", f"{result['mean_nmi']:.3f}", help=f"Over the {result['pairs']} pairs of runs.")
    c2.metric("Mean pairwise ARI", f"{result['mean_ari']:.3f}", help="1 = identical partitions, ≈ 0 = chance.")
    c3.metric("Nodes stable in every run", f"{(agreement == 1).mean():.0%}",
              help="Nodes whose cluster (after Hungarian matching to the first run) is the same in every run.")
    st.caption("Verdict of each run: " + ", ".join(f"{runs} {s}: {v}" for s, v in zip(result["seeds"],
                                                                                    result["verdicts"])))
    hover = [f"node {i}: same cluster in {agreement[i]:.0%} of runs" for i in range(len(agreement))]
    state.show_figure(figures.graph_figure(positions, graph.edges, values=agreement, hover=hover,
                                           title=f"Per-node agreement across {len(result['seeds'])} {runs}s",
                                           value_label="agreement", colorscale=figures.AGREEMENT_COLORSCALE,
                                           value_range=(1 / len(result["seeds"]), 1.0)),
                      key=f"{key}_figure", file_stem=file_stem, theme=None)
    st.caption("Green = the node lands in the same (matched) cluster in every run; red = it moves between runs. "
               "Clusters of each run are matched to the first run's by the Hungarian algorithm.")


def sibling_seed_models(model_path: str) -> list[str]:
    """Checkpoints ``<folder>/seeds/<name>-seed<k>`` trained like ``model_path`` with other seeds."""
    from pathlib import Path

    stem = Path(model_path)
    folder = stem.parent / "seeds"
    return sorted(str(p.with_suffix("")) for p in folder.glob(f"{stem.name}-seed*.json")
                  if p.with_suffix(".safetensors").is_file())


@st.cache_data(show_spinner="Running every seed's model on this graph…", max_entries=32)
def model_seed_stability(model_path: str, siblings: tuple[str, ...], device: str, dataset_name: str,
                         data_dir: str | None, index: int, stamps: tuple[float, ...]) -> dict:
    """Stability of the level-1 clusters of ``model_path`` and its ``siblings`` on one dataset graph."""
    from core import analysis
    from viz_app import state

    paths = (model_path, *siblings)
    graph = state.load_dataset(dataset_name, data_dir)[index]
    traces = [state.graph_trace(p, device, dataset_name, data_dir, index, stamp) for p, stamp in zip(paths, stamps)]
    result = analysis.clustering_stability([t.levels[0].hard_assignment for t in traces])
    result["verdicts"] = [diagnose_trace(t, graph.node_labels)[0]["verdict"] for t in traces]
    result["seeds"] = [p.rsplit("/", 1)[-1] for p in paths]
    return result


def show_stability(graph, positions: np.ndarray, cluster_counts: tuple[int, ...], graph_key: str, key: str,
                   autostart: bool = False) -> dict | None:
    """Fit ``graph`` with every seed of :data:`STABILITY_SEEDS` and paint per-node agreement on it.

    positions: [N, 2] layout; cluster_counts: clusters per level of the fits; graph_key: a
    string naming the graph for the cache (dataset + index, or an upload's name and hash);
    autostart: fit without waiting for the button. Returns the stability dict, or None before
    the user asks for it.
    """
    flag = f"{key}__run::{graph_key}::{cluster_counts}"
    if not autostart and not st.session_state.get(flag):
        if st.button(f"Fit this graph with {len(STABILITY_SEEDS)} seeds ({' → '.join(map(str, cluster_counts))} "
                     "clusters)", key=f"{key}_start"):
            st.session_state[flag] = True
        else:
            return None
    result = seed_stability(graph, graph_key, tuple(int(c) for c in cluster_counts))
    show_stability_result(result, graph, positions, key=key, file_stem=f"{graph_key}-stability",
                          runs="seed")
    return result


# ---------------------------------------------------------------------------- occlusion
@st.cache_data(show_spinner="Removing one cluster at a time…", max_entries=64)
def graph_occlusion(model_path: str, device: str, dataset_name: str, data_dir: str | None, index: int, stamp: float,
                    level: int) -> dict:
    """:func:`core.model.inference.cluster_occlusion` of one dataset graph at ``level`` (cached)."""
    from core.model.inference import cluster_occlusion
    from viz_app import state

    model, spec, card = state.load_model(model_path, device, stamp)
    graph = state.load_dataset(dataset_name, data_dir)[index]
    return cluster_occlusion(model, graph, spec, level=level, index=index, seed=int(card.get("seed", 0) or 0))


# ---------------------------------------------------------------------------- uploads
@st.cache_data(show_spinner="Diagnosing the pooling…", max_entries=32)
def trace_diagnosis(_trace, _graph, trace_key: str, truth_name: str | None = None) -> list[dict]:
    """:func:`core.diagnose.diagnose_trace` of any trace (an upload's fit), cached by ``trace_key``.

    _trace, _graph: the trace and its graph (not hashed: ``trace_key`` must name both, e.g. the
    upload's digest plus the fit settings); truth_name: a node_data column of known groups.
    """
    truth = None
    if truth_name and truth_name in (_graph.node_data or {}):
        _, truth = np.unique(np.asarray([str(v) for v in _graph.node_data[truth_name]]), return_inverse=True)
    return diagnose_trace(_trace, _graph.node_labels, truth)


def show_trace_diagnosis(trace, graph, trace_key: str, key: str = "upload_diagnosis") -> list[dict]:
    """Truth picker + :func:`show_diagnosis` for a trace that is not a dataset graph's (Upload page)."""
    truth_name, _ = truth_picker(graph, key=f"{key}_truth", default=None)
    diagnoses = trace_diagnosis(trace, graph, trace_key, truth_name)
    show_diagnosis(diagnoses, key=key)
    return diagnoses


def show_entropy_numbers(record) -> dict:
    """Mean entropy, log C, clusters used and effective count of one level as four metrics — no
    verdict of their own (the verdict is :func:`show_diagnosis`'s). Returns
    :func:`core.analysis.assignment_stats`."""
    from core import analysis

    stats = analysis.assignment_stats(record.assignment)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Mean entropy", f"{stats['mean_entropy']:.3f}", help="Mean H(Sᵢ) = −Σₖ Sᵢₖ log Sᵢₖ in nats: 0 = every "
              "node sure of its cluster, log C = every node spread evenly over all clusters.")
    c2.metric("log C bound", f"{stats['max_entropy']:.3f}", help="Entropy of a uniform row over C clusters.")
    c3.metric("Clusters used", f"{stats['clusters_used']} / {record.num_clusters}",
              help="Clusters that are the most likely cluster of at least one node.")
    c4.metric("Effective clusters", f"{stats['effective_clusters']:.2f}",
              help="exp(entropy of the cluster mass ΣᵢSᵢₖ). From the mass alone: uniform rows also score C, "
                   "so read it with the mean entropy — the verdict at the top combines both.")
    return stats
