"""Explore (home): the input graph coloured by cluster, each coarsened level, assignments and entropy."""

from __future__ import annotations


import numpy as np
import streamlit as st

from core import analysis
from viz_app import figures, state

selection = state.sidebar()
trace = state.trace_for(selection)
graph = selection.graph
names = graph.names()
title = graph.name or f"graph {selection.graph_index}"

st.title("Explore")
st.caption(f"**{title}** · {graph.num_nodes} nodes · {graph.num_edges} edges · model "
           f"`{selection.card.get('variant', '?')}` ({selection.model_path.rsplit('/', 1)[-1]})")
if not trace.levels:
    st.warning(f"This model has no pooling levels ({selection.card.get('variant', '?')} variant): it makes no "
               "cluster assignments, so there are no clusters to show.")

# Lazy tabs: only the open tab's content is computed and sent, so a graph switch redraws one view.
tab_hierarchy, tab_assign, tab_entropy = st.tabs(["Hierarchy", "Assignments", "Entropy"], key="explore_tab",
                                                 on_change="rerun")

with tab_hierarchy:
    if tab_hierarchy.open:
        drawing = state.input_network(selection.model_path, selection.device, selection.dataset_name,
                                      selection.data_dir, selection.graph_index, selection.stamp)
        left, right = st.columns([3, 2]) if trace.levels else (st.container(), None)
        with left:
            st.subheader("Input graph", help="Colour = most likely level-1 cluster (same colours in every figure). "
                         "Hover a node for its top clusters, probabilities and entropy.")
            state.show_network(drawing, "net_input", height=600, file_stem=f"{title}-input")
        if right is not None:
            with right:
                layout = state.graph_layout(selection.dataset_name, selection.data_dir, selection.graph_index)
                state.show_coarsened_level(trace, layout, key="explore_level", file_stem=title)

with tab_assign:
    if tab_assign.open and trace.levels:
        level_index = state.pooling_level_select(trace, "assign_level")
        record = trace.levels[level_index]
        row_names = names if level_index == 0 else [f"c{c}" for c in range(record.num_nodes)]
        order = analysis.cluster_order(record.assignment)
        state.show_figure(figures.assignment_heatmap(record.assignment, order, row_names, level_index),
                          key=f"heat_s{level_index}", file_stem=f"{title}-S{level_index}")
        st.download_button("⬇ assignments S (CSV)", data=state.assignments_csv(row_names, record.assignment),
                           file_name=f"{title}-S{level_index}.csv".replace(" ", "_").replace("#", ""), mime="text/csv",
                           key=f"csv_s{level_index}", on_click="ignore")
        st.caption("Rows are nodes grouped by their most likely cluster (analysis.cluster_order); a clean staircase "
                   "means confident, distinct clusters.")
        state.show_figure(figures.coarsened_adjacency_heatmap(record.coarsened_adjacency, level_index + 1),
                          key=f"heat_a{level_index}", file_stem=f"{title}-A{level_index + 1}")
        st.caption("A' = SᵀAS: off-diagonal = edge weight between two clusters, diagonal = weight inside a cluster.")

with tab_entropy:
    if tab_entropy.open and trace.levels:
        level_index = state.pooling_level_select(trace, "entropy_level")
        record = trace.levels[level_index]
        stats = state.show_entropy_metrics(record, level_index)
        if level_index == 0:
            positions = state.graph_layout(selection.dataset_name, selection.data_dir, selection.graph_index)
            edges = graph.edges
            hover = [f"{names[i]}: H = {record.node_entropy[i]:.3f}" for i in range(graph.num_nodes)]
        else:
            from viz_app.network import level_positions

            positions = level_positions(trace, state.graph_layout(selection.dataset_name, selection.data_dir,
                                                                  selection.graph_index))[level_index]
            adjacency = trace.levels[level_index - 1].coarsened_adjacency
            rows, cols = np.nonzero(np.triu(adjacency, 1) > 1e-3)
            edges = np.stack([rows, cols], axis=1)
            hover = [f"c{i}: H = {record.node_entropy[i]:.3f}" for i in range(record.num_nodes)]
        left, right = st.columns(2)
        with left:
            state.show_figure(figures.graph_figure(positions, edges, values=record.node_entropy, hover=hover,
                                                   title=f"Node entropy on the graph (level {level_index})",
                                                   value_label="H (nats)", colorscale="Inferno"),
                              key=f"ent_graph{level_index}", file_stem=f"{title}-entropy-graph{level_index}")
            st.caption("Dark = confident assignment (low entropy); bright = undecided node (high entropy).")
        with right:
            state.show_figure(figures.entropy_histogram(record.node_entropy, record.num_clusters, level_index),
                              key=f"ent_hist{level_index}", file_stem=f"{title}-entropy-hist{level_index}")
        left, right = st.columns(2)
        with left:
            state.show_figure(figures.cluster_mass_bar(stats["cluster_mass"], level_index + 1),
                              key=f"mass{level_index}", file_stem=f"{title}-mass{level_index + 1}")
            st.caption("Cluster mass ΣᵢSᵢₖ = soft number of nodes in cluster k; many near-zero bars = unused clusters.")
        with right:
            if st.toggle("Dataset-wide entropy (runs the model on every graph)", key="entropy_dataset",
                         value=False, help="Off by default so the page opens fast; cached once computed."):
                summary = state.summary_for(selection)
                state.show_figure(figures.dataset_entropy_bar(summary["entropy"]), key="ent_dataset",
                                  file_stem=f"{selection.dataset_name}-entropy")
                rows = summary["entropy"]
                st.caption(" · ".join(f"level {r['level']}: mean H {r['mean_entropy']:.3f} nats, "
                                      f"{r['collapsed_fraction']:.0%} of graphs collapsed" for r in rows))

# After the first render: compile UMAP in the background so the Embeddings page opens quickly.
state.warm_umap_in_background()
