"""The trace tabs Explore and Upload share: one graph's trace as Hierarchy, Assignments and Entropy,
followed by each page's own tabs.

Both pages draw a graph they have a :class:`core.model.trace.GraphTrace` of (a dataset graph under
a checkpoint, or an uploaded graph under a fit or a pretrained model); what differs is passed in:
the network drawing (each page caches its own), widget keys, and the page's extra tabs.

Tabs are lazy (``st.tabs(..., on_change="rerun")``): only the open tab's content is computed and
sent, so a graph switch redraws one view and a big upload never waits for a closed tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import streamlit as st

from viz_app import diagnosis_panel, figures, widgets

SHARED_TABS = ("Hierarchy", "Assignments", "Entropy")


@dataclass
class TraceView:
    """What the shared tabs show, and the names of their widgets.

    graph, trace: the graph and its trace; positions: float [N, 2] layout of the input graph.
    drawing: returns the input graph's :class:`viz_app.network.NetworkDrawing` (called only when
    the Hierarchy tab is open). file_stem: start of download file names. prefix: start of the
    widget keys of the Assignments and Entropy tabs (``""`` on Explore, ``"upload_"`` on Upload);
    level_key: the coarsened-level picker's key.
    """

    graph: object
    trace: object
    positions: np.ndarray
    drawing: Callable[[], object]
    file_stem: str
    prefix: str = ""
    level_key: str = "explore_level"

    @property
    def names(self) -> list[str]:
        return self.graph.names()


def show_trace_tabs(view: TraceView, tabs_key: str, extra: dict[str, Callable[[], None]] | None = None,
                    dataset_entropy: Callable[[], None] | None = None,
                    later: list[Callable[[], None]] | None = None) -> None:
    """Hierarchy, Assignments and Entropy of ``view``, then ``extra`` (tab name → function drawing it).

    ``dataset_entropy``: drawn under the cluster mass on the Entropy tab (Explore's dataset-wide
    entropy). A trace without pooling levels shows the input graph only.

    ``later``: where given, the Hierarchy tab keeps the place of its coarsened-graph chart and appends
    the function that draws it, for the page to call after its other content. The browser fetches and
    compiles plotly's code (4.7 MB) the first time a page shows a chart; a chart sent right behind the
    network held the network back until then. Explore passes it on a session's first run only: its
    first figure came ~2 s sooner, the chart beside it up to ~1 s later (``bench/app_latency_ab.py``,
    headless Chromium, 2-core machine); on later runs a chart sent last only made graph switches slower.
    """
    extra = extra or {}
    tabs = st.tabs([*SHARED_TABS, *extra], key=tabs_key, on_change="rerun")
    hierarchy, assignments, entropy = tabs[:3]
    with hierarchy:
        if hierarchy.open:
            _hierarchy(view, later)
    with assignments:
        if assignments.open and view.trace.levels:
            _assignments(view)
    with entropy:
        if entropy.open and view.trace.levels:
            _entropy(view, dataset_entropy)
    for tab, draw in zip(tabs[3:], extra.values()):
        with tab:
            if tab.open:
                draw()


def _hierarchy(view: TraceView, later: list[Callable[[], None]] | None = None) -> None:
    left, right = st.columns([3, 2]) if view.trace.levels else (st.container(), None)
    with left:
        st.subheader("Input graph", help="Colour = most likely level-1 cluster (same colours in every figure). "
                     "Hover a node for its top clusters, probabilities and entropy.")
        widgets.show_network(view.drawing(), f"{view.prefix}net_input", height=600, file_stem=f"{view.file_stem}-input")
    if right is not None:
        with right:
            widgets.show_coarsened_level(view.trace, view.positions, key=view.level_key, file_stem=view.file_stem,
                                         later=later)


def _assignments(view: TraceView) -> None:
    level_index = widgets.pooling_level_select(view.trace, f"{view.prefix}assign_level")
    record = view.trace.levels[level_index]
    row_names = view.names if level_index == 0 else [f"c{c}" for c in range(record.num_nodes)]
    widgets.show_assignment_heatmaps(record, level_index, row_names, key=f"{view.prefix}heat", file_stem=view.file_stem)


def _entropy(view: TraceView, dataset_entropy: Callable[[], None] | None) -> None:
    trace, graph, names, prefix, stem = view.trace, view.graph, view.names, view.prefix, view.file_stem
    level_index = widgets.pooling_level_select(trace, f"{prefix}entropy_level")
    record = trace.levels[level_index]
    stats = diagnosis_panel.show_entropy_numbers(record)
    st.caption(f"Normalised entropy {stats['normalized_entropy']:.2f} (0 = decided, 1 = uniform); the verdict "
               "for this level is at the top of the page.")
    if level_index == 0:
        positions, edges = view.positions, graph.edges
        hover = [f"{names[i]}: H = {record.node_entropy[i]:.3f}" for i in range(graph.num_nodes)]
    else:
        from viz_app.network import level_positions

        positions = level_positions(trace, view.positions)[level_index]
        adjacency = trace.levels[level_index - 1].coarsened_adjacency
        rows, cols = np.nonzero(np.triu(adjacency, 1) > 1e-3)
        edges = np.stack([rows, cols], axis=1)
        hover = [f"c{i}: H = {record.node_entropy[i]:.3f}" for i in range(record.num_nodes)]
    left, right = st.columns(2)
    with left:
        # Fixed range 0 … log C (not the graph's own maximum) and theme=None: Streamlit's plotly
        # theme would swap the scale's darkest colour, drawing the most confident nodes pale.
        widgets.show_figure(figures.graph_figure(positions, edges, values=record.node_entropy, hover=hover,
                                                 title=f"Node entropy on the graph (level {level_index})",
                                                 value_label="H (nats)", colorscale=figures.ENTROPY_COLORSCALE,
                                                 value_range=(0.0, stats["max_entropy"])),
                            key=f"{prefix}ent_graph{level_index}", file_stem=f"{stem}-entropy-graph{level_index}",
                            theme=None)
        st.caption(f"Black = decided node (H = 0); pale yellow = spread evenly over all clusters "
                   f"(H = log C = {stats['max_entropy']:.2f}).")
    with right:
        widgets.show_figure(figures.entropy_histogram(record.node_entropy, record.num_clusters, level_index),
                            key=f"{prefix}ent_hist{level_index}", file_stem=f"{stem}-entropy-hist{level_index}")
    left, right = st.columns(2)
    with left:
        widgets.show_figure(figures.cluster_mass_bar(stats["cluster_mass"], level_index + 1, used=record.hard_assignment),
                            key=f"{prefix}mass{level_index}", file_stem=f"{stem}-mass{level_index + 1}")
        st.caption("Cluster mass ΣᵢSᵢₖ = soft number of nodes in cluster k; many near-zero bars = unused clusters.")
    if dataset_entropy is not None:
        with right:
            dataset_entropy()
