"""Embeddings: 2-D projections of node embeddings per level and of graph embeddings across the dataset."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core import analysis
from viz_app import diagnosis_panel, figures, predictions_panel, state

selection = state.sidebar()
trace = state.trace_for(selection)
graph = selection.graph
names = graph.names()
class_names = list(selection.dataset.class_names)

st.title("Embeddings")
method_choice = st.radio("Projection", ["auto", "pca"], horizontal=True, key="emb_method",
                         format_func=lambda m: "UMAP (PCA below 15 points)" if m == "auto" else "PCA (instant)",
                         help="UMAP runs in the background (its first fit in a process compiles code for ~20 s): "
                              "PCA is shown at once and replaced by UMAP when it is ready.")
pending: list[np.ndarray] = []  # points whose UMAP is still running


def project(points: np.ndarray) -> tuple[np.ndarray, str]:
    if method_choice == "pca":
        return analysis.project_2d(points, method="pca")
    coords, method, waiting = state.projection_now(points, seed=0)
    if waiting:
        pending.append(points)
    return coords, method


@st.cache_data(show_spinner=False, max_entries=16)
def class_structure_sentence(model_key: tuple, _embeddings: np.ndarray, _labels: np.ndarray) -> str:
    """Whether the graph embeddings themselves (not their 2-D picture) are ordered by class, in words; once per
    model file version and dataset (``model_key``), not on every rerun."""
    result = analysis.neighbour_class_agreement(_embeddings, _labels, k=5)
    if result is None:
        return ""
    gain = result["accuracy"] - result["majority"]
    verdict = ("ordered by class" if gain >= 0.10 else "weakly ordered by class" if gain >= 0.02
               else "not ordered by class beyond the largest one")
    return (f"**Before the projection**, in the model's own {_embeddings.shape[1]}-dimensional graph embeddings, "
            f"the {result['k']} nearest graphs of a graph vote for its true class on **{result['accuracy']:.0%}** of "
            f"graphs, against {result['majority']:.0%} for always naming the largest class: the space is "
            f"**{verdict}**. (Over every graph, training graphs included: a description of this space, not a test "
            "score. A 2-D projection can draw groups that are not there, or hide ones that are.)")


# ---------------------------------------------------------------- graphs across the dataset
st.subheader("Graph embeddings across the dataset", help="Readout vector of every graph. Click (or box-select) a "
             "point to select that graph; the sidebar's graph index is the fallback.")
# The dataset summary (the model run over every graph) comes from the background worker: the page
# never waits for it (D&D's takes tens of seconds). A shipped model's stored coordinates draw the
# true classes at once; predictions, and projections of models without stored ones, follow.
waiting: list = []  # what the page reruns for once it is ready
summary = state.summary_for(selection, wait_s=predictions_panel.SUMMARY_WAIT_S)
if summary is None:
    waiting.append(lambda: state.summary_if_ready(selection.model_path, selection.device, selection.dataset_name,
                                                  selection.data_dir) is not None)
stored = state.stored_projection(selection.model_path)
colour_by = st.radio("Colour by", ["true class", "prediction"], horizontal=True, key="emb_colour")
if stored is not None and method_choice == "auto" and stored["graph_indices"].max(initial=-1) < len(selection.dataset):
    graph_ids, coords, method = stored["graph_indices"], stored["coords"], stored["method"] + ", precomputed"
elif summary is not None:
    graph_ids = np.arange(len(selection.dataset))
    coords, method = project(summary["graph_embeddings"])
else:
    graph_ids = None
if graph_ids is None or (colour_by == "prediction" and summary is None):
    state.pending_note(f"Running the model over the {len(selection.dataset)} graphs of {selection.dataset_name} in "
                       "the background; this chart fills in when it is done.")
else:
    labels = np.asarray(selection.dataset.labels)
    predicted = summary["logits"].argmax(axis=1) if summary is not None else None
    groups = labels[graph_ids] if colour_by == "true class" else predicted[graph_ids]
    model_classes = state.model_class_names(selection.card, selection.dataset)
    group_names = class_names if colour_by == "true class" else model_classes

    def _hover(i: int) -> str:
        text = f"graph {i}: true {class_names[labels[i]]}"
        if predicted is not None:
            text += f", predicted {model_classes[predicted[i]] if predicted[i] < len(model_classes) else predicted[i]}"
        return text

    fig = figures.embedding_scatter(coords, groups, group_names, [_hover(i) for i in graph_ids],
                                    customdata=graph_ids.tolist(), title=f"Graph embeddings ({method}), selected graph ★")
    mask = graph_ids == selection.graph_index
    if mask.any():
        fig.add_scatter(x=coords[mask, 0], y=coords[mask, 1], mode="markers", name="selected",
                        marker=dict(symbol="star", size=18, color="black"), hoverinfo="skip")
    state.show_figure(fig, key="emb_graphs", file_stem=f"{selection.dataset_name}-graph-embeddings",
                      on_select=state.select_graph_on_click("emb_graphs"), selection_mode=("points", "box", "lasso"))
    st.caption(f"Projection method: **{method}** · {len(graph_ids)} graphs · selected graph {selection.graph_index}.")
    if summary is not None:
        st.markdown(class_structure_sentence((selection.model_path, selection.stamp, selection.dataset_name,
                                              selection.data_dir), summary["graph_embeddings"], labels))

# ---------------------------------------------------------------- nodes of the selected graph
st.subheader(f"Node embeddings of graph {selection.graph_index}")
if not trace.levels:
    st.info("This model does not pool; only the input level exists.")
else:
    diagnosis_panel.show_graph_verdicts(selection)
    state.fit_level_widget("emb_level", trace, 0)
    level = st.selectbox("Level", list(range(trace.num_levels)), key="emb_level",
                         format_func=lambda l: "input nodes (level 0)" if l == 0 else f"level-{l} clusters")
    record = trace.levels[level]
    clusters = record.hard_assignment
    coords, method = project(record.node_embeddings)
    row_names = names if level == 0 else [f"c{c}" for c in range(record.num_nodes)]
    hover = [f"{row_names[i]} → c{clusters[i]} (p={record.assignment[i].max():.2f})" for i in range(record.num_nodes)]
    k = record.num_clusters
    fig = figures.embedding_scatter(coords, clusters, [f"c{c}" for c in range(k)], hover, palette="cluster",
                                    title=f"Embeddings Z at level {level}, coloured by level-{level + 1} cluster ({method})")
    state.show_figure(fig, key=f"emb_nodes{level}", file_stem=f"graph{selection.graph_index}-node-embeddings{level}")
    st.caption(f"Projection method: **{method}** · {record.num_nodes} points.")

if pending:
    st.caption("UMAP is being computed in the background; the page switches to it when it is ready.")
    waiting.append(lambda: not any(state.projection_now(points, seed=0)[2] for points in pending))
if waiting:
    state.rerun_when_ready(lambda: all(ready() for ready in waiting))
