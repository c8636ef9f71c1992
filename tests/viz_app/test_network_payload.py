"""viz_app.network: what a drawing sends to the browser — shared settings once, per-node data only."""

from __future__ import annotations

import json
import re

import numpy as np

from core import analysis
from core.data.synthetic import make_sbm_graph
from tests.viz_app.test_figures import make_trace
from viz_app import network


def _data(html: str, name: str) -> list[dict]:
    return json.loads(re.search(rf"{name} = new vis\.DataSet\((\[.*?\])\);", html, flags=re.DOTALL).group(1))


def _options(html: str) -> dict:
    return json.loads(re.search(r"var options = (\{.*?\});\n", html).group(1))


def test_node_and_edge_defaults_are_sent_once_not_per_item():
    positions = np.array([[0.0, 0.0], [0.5, 0.25], [-1.0, 1.0]])
    html = network.network_html(positions, np.array([[0, 1], [1, 2], [2, 2]]), ["a", "b", "c"], show_labels=False)
    nodes, edges = _data(html, "nodes"), _data(html, "edges")
    assert all(set(node) == {"id", "x", "y"} for node in nodes)  # no label, colour, size, shape or physics each
    assert edges == [{"from": 0, "to": 1}, {"from": 1, "to": 2}]  # the self-loop is skipped
    options = _options(html)
    assert options["physics"]["enabled"] is False
    assert options["nodes"]["shape"] == "dot" and options["nodes"]["size"] == 12
    assert options["edges"]["color"] == "#9E9E9E"


def test_positions_are_pixels_rounded_to_a_tenth():
    positions = np.array([[0.123456, -0.654321], [1.0, 1.0]])
    nodes = _data(network.network_html(positions, np.zeros((0, 2)), ["a", "b"]), "nodes")
    scale = network._scale(2)
    assert [(n["x"], n["y"]) for n in nodes] == [(round(0.123456 * scale, 1), round(-0.654321 * scale, 1)),
                                                 (round(scale, 1), round(scale, 1))]


def test_labels_sizes_and_colours_are_kept_when_given():
    html = network.network_html(np.zeros((2, 2)), np.array([[0, 1]]), ["a", "b"], colors=["#ff0000", "#00ff00"],
                                sizes=[3.0, 9.0], show_labels=True)
    nodes = _data(html, "nodes")
    assert [(n["label"], n["color"], n["size"]) for n in nodes] == [("a", "#ff0000", 3.0), ("b", "#00ff00", 9.0)]


def test_tooltips_list_top_clusters_with_ties_to_the_lower_id_like_analysis_top_clusters():
    graph = make_sbm_graph([6, 6], p_in=0.8, p_out=0.1, seed=3)
    trace = make_trace(graph, clusters=(4, 2))
    assignment = trace.levels[0].assignment.copy()
    assignment[0] = [0.25, 0.25, 0.25, 0.25]  # a four-way tie
    assignment[1] = [0.1, 0.45, 0.0, 0.45]
    titles = network._node_tooltips(graph.names(), assignment, trace.levels[0].node_entropy)
    for i, title in enumerate(titles):
        expected = [f"  c{c}: {p:.2f}" for c, p in analysis.top_clusters(assignment, i, top=3)]
        lines = title.split("\n")
        assert lines[0] == f"node {graph.names()[i]}"
        assert lines[2:5] == expected, i
        assert lines[5] == f"entropy H = {trace.levels[0].node_entropy[i]:.3f} nats"
    assert titles[0].split("\n")[2:5] == ["  c0: 0.25", "  c1: 0.25", "  c2: 0.25"]
    assert titles[1].split("\n")[2:4] == ["  c1: 0.45", "  c3: 0.45"]


def test_tooltips_without_pooling_name_the_node_only():
    assert network._node_tooltips(["x", "y"], None, None) == ["node x", "node y"]


def test_the_page_keeps_vis_networks_tooltip_style_but_not_its_unused_button_images():
    html = network.network_html(np.zeros((2, 2)), np.array([[0, 1]]), ["a", "b"], titles=["x", "y"])
    full, lean = network._vis_css()
    assert full not in html and lean in html
    assert "div.vis-tooltip{" in lean and "visibility:hidden" in lean  # hover text still styled and hidden
    assert "div.vis-network div.vis-navigation" not in html and "data:image/png;base64" not in html
    assert len(html) < 560_000  # the inlined vis-network script is ~470 kB of it
