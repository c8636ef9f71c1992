"""How DiffPool works: one pooling level walked through step by step with a real model's tensors.

Every matrix shown comes from the trace of an actual model's forward pass on the shown graph
(``core.model.inference.trace_graphs``: S, its pre-softmax scores, Z, A', X'); the input features and
the link reconstruction error come from public ``core.model.inference`` functions. The page never
reaches into a model's layers.

Which model: ``$DIFFPOOL_TEACHING_MODEL`` or ``st.session_state["teach_model"]`` when set (tests),
else the shipped ``pretrained/synthetic-hierarchy-diffpool``, else another checkpoint that can run
on the graph (``core.model.compat.check_compatibility``), else a self-supervised DiffPool fitted to the
graph with ``core.fit.fit_graph`` (the page says which). Choosing the explorer's graph brings the
explorer's model along when that model was trained on the graph's dataset. Snapshots recorded by ``core.train
--snapshot-every`` are replayed in "Pooling as it is learned" (Play steps the epoch slider);
diffpool / diffpool-nolp / random checkpoints of the same dataset are set side by side.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import analysis
from viz_app import diagnosis_panel, figures, state
from viz_app import figures_teaching as tfig
from viz_app.figures import cluster_color

MAX_TEACHING_NODES = 60
REPLAY_FRAME_SECONDS = 0.4  # pause between two epochs of the replay
FIT_MODEL = "fit"  # model option: fit a self-supervised DiffPool to the graph (core.fit)
FIT_CLUSTERS = 3
TEACHING_MODEL_ENV = "DIFFPOOL_TEACHING_MODEL"
SBM_SOURCE = "Planted communities (24 nodes)"
EXAMPLE_SOURCE, EXPLORER_SOURCE, UPLOAD_SOURCE = "A synthetic-hierarchy graph", "Graph selected in the explorer", "Uploaded graph"
TABS = ["Step by step", "Pooling as it is learned", "Ablations side by side"]
STEPS = ["1 · A and X", "2 · embed: Z", "3 · assign: S", "4 · pool features: X'", "5 · pool edges: A'", "6 · auxiliary losses"]
POOLING_VARIANTS = ("diffpool", "diffpool-nolp", "random", "diffpool-det")


# ---------------------------------------------------------------------------- the graph
@st.cache_data(show_spinner=False)
def planted_graph(seed: int = 0):
    """Three planted communities of 8 nodes (core.data.synthetic.make_teaching_graph), connected."""
    from core.data.synthetic import make_teaching_graph

    return make_teaching_graph(seed)


def choose_graph():
    """(graph, graph_key, dataset_name or None, index or None) from the user's choice of source."""
    sources = [EXAMPLE_SOURCE, SBM_SOURCE]
    dataset_name = st.session_state.get("dataset")
    explorer_graph = None
    if dataset_name and "graph" in st.session_state:
        try:
            candidate = state.load_dataset(dataset_name, st.session_state.get("data_dir") or None)[int(st.session_state["graph"])]
        except Exception:  # the explorer's dataset may not be on disk any more; just do not offer it
            candidate = None
        if candidate is not None and candidate.num_nodes <= MAX_TEACHING_NODES:
            explorer_graph = candidate
            sources.append(EXPLORER_SOURCE)
    uploaded = None
    loaded = st.session_state.get("upload_loaded")
    if loaded is not None:
        obj = loaded["object"]
        candidate = obj[int(st.session_state.get("upload_graph_index", 0))] if hasattr(obj, "graphs") else obj
        if candidate.num_nodes <= MAX_TEACHING_NODES:
            uploaded = candidate
            sources.append(UPLOAD_SOURCE)
    source = st.radio("Graph", sources, horizontal=True, key="teach_source",
                      help=f"Graphs up to {MAX_TEACHING_NODES} nodes, so every matrix fits on screen.")
    if source == EXPLORER_SOURCE:
        index = int(st.session_state["graph"])
        return explorer_graph, f"{dataset_name}:{index}", dataset_name, index
    if source == UPLOAD_SOURCE:
        return uploaded, f"upload:{loaded['digest']}:{st.session_state.get('upload_graph_index', 0)}", None, None
    if source == SBM_SOURCE:
        return planted_graph(0), "planted:0", None, None
    dataset = state.load_dataset(state.SYNTHETIC)
    st.session_state.setdefault("teach_graph_index", 0)  # Explore's first graph, and the first the replay watched
    index = int(st.number_input("Example graph (synthetic-hierarchy index)", 0, len(dataset) - 1, key="teach_graph_index",
                                help="Each graph has planted groups of dense communities; node_data holds the truth."))
    return dataset[index], f"{state.SYNTHETIC}:{index}", state.SYNTHETIC, index


# ---------------------------------------------------------------------------- models
@st.cache_data(show_spinner=False, max_entries=64)
def runnable(model_path: str, stamp: float, graph_key: str, dataset_name: str | None, _graph) -> bool:
    """Whether a checkpoint pools and can run on the graph (:func:`core.model.compat.check_compatibility`)."""
    from core.model.checkpoint import CheckpointError, read_card
    from core.model.compat import check_compatibility

    try:
        card = read_card(model_path)
    except CheckpointError:
        return False
    if card.get("variant") not in POOLING_VARIANTS:
        return False
    return check_compatibility(card, dataset_name=dataset_name, sample_graph=_graph, need_pooling=True).ok


def model_options(graph, graph_key: str, dataset_name: str | None) -> tuple[list[str], dict[str, dict]]:
    entries = {e["path"]: e for e in state.list_checkpoints()}
    forced = os.environ.get(TEACHING_MODEL_ENV)
    if forced and forced not in entries and Path(forced + ".json").is_file():
        entries[forced] = {"path": forced, "name": Path(forced).name, "variant": "?", "dataset": "?", "accuracy": None,
                           "source": "env"}
    paths = [p for p in entries if runnable(p, state.stamp_of(p), graph_key, dataset_name, graph)]
    shipped_default = str(state.shipped_models_dir() / state.DEFAULT_MODEL_STEM)
    paths.sort(key=lambda p: (p != forced, p != shipped_default, entries[p]["variant"] != "diffpool"))
    return paths + [FIT_MODEL], entries


def _softmax_check(scores: np.ndarray, assignment: np.ndarray) -> float:
    """Largest |softmax(scores) − S| over a level's cells: the scores shown are the ones behind S."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return float(np.abs(shifted / shifted.sum(axis=1, keepdims=True) - assignment).max())


@st.cache_data(show_spinner="Running the model…", max_entries=32)
def checkpoint_walkthrough(model_path: str, stamp: float, graph_key: str, _graph) -> dict:
    """Level 0 of a checkpoint's forward pass on the graph: its trace, input features and scores."""
    from core.model.inference import level_scores, node_features, trace_graphs

    model, spec, card = state.load_model(model_path, "cpu", stamp)
    trace = trace_graphs(model, [_graph], spec, [0], seed=int(card.get("seed", 0) or 0))[0]
    features, feature_names = node_features(spec, _graph)
    level = trace.levels[0]
    scores = check = None
    exact = True
    if level.assignment_scores is not None:  # learned assignments; fixed ones (random, det) have no scores
        scores, exact = level_scores(level)
        check = _softmax_check(scores, level.assignment)
    variant = str(card.get("variant") or (card.get("config") or {}).get("variant", "?"))
    accuracy = card.get("accuracy")
    accuracy = accuracy.get("test") if isinstance(accuracy, dict) else accuracy
    return dict(trace=trace, features=features, feature_names=feature_names, scores=scores, softmax_check=check,
                scores_exact=exact, variant=variant, assign_only=int(model.config.assign_only_dim), dataset=card.get("dataset", "?"), accuracy=accuracy,
                snapshots=card.get("snapshots"),
                description=f"checkpoint `{Path(model_path).name}` ({variant}, trained on "
                            f"{card.get('dataset', '?')}; features: {spec.kind})")


@st.cache_data(show_spinner="Fitting a small self-supervised DiffPool to this graph…", max_entries=16)
def fit_walkthrough(graph_key: str, clusters: int, _graph) -> dict:
    """Level 0 of a self-supervised fit (``core.fit.fit_graph``) of the graph: its trace, features and scores."""
    from core.train.fit import FitSettings, fit_graph
    from core.model.inference import level_scores

    settings = FitSettings(cluster_counts=[clusters], epochs=150, seed=0, diagnose=False)
    result = fit_graph(_graph, settings)
    features = result.features[0]  # the level's input X: positional (spectral) features
    level = result.trace.levels[0]
    scores, exact = level_scores(level)
    names = [f"pos{j}" for j in range(features.shape[1])]
    return dict(trace=result.trace, features=features, feature_names=names, scores=scores,
                softmax_check=_softmax_check(scores, level.assignment), scores_exact=exact,
                variant="self-supervised fit", dataset=None, accuracy=None, snapshots=None,
                description=f"a DiffPool level fitted to this graph alone (core.fit, {clusters} clusters, 150 epochs, "
                            f"seed 0, {result.seconds:.1f} s): no pretrained checkpoint can run on it")


@st.cache_data(show_spinner=False, max_entries=32)
def graph_positions(graph_key: str, _graph) -> np.ndarray:
    from core.analysis.layout import graph_layout

    return graph_layout(_graph.sparse_adjacency(), seed=state.LAYOUT_SEED)


@st.cache_data(show_spinner="Drawing the network…", max_entries=64)
def step_network(kind: str, graph_key: str, model_key: str, _graph, _trace, _positions) -> str:
    """HTML of one step's network (``plain`` input graph, ``clusters`` coloured by cluster, or the
    ``coarse`` graph), built only when its step is shown (viz_app.network)."""
    from viz_app.network import coarsened_level_network, input_graph_network, network_html

    if kind == "plain":
        names = _graph.names()
        return network_html(_positions, _graph.edges, names,
                            titles=[f"node {n}\ndegree {d}" for n, d in zip(names, _graph.degrees())], height_px=420)
    if kind == "clusters":
        return input_graph_network(_graph, _trace, _positions, height_px=420).html
    return coarsened_level_network(_trace, 1, _positions, height_px=420).html


@st.cache_data(show_spinner=False, max_entries=64)
def input_pictures(graph_key: str, model_key: str, names: list[str], _trace, _walk) -> list[str]:
    """Step 1's A and X as static SVG pictures (:func:`viz_app.figures_teaching.matrix_svg`), rows = ``names``."""
    return [tfig.matrix_svg(np.asarray(_trace.adjacency), names, names, "A (adjacency)", "Greys", zmin=0, decimals=0),
            tfig.matrix_svg(_walk["features"], names, _walk["feature_names"], "X (node features)", "Purples", decimals=2)]


@st.cache_data(show_spinner=False, max_entries=64)
def graph_picture(graph_key: str, names: list[str], _graph, _positions) -> str:
    """Step 1's graph as a static SVG picture (:func:`viz_app.figures_teaching.graph_svg`)."""
    return tfig.graph_svg(_positions, _graph.edges, names)


@st.cache_data(show_spinner=False, max_entries=8)
def snapshot_tensors(model_path: str, stamp: float) -> dict[str, np.ndarray]:
    from core.model.checkpoint import load_extra_tensors

    return {k: v.numpy() for k, v in load_extra_tensors(model_path, "snapshot/").items()}


@st.cache_data(show_spinner=False, max_entries=32)
def replay_verdicts(model_path: str, stamp: float, graph_key: str, _graph, _tensors, epochs: tuple[int, ...],
                    watched_index: int) -> dict[int, dict]:
    """core.diagnose's verdict of level 1 at every recorded epoch of the watched graph (its snapshots of S)."""
    from core.analysis.diagnosis import diagnose_level

    adjacency = _graph.sparse_adjacency()
    verdicts = {}
    for epoch in epochs:
        assignment = _tensors.get(f"snapshot/e{epoch:04d}/g{watched_index}/l0")
        if assignment is not None and assignment.shape[0] == _graph.num_nodes:
            verdicts[epoch] = diagnose_level(adjacency, assignment)
    return verdicts


@st.cache_data(show_spinner=False, max_entries=64)
def teaching_diagnosis(graph_key: str, model_key: str, _trace) -> list[dict]:
    """core.diagnose's verdict of every pooling level of the shown trace (a teaching graph is small: ms)."""
    from core.analysis.diagnosis import diagnose_trace

    return diagnose_trace(_trace)


def foreign_graph_note(walk: dict, graph_dataset: str | None, model_path: str) -> str | None:
    """Words for a checkpoint shown on a graph from outside the data it was trained on (None otherwise)."""
    trained_on = walk.get("dataset")
    if model_path == FIT_MODEL or not trained_on or trained_on == "?" or graph_dataset == trained_on:
        return None
    try:
        usual = state.pooling_summary(state.model_card(model_path).get("structure"))
    except Exception:  # a card that cannot be read says nothing more
        usual = None
    return (f"This graph is not from {trained_on}, the data this model was trained on: its pooling here shows how "
            "the model carries over to another kind of graph, not what it learned."
            + (f" On its own held-out {trained_on} graphs: {usual}." if usual else ""))


# ---------------------------------------------------------------------------- page
state.keep_selection()  # this page has no sidebar: keep the explorer's selection alive for when the user returns
st.title("How DiffPool works")
with st.expander("Guided tour — what to look at first", expanded=True):
    st.markdown(
        "1. **Step 1**: the input is just a graph (adjacency **A**) and a feature row per node (**X**).\n"
        "2. **Steps 2–3**: two small graph neural networks read A and X. One makes node *embeddings* **Z**; the other "
        "gives every node a score per cluster, and a softmax turns each row into probabilities: the assignment **S**. "
        "Look at S's rows: a confident node has one dark cell.\n"
        "3. **Steps 4–5**: pooling is two matrix products. Each cluster's features are the S-weighted sum of its "
        "nodes' embeddings (X' = SᵀZ), and two clusters are linked as strongly as the edges between their members "
        "(A' = SᵀAS). The coarsened graph is what the next layer sees.\n"
        "4. **Step 6**: two extra losses shape S during training: neighbours should share clusters (A ≈ SSᵀ) and "
        "every node should pick one cluster (low entropy).\n"
        "5. The other tabs: how S changed **while the model learned** (when the checkpoint recorded snapshots) and the same "
        "graph under the **ablations** (no link loss, random assignments).")

graph, graph_key, graph_dataset, graph_index = choose_graph()
if graph.num_nodes < 2:
    st.warning("This graph has fewer than 2 nodes: nothing to pool.")
    st.stop()
paths, entries = model_options(graph, graph_key, graph_dataset)
preferred = os.environ.get(TEACHING_MODEL_ENV)
if st.session_state.get("teach_model") not in paths:
    st.session_state["teach_model"] = preferred if preferred in paths else paths[0]
if st.session_state.get("_teach_graph_key") != graph_key:
    # the explorer's graph comes with the explorer's model, when that model was trained on the graph's dataset
    st.session_state["_teach_graph_key"] = graph_key
    explorer_model = st.session_state.get("model")
    if (st.session_state.get("teach_source") == EXPLORER_SOURCE and explorer_model in paths
            and str(entries[explorer_model].get("dataset", "")).lower() == str(graph_dataset).lower()):
        st.session_state["teach_model"] = explorer_model
model_choice = st.selectbox(
    "Model", paths, key="teach_model",
    format_func=lambda p: "fit a self-supervised DiffPool to this graph (core.fit)" if p == FIT_MODEL
    else state.checkpoint_label(entries[p]),
    help="The shipped default is pretrained/synthetic-hierarchy-diffpool; any checkpoint whose features can be built "
         "for this graph is listed.")
if model_choice == FIT_MODEL:
    walk = fit_walkthrough(graph_key, min(FIT_CLUSTERS, graph.num_nodes), graph)
    model_key = f"fit:{FIT_CLUSTERS}"
else:
    walk = checkpoint_walkthrough(model_choice, state.stamp_of(model_choice), graph_key, graph)
    model_key = f"{model_choice}:{state.stamp_of(model_choice)}"
trace = walk["trace"]
level = trace.levels[0]
n, k = level.assignment.shape
names = graph.names()
hard = level.hard_assignment
row_colors = [cluster_color(c) for c in hard]
cluster_names = [f"c{c}" for c in range(k)]
cluster_colors = [cluster_color(c) for c in range(k)]
st.info(f"Shown: {walk['description']}. Graph **{graph.name or graph_key}**: {n} nodes, {graph.num_edges} edges, "
        f"pooled into C = {k} clusters.")
verdicts = teaching_diagnosis(graph_key, model_key, trace)
st.markdown("**What this pooling is on this graph** (the Explore page's diagnosis):\n" + "\n".join(
    f"- level {d['level'] + 1} {diagnosis_panel.verdict_markdown(d['verdict'])} {d['explanation']}" for d in verdicts))
foreign = foreign_graph_note(walk, graph_dataset, model_choice)
if foreign:
    st.caption(foreign)
if paths == [FIT_MODEL]:
    st.caption(f"No checkpoint in pretrained/ or {state.user_models_dir()} can run on this graph yet; the shipped "
               "default (pretrained/synthetic-hierarchy-diffpool) will be used once it exists.")

positions = graph_positions(graph_key, graph)


def network_of(kind: str) -> str:
    return step_network(kind, graph_key, model_key, graph, trace, positions)


# Lazy tabs (as on Explore): only the open one is computed and sent. The ablations trace three
# more checkpoints and the replay draws three figures; the walkthrough opens first.
tab_steps, tab_replay, tab_ablations = st.tabs(TABS, key="teach_tab", on_change="rerun")

def formula(latex: str, plain: str) -> None:
    """One step's formula: ``plain`` Unicode by default; typeset ``latex`` when the reader asks for it."""
    if st.session_state.get("teach_typeset"):
        st.latex(latex)
    else:
        escaped = "".join("\\" + ch if ch in "\\`*_{}[]<>()#+-.!|$" else ch for ch in plain)
        # runs of spaces separate the formula's parts: em spaces, which HTML does not collapse
        st.markdown("#### " + re.sub(r" {3,}", "\u2003\u2003", escaped))


with tab_steps:
    if tab_steps.open:
        step = st.select_slider("Step", STEPS, key="teach_step")
        st.toggle("Typeset the formulas (LaTeX)", key="teach_typeset",
                  help="Off: formulas in plain Unicode, drawn at once. On: typeset by KaTeX, which the browser "
                       "loads on first use (about a second).")
        number = STEPS.index(step) + 1
        st.subheader(step)
        left, right = st.columns([3, 2])

        if number == 1:
            with left:
                formula(r"A \in \mathbb{R}^{n \times n},\quad A_{ij} = 1 \text{ if } i \sim j"
                        rf"\qquad X \in \mathbb{{R}}^{{n \times F}} \quad (n = {n},\ F = {walk['features'].shape[1]})",
                        f"A ∈ ℝⁿˣⁿ,  Aᵢⱼ = 1 if i ~ j      X ∈ ℝⁿˣᶠ   (n = {n}, F = {walk['features'].shape[1]})")
                st.caption("The input: the adjacency matrix A says who is linked to whom (symmetric, one row and column per "
                           f"node); X gives each node a feature vector. {tfig.describe_features(walk['feature_names'])}")
                # Pictures by default: plotly heatmaps with every cell written in and the pyvis network took the
                # browser over a second to draw, most of this page's first visit. The same figures, interactive,
                # on request.
                interactive = st.toggle("Interactive figures (hover, zoom, drag)", key="teach_interactive",
                                        help="Off: A, X and the graph as pictures (every value written in), drawn at "
                                             "once. On: plotly heatmaps and the network you can hover, zoom and drag "
                                             "(about a second to draw).")
                if interactive:
                    st.plotly_chart(tfig.matrix_heatmap(np.asarray(trace.adjacency), names, names, "A (adjacency)", "Greys",
                                                        zmin=0, decimals=0), key="teach_A")
                    st.plotly_chart(tfig.matrix_heatmap(walk["features"], names, walk["feature_names"], "X (node features)",
                                                        "Purples", decimals=2), key="teach_X")
                else:
                    st.image(input_pictures(graph_key, model_key, names, trace, walk), width="stretch",
                             alt=["A (adjacency): one row and column per node", "X (node features): one row per node"])
                    st.caption("Pictures of A, X and the graph; switch on *Interactive figures* above to hover over "
                               "values, zoom and drag nodes.")
            with right:
                st.markdown("**The graph** (labels = node ids, as in the matrix rows)")
                if interactive:
                    state.embed_html(network_of("plain"), 440)
                else:
                    st.image(graph_picture(graph_key, names, graph, positions), width="stretch",
                             alt="The graph: one dot per node, labelled with its id; a line per edge")
        elif number == 2:
            with left:
                formula(r"Z = \mathrm{GNN}_{\text{embed}}(A, X) \in \mathbb{R}^{n \times d}"
                        r"\qquad h_i' = W_{\text{rel}} \tfrac{1}{|N(i)|}\textstyle\sum_{j \in N(i)} h_j + W_{\text{root}}\, h_i",
                        "Z = GNN_embed(A, X) ∈ ℝⁿˣᵈ      hᵢ′ = W_rel · (1/|N(i)|) Σ_{j∈N(i)} hⱼ + W_root · hᵢ")
                st.caption(f"A graph neural network mixes every node's features with its neighbours' (mean over neighbours, "
                           f"several layers). Each row of Z (d = {level.node_embeddings.shape[1]} numbers) now describes a node "
                           "*and its surroundings*: nodes in the same region get similar rows.")
                if walk.get("assign_only"):
                    st.caption(f"This model's embedding GNN reads X without its last {walk['assign_only']} columns "
                               "(the Laplacian eigenvectors): those steer only the assignment GNN of step 3, so the "
                               "embeddings the classifier reads carry no arbitrary eigenvector signs.")
                st.plotly_chart(tfig.matrix_heatmap(level.node_embeddings, names, [f"z{j}" for j in range(level.node_embeddings.shape[1])],
                                                    "Z (node embeddings; hover for values)", "RdBu", zmid=0, row_colors=None),
                                key="teach_Z")
            with right:
                centred = level.node_embeddings - level.node_embeddings.mean(axis=0)
                component = np.linalg.svd(centred, full_matrices=False)[0][:, 0] if n > 1 else np.zeros(n)
                st.plotly_chart(figures.graph_figure(positions, graph.edges, values=component,
                                                     hover=[f"{m}: {v:.2f}" for m, v in zip(names, component)],
                                                     title="Colour = first principal component of Z", value_label="PC1",
                                                     colorscale="RdBu"), key="teach_Z_graph")
                st.caption("Nearby nodes get similar embeddings: the colour changes smoothly over the graph.")
        elif number == 3:
            with left:
                formula(r"S = \mathrm{softmax}\big(\mathrm{GNN}_{\text{pool}}(A, X)\big) \in [0,1]^{n \times C},"
                        r"\qquad S_{ik} = \frac{e^{s_{ik}}}{\sum_{m} e^{s_{im}}}",
                        "S = softmax(GNN_pool(A, X)) ∈ [0, 1]ⁿˣᶜ      Sᵢₖ = exp(sᵢₖ) / Σₘ exp(sᵢₘ)")
                st.caption(f"A second GNN scores every node for each of the C = {k} clusters (left: raw scores s); the softmax "
                           "turns each row into probabilities that sum to 1 (right: S). S is the *soft assignment*: "
                           "Sᵢₖ = how much of node i goes into cluster k.")
                if walk.get("assign_only"):
                    st.caption(f"Here GNN_pool reads all of X, including the {walk['assign_only']} Laplacian eigenvector "
                               "columns that tell it where each node sits; GNN_embed (step 2) does not.")
                a, b = st.columns(2)
                if walk["scores"] is not None:
                    a.plotly_chart(tfig.matrix_heatmap(walk["scores"], names, cluster_names, "scores s (before softmax)", "RdBu",
                                                       zmid=0, decimals=1, col_colors=cluster_colors), key="teach_scores")
                    if walk["softmax_check"] is not None:
                        a.caption(f"softmax(s) reproduces the model's S to within {walk['softmax_check']:.1e}.")
                    if not walk.get("scores_exact", True):
                        a.caption("This model's trace does not record its raw scores: shown is log S, the scores shifted so "
                                  "each row's log-sum-exp is 0 (softmax ignores such a shift).")
                else:
                    a.info(f"The {walk['variant']} variant has no assignment GNN: S is fixed before training "
                           "(a control that shows what learned pooling adds).")
                b.plotly_chart(tfig.matrix_heatmap(level.assignment, names, cluster_names, "S (soft assignment)", "Blues",
                                                   zmin=0, zmax=1, col_colors=cluster_colors, row_colors=row_colors),
                               key="teach_S")
            with right:
                st.markdown("**Nodes coloured by their most likely cluster** (argmaxₖ Sᵢₖ; hover for the probabilities)")
                state.embed_html(network_of("clusters"), 440)
        elif number == 4:
            with left:
                formula(r"X' = S^{\top} Z \in \mathbb{R}^{C \times d},\qquad X'_k = \textstyle\sum_i S_{ik}\, Z_i",
                        "X′ = Sᵀ Z ∈ ℝᶜˣᵈ      X′ₖ = Σᵢ Sᵢₖ Zᵢ")
                st.caption("Each cluster becomes one new node whose features are the S-weighted sum of its members' embeddings. "
                           "A cluster with little mass gets a small, faint row.")
                st.plotly_chart(tfig.matrix_heatmap(level.pooled_features, cluster_names,
                                                    [f"z{j}" for j in range(level.pooled_features.shape[1])],
                                                    "X' = SᵀZ (pooled features)", "RdBu", zmid=0, row_colors=cluster_colors),
                                key="teach_Xp")
            with right:
                st.plotly_chart(figures.cluster_mass_bar(level.cluster_mass, 1), key="teach_mass")
                st.caption("Cluster mass ΣᵢSᵢₖ", help="The soft number of nodes in cluster k (a column sum of S). Mass near 0 "
                           "= an unused cluster; one cluster holding almost all mass = collapse.")
        elif number == 5:
            with left:
                formula(r"A' = S^{\top} A\, S \in \mathbb{R}^{C \times C},\qquad A'_{km} = \textstyle\sum_{i,j} S_{ik} A_{ij} S_{jm}",
                        "A′ = Sᵀ A S ∈ ℝᶜˣᶜ      A′ₖₘ = Σᵢⱼ Sᵢₖ Aᵢⱼ Sⱼₘ")
                st.caption("Two clusters are linked as strongly as the (soft) edges between their members. The diagonal A'ₖₖ "
                           "counts edges inside cluster k (each counted twice); a good pooling puts most weight there.")
                st.plotly_chart(tfig.matrix_heatmap(level.coarsened_adjacency, cluster_names, cluster_names,
                                                    "A' = SᵀAS (coarsened adjacency)", "Viridis", zmin=0, decimals=2,
                                                    col_colors=cluster_colors, row_colors=cluster_colors), key="teach_Ap")
                inside = float(np.trace(level.coarsened_adjacency)) / max(float(level.coarsened_adjacency.sum()), 1e-9)
                st.metric("Weight inside clusters", f"{inside:.0%}",
                          help="trace(A') / sum(A'): the share of edge weight that stays inside a cluster. Coarsened edge "
                               "weights A'ₖₘ (k ≠ m) are the soft number of edges between clusters k and m.")
            with right:
                st.markdown("**The coarsened graph** (node size = cluster mass, edge width = A'ₖₘ, label = A'ₖₖ)",
                            help="Coarsened edge weights: A'ₖₘ = Σᵢⱼ Sᵢₖ Aᵢⱼ Sⱼₘ. This small weighted graph is the input of "
                                 "the next DiffPool layer.")
                state.embed_html(network_of("coarse"), 440)
        else:
            from core.model.inference import link_reconstruction_error

            product = level.assignment @ level.assignment.T
            adjacency = np.asarray(trace.adjacency, dtype=np.float64)
            frobenius, per_entry = link_reconstruction_error(adjacency, level.assignment)
            with left:
                formula(r"L_{\text{LP}} = \lVert A - S S^{\top} \rVert_F,\qquad L_{\text{E}} = \frac{1}{n} \sum_i H(S_i),"
                        r"\quad H(S_i) = -\sum_k S_{ik} \log S_{ik}",
                        "L_LP = ‖A − S Sᵀ‖_F      L_E = (1/n) Σᵢ H(Sᵢ),   H(Sᵢ) = −Σₖ Sᵢₖ log Sᵢₖ")
                st.caption("(SSᵀ)ᵢⱼ is the probability that nodes i and j land in the same cluster. Link prediction wants "
                           "it close to A (neighbours together); the entropy loss wants every row of S to be one-hot.")
                a, b, c = st.columns(3)
                a.plotly_chart(tfig.matrix_heatmap(adjacency, names, names, "A", "Greys", zmin=0, zmax=1, annotate=False),
                               key="teach_loss_A")
                b.plotly_chart(tfig.matrix_heatmap(product, names, names, "SSᵀ", "Greys", zmin=0, zmax=1, annotate=False),
                               key="teach_loss_SS")
                c.plotly_chart(tfig.matrix_heatmap(adjacency - product, names, names, "A − SSᵀ", "RdBu", zmid=0, zmin=-1,
                                                   zmax=1, annotate=False), key="teach_loss_diff")
                m1, m2, m3 = st.columns(3)
                m1.metric("‖A − SSᵀ‖_F", f"{frobenius:.3f}", help="Frobenius norm: √(sum of squared cells of A − SSᵀ).")
                m2.metric("‖A − SSᵀ‖_F / n²", f"{per_entry:.4f}",
                          help="The same error per entry of A, comparable between graphs of different sizes. (Training "
                               "minimises a scaled variant of it; this figure is computed here from A and S alone.)")
                m3.metric("mean entropy", f"{level.entropy_loss:.3f} nats",
                          help=f"Entropy H(S_i) = −Σₖ Sᵢₖ log Sᵢₖ: 0 when node i is sure of its cluster, log C = "
                               f"{np.log(k):.2f} when it is spread evenly over all C clusters.")
            with right:
                st.plotly_chart(tfig.node_entropy_bar(level.node_entropy, names, hard, k), key="teach_entropy")
                st.caption("Red cells in A − SSᵀ: linked nodes put in different clusters; blue: unlinked nodes put together. "
                           "Tall bars: undecided nodes.")


# ---------------------------------------------------------------------------- learning replay
with tab_replay:
    if tab_replay.open:
        snapshots = walk.get("snapshots")
        if not snapshots or model_choice == FIT_MODEL:
            st.info("This model has no training snapshots. Train with `python -m core.train ... --snapshot-every K "
                    "--watch-graphs 0,1` to record how the assignments of a few graphs change over the epochs.")
        else:
            tensors = snapshot_tensors(model_choice, state.stamp_of(model_choice))
            epochs = [int(e) for e in snapshots.get("epochs", [])]
            watched = [int(g) for g in snapshots.get("graphs", [])]
            watched_position = st.selectbox("Watched graph", list(range(len(watched))), key="teach_watch",
                                            format_func=lambda p: f"{walk['dataset']} #{watched[p]}") if len(watched) > 1 else 0
            watched_index = watched[watched_position]
            try:
                watched_graph = state.load_dataset(walk["dataset"], st.session_state.get("data_dir") or None)[watched_index]
                watched_positions = graph_positions(f"{walk['dataset']}:{watched_index}", watched_graph)
            except Exception as error:  # e.g. a TU dataset that is not on disk: the heatmap and curves still work
                watched_graph, watched_positions = None, None
                st.caption(f"(graph picture unavailable: {error})")
            losses = snapshots.get("losses", {})

            def level_series(kind: str) -> list[float]:
                return [float(np.asarray(per_epoch[watched_position])[0]) for per_epoch in losses.get(kind, [])]

            series = {}
            if losses.get("entropy"):
                series["mean entropy (nats)"] = level_series("entropy")
            if losses.get("link"):
                series["link loss ×100"] = [100 * v for v in level_series("link")]

            verdicts = ({} if watched_graph is None else
                        replay_verdicts(model_choice, state.stamp_of(model_choice), f"{walk['dataset']}:{watched_index}",
                                        watched_graph, tensors, tuple(epochs), watched_index))
            if verdicts:
                st.markdown(f"**Level 1 of this graph over training** (the diagnosis of each recorded S): "
                            f"{diagnosis_panel.verdict_runs(verdicts)}.")

            def draw(at_epoch: int, verdict, picture, heat, curves) -> None:
                assignment = tensors.get(f"snapshot/e{at_epoch:04d}/g{watched_index}/l0")
                if assignment is None:
                    picture.warning(f"No snapshot of graph {watched_index} at epoch {at_epoch}.")
                    return
                if at_epoch in verdicts:
                    diagnosis = verdicts[at_epoch]
                    verdict.markdown(f"Epoch {at_epoch}: {diagnosis_panel.verdict_markdown(diagnosis['verdict'])} "
                                     f"{diagnosis['explanation']}")
                stats = analysis.assignment_stats(assignment)
                if watched_graph is not None:
                    picture.plotly_chart(figures.graph_figure(
                        watched_positions, watched_graph.edges, clusters=assignment.argmax(axis=1),
                        hover=[f"{m}: c{c}" for m, c in zip(watched_graph.names(), assignment.argmax(axis=1))],
                        title=f"Epoch {at_epoch}: most likely cluster ({stats['clusters_used']} used, "
                              f"effective {stats['effective_clusters']:.2f})", height=380), key="teach_replay_graph")
                heat.plotly_chart(figures.assignment_heatmap(assignment, analysis.cluster_order(assignment), level=0),
                                  key="teach_replay_S")
                if series:
                    curves.plotly_chart(tfig.epoch_curves(epochs[:len(next(iter(series.values())))], series, at_epoch,
                                                          title="Auxiliary losses of this graph over training"),
                                        key="teach_replay_curves")

            def start_play() -> None:
                st.session_state["_teach_playing"] = True
                if st.session_state.get("teach_epoch") == epochs[-1]:  # at the end: play from the start
                    st.session_state["teach_epoch"] = epochs[0]

            def stop_play() -> None:
                st.session_state["_teach_playing"] = False

            @st.fragment
            def replay() -> None:
                """Epoch slider, Play / Stop and the replay figures; while playing, this fragment reruns itself
                once per recorded epoch and moves the slider along, so slider and figure always agree."""
                if st.session_state.get("teach_epoch") not in epochs:
                    st.session_state["teach_epoch"] = epochs[-1]
                pending = st.session_state.pop("_teach_next_epoch", None)
                if pending is not None:  # set before the slider exists: a widget's value cannot change after
                    st.session_state["teach_epoch"] = pending
                at_epoch = st.select_slider("Epoch", epochs, key="teach_epoch",
                                            help="Epoch 0 is the untrained model; the checkpoint's own weights are its best "
                                                 "epoch.")
                playing = bool(st.session_state.get("_teach_playing"))
                play_column, stop_column, _ = st.columns([1, 1, 6])
                play_column.button("▶ Play", key="teach_play", on_click=start_play, disabled=playing,
                                   help="Step the slider through every recorded epoch.")
                stop_column.button("⏸ Stop", key="teach_stop", on_click=stop_play, disabled=not playing)
                draw(int(at_epoch), st.empty(), st.empty(), st.empty(), st.empty())
                if not playing:
                    return
                later = [e for e in epochs if e > int(at_epoch)]
                if not later:
                    st.session_state["_teach_playing"] = False
                    return
                time.sleep(REPLAY_FRAME_SECONDS)
                st.session_state["_teach_next_epoch"] = later[0]
                try:
                    st.rerun(scope="fragment")
                except StreamlitAPIException:  # the fragment ran as part of a full-page run
                    st.rerun()

            replay()


# ---------------------------------------------------------------------------- ablations
with tab_ablations:
    if tab_ablations.open:
        if model_choice == FIT_MODEL:
            st.info("Ablations compare checkpoints of one dataset; pick a checkpoint model above to see them.")
        else:
            same = {}
            for path, entry in entries.items():
                if str(entry.get("dataset")) == str(walk["dataset"]) and entry.get("variant") in ("diffpool", "diffpool-nolp", "random") \
                        and runnable(path, state.stamp_of(path), graph_key, graph_dataset, graph):
                    current = same.get(entry["variant"])
                    if current is None or path == model_choice or (entry["source"] == "shipped" and current["source"] != "shipped"):
                        same[entry["variant"]] = entry
            order = [v for v in ("diffpool", "diffpool-nolp", "random") if v in same]
            missing = [v for v in ("diffpool", "diffpool-nolp", "random") if v not in same]
            if missing:
                st.caption(f"No {', '.join(missing)} checkpoint of {walk['dataset']} found; train one with "
                           f"`python -m core.train --dataset {walk['dataset']} --variant ...`.")
            columns = st.columns(max(len(order), 1))
            for column, variant in zip(columns, order):
                entry = same[variant]
                other = checkpoint_walkthrough(entry["path"], state.stamp_of(entry["path"]), graph_key, graph)
                record = other["trace"].levels[0]
                stats = analysis.assignment_stats(record.assignment)
                with column:
                    st.markdown(f"**{variant}** · `{entry['name']}`")
                    st.plotly_chart(figures.graph_figure(positions, graph.edges, clusters=record.hard_assignment,
                                                         hover=[f"{m}: c{c}" for m, c in zip(names, record.hard_assignment)],
                                                         title="most likely cluster", height=320), key=f"teach_ablation_{variant}")
                    m1, m2 = st.columns(2)
                    accuracy = other["accuracy"]
                    m1.metric("test accuracy (card)", f"{accuracy:.1%}" if isinstance(accuracy, (int, float)) else "—")
                    m2.metric("mean entropy", f"{stats['mean_entropy']:.3f}",
                              help="Mean H(S_i) in nats over this graph's nodes; log C = "
                                   f"{stats['max_entropy']:.2f} means fully undecided.")
                    st.caption(f"{stats['clusters_used']} of {record.num_clusters} clusters used · effective clusters "
                               f"{stats['effective_clusters']:.2f}")
                    said = teaching_diagnosis(graph_key, f"{entry['path']}:{state.stamp_of(entry['path'])}",
                                              other["trace"])[0]
                    st.markdown(f"Level 1 {diagnosis_panel.verdict_markdown(said['verdict'])} {said['explanation']}")
            st.caption("diffpool-nolp drops the link-prediction loss; random fixes S at random before training (Mesquita et "
                       "al., 2020). Similar accuracy with very different clusters says the clusters are not what the "
                       "classifier relies on.")
