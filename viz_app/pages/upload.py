"""Bring your own graph: read a file, get DiffPool clusters (fit or pretrained), compare, export.

Where the file comes from (the most recently changed source wins):
the file uploader, an example of ``viz_app/examples``, or ``st.session_state["upload_bytes"]`` +
``["upload_name"]`` (set by tests or other pages; AppTest cannot drive ``st.file_uploader``).
A file that cannot be read shows its :class:`core.io.GraphInputError` message and leaves the last
good graph (kept in ``st.session_state["upload_loaded"]``) on screen.

Caching: parsing, layouts, classical clusterings, pretrained traces and network drawings are
``st.cache_data`` keyed by the file's SHA-256 (+ graph index, settings). Self-supervised fits run
only on request (they drive a progress bar, which a cached function would replay) and are kept
per session, keyed the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core import analysis
from core.analysis.overlap import is_list_valued, score_overlapping
from core.data.graphs import GraphDataset
from core.data.io.base import GraphInputError
from core.data.io.export import assignments_to_csv, graph_to_graphml
from core.data.io.reader import read_graph
from viz_app import figures, state, trace_tabs
from viz_app import upload_logic as logic

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
NO_EXAMPLE = "—"
FIT_METHOD, PRETRAINED_METHOD = "Fit DiffPool to this graph", "Apply a pretrained model"
#: Fits run automatically with the default settings up to this many nodes (a few seconds at most).
AUTO_FIT_MAX_NODES = 5000


# ---------------------------------------------------------------------------- cached work
@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def parse_file(digest: str, name: str, _data: bytes):
    """``core.io.read_graph`` of the bytes (a Graph, or a GraphDataset for a TU zip)."""
    return read_graph(_data, filename=name)


@st.cache_data(show_spinner="Computing layout…", max_entries=16)
def graph_layout(graph_key: str, _graph) -> np.ndarray:
    return analysis.layout_positions(_graph.sparse_adjacency(), seed=state.LAYOUT_SEED)


#: Louvain (igraph's multilevel) took a minute on 100k nodes / 1M edges without planted groups (a busy
#: machine): beyond this many nodes only Leiden runs, and the default cluster count is about √(N/2).
LOUVAIN_MAX_NODES = 20_000


@st.cache_data(show_spinner=False, max_entries=16)
def community_count(graph_key: str, _graph) -> int | None:
    """Louvain's community count (the default number of level-1 clusters); None beyond LOUVAIN_MAX_NODES."""
    return logic.community_count(_graph.sparse_adjacency()) if _graph.num_nodes <= LOUVAIN_MAX_NODES else None


@st.cache_data(show_spinner="Leiden, Louvain and spectral clustering…", max_entries=16)
def classical_clusters(graph_key: str, k: int, _graph) -> dict[str, np.ndarray]:
    clusterings = {"Leiden": analysis.leiden_clusters(_graph, seed=0)}
    if _graph.num_nodes <= LOUVAIN_MAX_NODES:
        clusterings["Louvain"] = analysis.louvain_clusters(_graph, seed=0)
    clusterings[f"Spectral (k={k})"] = analysis.spectral_clusters(_graph, k, seed=0)
    return clusterings


@st.cache_data(show_spinner="Running the model…", max_entries=16)
def pretrained_trace(model_path: str, stamp: float, graph_key: str, _graph):
    from core.model.inference import trace_graphs

    model, spec, card = state.load_model(model_path, "cpu", stamp)
    return trace_graphs(model, [_graph], spec, [0], seed=int(card.get("seed", 0) or 0))[0]


@st.cache_data(show_spinner="Drawing the network…", max_entries=16)
def input_drawing(graph_key: str, method_key: str, _graph, _trace, _positions):
    """The input-graph network drawing for one graph and one clustering."""
    from viz_app.network import input_graph_network

    return input_graph_network(_graph, _trace, _positions, max_nodes=logic.MAX_DRAWN_NODES, seed=state.LAYOUT_SEED)


def fit_trace(graph, graph_key: str, counts: list[int], epochs: int, seed: int) -> dict:
    """Self-supervised fit (core.fit) with a progress bar; kept in the session per graph + settings.

    Runs under whatever torch thread count the app set at start (one, like the CLI); nothing
    here changes it.
    """
    from core.train.fit import FitSettings, fit_graph

    fits = st.session_state.setdefault("_upload_fits", {})
    key = (graph_key, tuple(counts), int(epochs), int(seed))
    if key not in fits:
        bar = st.progress(0.0, text="Fitting DiffPool…")

        def on_epoch(step: int, total: int, metrics: dict) -> None:
            if step == total or step % max(1, total // 50) == 0:
                bar.progress(min(step / total, 1.0), text=f"level {metrics['level'] + 1} · step {metrics['epoch']} · "
                                                          f"modularity {metrics['modularity']:.3f}")

        result = fit_graph(graph, FitSettings(cluster_counts=list(counts), epochs=int(epochs), seed=int(seed)),
                           on_epoch=on_epoch)
        bar.empty()
        while len(fits) >= 6:  # keep the session small
            fits.pop(next(iter(fits)))
        fits[key] = {"trace": result.trace, "history": result.history, "seconds": result.seconds,
                     "diagnoses": result.diagnoses, "counts": list(counts), "epochs": int(epochs), "seed": int(seed)}
    return fits[key]


def _show_fit_verdict(fit: dict) -> None:
    """The fit's banner: green only when every level is diagnosed healthy; otherwise each level's
    verdict in words with what to try. (The one place the page shows a fit's diagnosis.)"""
    counts = fit["counts"]
    summary = logic.fit_verdict(fit["diagnoses"], counts)
    what = (f"({' → '.join(str(c) for c in counts)} clusters, seed {fit['seed']}) in {fit['seconds']:.1f} s over "
            f"{len(fit['history'])} training steps")
    if summary["healthy"]:
        st.success(f"Fitted DiffPool {what}. Every level is healthy: " + " ".join(
            f"level {d['level'] + 1}: {d['clusters_used']} clusters used, modularity {d['modularity']:.2f}."
            for d in fit["diagnoses"]))
    else:
        st.warning(f"DiffPool ran {what}, but not every level is healthy:\n\n" + "\n\n".join(f"- {line}" for line in summary["lines"]))


# ---------------------------------------------------------------------------- which file
def _current_sources(uploaded, example: str) -> dict[str, tuple[bytes, str] | None]:
    sources: dict[str, tuple[bytes, str] | None] = {"file": None, "session": None, "example": None}
    if uploaded is not None:
        sources["file"] = (uploaded.getvalue(), uploaded.name)
    if st.session_state.get("upload_bytes") is not None:
        sources["session"] = (bytes(st.session_state["upload_bytes"]), str(st.session_state.get("upload_name") or "upload.txt"))
    if example and example != NO_EXAMPLE and (EXAMPLES_DIR / example).is_file():
        sources["example"] = ((EXAMPLES_DIR / example).read_bytes(), example)
    return sources


def _newest_source(sources: dict) -> tuple[bytes, str] | None:
    """The source whose content changed since the last run (file > session > example on ties)."""
    seen = st.session_state.setdefault("_upload_seen", {})
    newest = None
    for kind in ("file", "session", "example"):
        value = sources[kind]
        signature = None if value is None else (logic.file_digest(value[0]), value[1])
        if signature is not None and seen.get(kind) != signature and newest is None:
            newest = value
        seen[kind] = signature
    return newest


def _load(data: bytes, name: str) -> None:
    digest = logic.file_digest(data)
    try:
        parsed = parse_file(digest, name, data)
    except GraphInputError as error:
        st.session_state["upload_error"] = str(error)
        return
    st.session_state["upload_error"] = None
    st.session_state["upload_loaded"] = {"digest": digest, "name": name, "object": parsed}
    st.session_state["upload_graph_index"] = 0


# ---------------------------------------------------------------------------- page
state.keep_selection()  # this page has no sidebar: keep the explorer's selection alive for when the user returns
st.title("Bring your own graph")
st.caption("Upload a graph, let DiffPool pool it (fit to this graph, or a pretrained structure-only model), see the "
           "clusters as in the explorer, compare them with Louvain and spectral clustering, and export the results.")

left, right = st.columns([3, 2])
uploaded = left.file_uploader(
    "Graph file", type=list(logic.UPLOAD_EXTENSIONS), key="upload_file",
    help="Edge list (.txt/.edgelist/.tsv/.csv: `source target [weight]`), adjacency matrix (.csv/.npy), GraphML, GML, "
         "node-link JSON, or a TU dataset .zip; any of them may be gzipped (.gz). Node attributes in GraphML/GML/JSON "
         "are kept and can serve as ground truth.")
examples = logic.example_files(EXAMPLES_DIR)
example = right.selectbox("…or try an example", [NO_EXAMPLE] + examples, key="upload_example",
                          help="Small graphs shipped in viz_app/examples (karate club carries its real 'club' split; "
                               "the planted graph carries its 'block').")

candidate = _newest_source(_current_sources(uploaded, example))
if candidate is not None:
    _load(*candidate)

loaded = st.session_state.get("upload_loaded")
if st.session_state.get("upload_error"):
    st.error(st.session_state["upload_error"])
    if loaded is not None:
        st.caption(f"Still showing the last graph that was read successfully: **{loaded['name']}**.")
if loaded is None:
    st.info("Upload a graph file or pick an example to start.")
    st.stop()

obj = loaded["object"]
if isinstance(obj, GraphDataset):
    st.info(f"{loaded['name']} is a TU dataset with {len(obj)} graphs: pick one.")
    index = int(st.number_input("Graph of the dataset", 0, len(obj) - 1, key="upload_graph_index",
                                help=f"0 … {len(obj) - 1}"))
    graph = obj[index]
else:
    index = 0
    graph = obj
graph_key = f"{loaded['digest']}:{index}"
names = graph.names()

st.subheader(f"{graph.name or loaded['name']}")
st.caption(f"{graph.num_nodes:,} nodes · {graph.num_edges:,} edges"
           + (f" · node attributes: {', '.join(graph.node_data)}" if graph.node_data else ""))
for note in graph.notes:
    st.info(note)
if graph.num_nodes < 2:
    st.warning("Pooling needs at least 2 nodes.")
    st.stop()
if graph.num_edges == 0:
    st.warning("This graph has no edges. Pooling groups nodes by the edges between them, so any clusters "
               "found here are arbitrary; the diagnosis calls them fragmented.")
note = logic.drawing_note(graph.num_nodes)
if note:
    st.info(note)

# -- clusters
method = st.radio("Clusters from", [FIT_METHOD, PRETRAINED_METHOD], horizontal=True, key="upload_method",
                  help="Fit: DiffPool's assignment network trained on this graph alone (spectral warm start, "
                       "modularity objective with a collapse penalty), no labels needed. Pretrained: a model trained on a dataset, applied "
                       "as is; only models whose features need structure alone (degree / constant) can run here.")
trace = None
method_key = ""
if method == FIT_METHOD:
    requested = st.session_state.setdefault("_upload_requested", {})
    communities = community_count(graph_key, graph)
    defaults = logic.default_cluster_counts(graph.num_nodes, 2, communities)
    if graph_key not in requested and graph.num_nodes <= AUTO_FIT_MAX_NODES:
        requested[graph_key] = (defaults[:1], 150, 0)
    most_clusters = max(2, min(512, graph.num_nodes))
    shown = requested.get(graph_key)
    if st.session_state.get("_upload_form_synced") != (graph_key, shown):
        # The form always shows the settings of the fit on screen (also after switching graphs);
        # widget values live in session_state only, so no widget gets a second default.
        shown_counts, shown_epochs, shown_seed = shown or ([min(defaults[0], most_clusters)], 150, 0)
        st.session_state["upload_levels"] = len(shown_counts)
        st.session_state["upload_k1"] = min(shown_counts[0], most_clusters)
        st.session_state["upload_k2"] = shown_counts[1] if len(shown_counts) > 1 else min(defaults[1], 256)
        st.session_state["upload_epochs"], st.session_state["upload_seed"] = shown_epochs, shown_seed
        st.session_state["_upload_form_synced"] = (graph_key, shown)
    with st.form("upload_fit_form"):
        c1, c2, c3, c4, c5 = st.columns(5)
        levels = c1.selectbox("Pooling levels", [1, 2], key="upload_levels")
        first = c2.number_input("Clusters, level 1", 2, most_clusters, key="upload_k1",
                                help="Number of clusters C of the first pooling level (columns of S). Default: "
                                     + (f"the {communities} communities Louvain finds in this graph"
                                        if communities else "about √(nodes / 2)") + " (2 … 64).")
        second = c3.number_input("Clusters, level 2", 2, 256, key="upload_k2",
                                 help="Used with 2 levels; must be smaller than level 1 (level 2 merges "
                                      "level-1 clusters).")
        epochs = c4.number_input("Epochs", 1, 2000, key="upload_epochs",
                                 help="At most this many training steps per level (it stops earlier once the "
                                      "modularity stops improving).")
        seed = c5.number_input("Seed", 0, 10_000, key="upload_seed")
        submitted = st.form_submit_button("Fit DiffPool", type="primary")
    if submitted:
        requested[graph_key] = ([int(first)] + ([int(second)] if levels == 2 else []), int(epochs), int(seed))
        st.session_state["_upload_form_synced"] = (graph_key, requested[graph_key])
    if graph_key in requested:
        counts, epochs, seed = requested[graph_key]
        try:
            fit = fit_trace(graph, graph_key, counts, epochs, seed)
        except ValueError as error:
            st.error(f"Cannot fit: {error}")
        else:
            trace = fit["trace"]
            method_key = f"fit:{counts}:{epochs}:{seed}"
            _show_fit_verdict(fit)
    else:
        st.info(f"This graph has {graph.num_nodes:,} nodes: press **Fit DiffPool** to start (it may take a while).")
else:
    checkpoints = state.list_checkpoints()
    from core.model.checkpoint import CheckpointError, read_card

    cards = []
    for entry in checkpoints:
        try:
            cards.append(read_card(entry["path"]))
        except CheckpointError:
            cards.append({})
    usable, refused = logic.split_compatible(checkpoints, cards)
    if not usable:
        st.info("No compatible model found. A model can run on an uploaded graph only if its node features need "
                "structure alone (feature kind 'degree' or 'constant') and it pools. "
                + (f"Found {len(refused)} other model(s): " + "; ".join(f"{e['name']}: {e['reason']}" for e in refused)
                   if refused else f"No models in pretrained/ or {state.user_models_dir()}.")
                + " Train one on the Train page (e.g. on synthetic-hierarchy, which uses degree features), or fit "
                  "DiffPool to this graph instead.")
    elif graph.num_nodes > logic.MAX_DENSE_NODES:
        st.warning(f"Pretrained models run on a dense {graph.num_nodes:,}×{graph.num_nodes:,} adjacency; graphs above "
                   f"{logic.MAX_DENSE_NODES:,} nodes are refused here. Use **{FIT_METHOD}** (sparse first level).")
    else:
        by_path = {e["path"]: e for e in usable}
        model_path = st.selectbox("Model", list(by_path), key="upload_model",
                                  format_func=lambda p: state.checkpoint_label(by_path[p]) + f" ({by_path[p]['reason']})")
        trace = pretrained_trace(model_path, state.stamp_of(model_path), graph_key, graph)
        method_key = f"model:{model_path}:{state.stamp_of(model_path)}"
        st.caption(f"Model trained on **{by_path[model_path]['dataset']}**: its clusters reflect what it learned there.")

if trace is None or not trace.levels:
    if trace is not None:
        st.warning("This model has no pooling levels: there are no clusters to show.")
    st.stop()

level1 = trace.levels[0]
hard = level1.hard_assignment
positions = graph_layout(graph_key, graph)

# What pooling learned, first, on the default view (shared with Explore), and stability over seeds.
from viz_app import diagnosis_panel  # noqa: E402

diagnosis_panel.show_trace_diagnosis(trace, graph, f"{graph_key}:{method_key}")
if method == FIT_METHOD:
    with st.expander(f"Stability: the same fit with {len(diagnosis_panel.STABILITY_SEEDS)} seeds"):
        diagnosis_panel.show_stability(graph, positions, tuple(level.num_clusters for level in trace.levels),
                                       graph_key, key="upload_stability")
stem = Path(graph.name or loaded["name"]).stem or "graph"

# The tabs Upload shares with Explore (viz_app.trace_tabs), then its own; only the open one runs,
# so a big upload never waits for Louvain unless asked.
k = level1.num_clusters


def flows_tab() -> None:
    """Soft mass flowing from the input nodes through every level (Sankey)."""
    flows = analysis.sankey_flows(trace.levels, max_input_nodes=60, node_names=names)
    if graph.num_nodes > 60:
        st.caption("Input nodes: 60 representatives (round-robin over clusters); the rest are merged into "
                   "'other nodes'. Mass is conserved.")
    state.show_figure(figures.sankey_figure(flows), key="upload_sankey", file_stem=f"{stem}-sankey")


def compare_tab() -> None:
    """DiffPool's level 1 beside Leiden, Louvain and spectral clustering (computed only when open)."""
    classical = classical_clusters(graph_key, min(k, graph.num_nodes), graph)
    clusterings = {"DiffPool (level 1)": hard, **classical}
    st.caption(f"Leiden (leidenalg on igraph) and Louvain (igraph's multilevel; up to {LOUVAIN_MAX_NODES:,} nodes) optimise "
               f"modularity and choose their own number of clusters; spectral clustering "
               f"with the same number of clusters as DiffPool's level 1 (k = {k}). DiffPool uses each node's most "
               "likely cluster.")
    candidates = logic.ground_truth_candidates(graph.node_data, graph.num_nodes)
    truth_name = st.selectbox("Ground-truth node attribute", ["(none)"] + candidates, key="upload_truth",
                              help="A node attribute from the file (e.g. the karate club's 'club') to score every "
                                   "clustering against with NMI and ARI.")
    truth_values = None if truth_name == "(none)" else graph.node_data[truth_name]
    overlapping = truth_values is not None and is_list_valued(truth_values)
    truth = None if truth_values is None else logic.truth_labels(truth_values)
    report = analysis.clustering_report(graph, clusterings, truth)
    table = pd.DataFrame(logic.comparison_rows(report)).set_index("clustering")
    st.dataframe(table, width="stretch", column_config={c: st.column_config.NumberColumn(format="%.3f")
                                                        for c in table.columns if c != "clusters"})
    st.caption("Modularity: higher = more edges inside clusters than chance. Conductance: mean over clusters of "
               "cut / volume, lower = better separated. NMI (0–1) and ARI (≈0 for chance, 1 identical): agreement "
               "between two partitions.")
    if truth is not None:
        versus = [r for r in report["agreement"] if r["b"] == "ground truth"]
        cols = st.columns(len(versus))
        for col, row in zip(cols, versus):
            col.metric(f"{row['a']} vs {truth_name}", f"NMI {row['nmi']:.2f}", f"ARI {row['ari']:.2f}", delta_color="off")
        if overlapping:
            st.markdown(f"**{truth_name}** lists several groups for some nodes (overlapping communities). The "
                        "table and the scores above use each node's *first* listed group; the overlapping NMI "
                        "below compares each clustering with the whole cover (Lancichinetti–Fortunato–Kertész "
                        "with McDaid's max normalisation: 1 = the same groups, 0 = unrelated).")
            cols = st.columns(len(clusterings))
            for col, (name, labels) in zip(cols, clusterings.items()):
                scores = score_overlapping(truth_values, labels)
                col.metric(f"{name}: overlapping NMI", f"{scores['overlapping_nmi']:.2f}",
                           f"{scores['nodes_in_several_groups']} nodes in several groups", delta_color="off")


def export_tab() -> None:
    """Downloads: assignments (CSV), the graph with cluster attributes (GraphML), the network (HTML)."""
    classical = classical_clusters(graph_key, min(k, graph.num_nodes), graph)
    drawn = input_drawing(graph_key, method_key, graph, trace, positions)
    st.download_button("⬇ assignments, level 1 (CSV: soft + hard)", data=assignments_to_csv(names, level1.assignment),
                       file_name=f"{stem}-diffpool-assignments.csv", mime="text/csv", key="upload_dl_csv",
                       on_click="ignore", help="node, hard_cluster, confidence, p_0 … p_{C-1}")
    hard_columns = {"diffpool_level1": hard}
    if trace.num_levels > 1:
        hard_columns["diffpool_level2"] = analysis.composed_assignment(trace.levels).argmax(axis=1)
    hard_columns["leiden"] = classical["Leiden"]
    if "Louvain" in classical:
        hard_columns["louvain"] = classical["Louvain"]
    hard_columns["spectral"] = classical[f"Spectral (k={min(k, graph.num_nodes)})"]
    columns = logic.export_cluster_columns(hard_columns, list(graph.node_data))
    st.download_button("⬇ GraphML with cluster attributes", data=lambda: graph_to_graphml(graph, columns),
                       file_name=f"{stem}-clusters.graphml", mime="application/xml", key="upload_dl_graphml",
                       on_click="ignore", help="Node attributes: " + ", ".join(columns) + " (plus the file's own).")
    st.download_button("⬇ network view (standalone HTML)", data=lambda: drawn.html, file_name=f"{stem}-network.html",
                       mime="text/html", key="upload_dl_network", on_click="ignore",
                       help="The input-graph network, vis-network inlined: opens offline in any browser.")


view = trace_tabs.TraceView(graph, trace, positions, file_stem=stem, prefix="upload_", level_key="upload_level",
                            drawing=lambda: input_drawing(graph_key, method_key, graph, trace, positions))
trace_tabs.show_trace_tabs(view, "upload_tab", {"Flows": flows_tab, "Compare with classical clustering": compare_tab,
                                                "Export": export_tab})
