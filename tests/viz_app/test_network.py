"""viz_app.network: the input graph's colour key, coarsened clusters that do not overlap."""

from __future__ import annotations

import re

import numpy as np

from core.analysis.layout import graph_layout
from core.data.synthetic import make_sbm_graph
from tests.viz_app.test_figures import make_trace
from viz_app import network


def test_input_network_has_a_colour_key_matching_the_drawn_clusters():
    graph = make_sbm_graph([10, 12, 8], p_in=0.6, p_out=0.05, seed=1)
    trace = make_trace(graph, clusters=(6, 2))
    drawing = network.input_graph_network(graph, trace, graph_layout(graph.sparse_adjacency()))
    start = drawing.html.index('class="cluster-legend"')
    legend = drawing.html[start:drawing.html.index("</div>", start)]
    # a strip above the drawing, which gives up its height: no node is drawn under the key
    assert start < drawing.html.index('<div id="mynetwork"')
    assert f"height: {network.NETWORK_HEIGHT_PX - network.LEGEND_STRIP_PX}px" in drawing.html
    hard = trace.levels[0].hard_assignment
    keyed = {int(c): int(n) for c, n in re.findall(r"c(\d+) · (\d+) nodes?", legend)}
    assert keyed == {int(c): int(n) for c, n in enumerate(np.bincount(hard)) if n}
    assert sum(keyed.values()) == graph.num_nodes


def test_coarse_layout_separates_the_shown_clusters():
    graph = make_sbm_graph([10, 12, 8], p_in=0.6, p_out=0.05, seed=1)
    trace = make_trace(graph, clusters=(9, 3))
    positions = graph_layout(graph.sparse_adjacency())
    for level in (1, 2):
        coords = network.coarse_layout(trace, level, positions)
        gaps = np.linalg.norm(coords[:, None] - coords[None], axis=-1) + np.eye(len(coords)) * 9
        assert gaps.min() > 0.3  # markers and labels (footprint radius ≥ 0.2 for ≤ 20 clusters) apart
