"""Pure figure and network functions: types, trace counts, shared colours, offline HTML."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from core import analysis
from core.data.graphs import Graph
from core.data.synthetic import make_sbm_graph
from core.model.trace import GraphTrace, LevelTrace
from viz_app import figures, network


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def _level(assignment: np.ndarray, adjacency: np.ndarray, dim: int = 4) -> LevelTrace:
    rng = np.random.default_rng(0)
    coarse = (assignment.T @ adjacency @ assignment).astype(np.float32)
    entropy = -(assignment * np.log(assignment + 1e-15)).sum(axis=1)
    return LevelTrace(assignment, coarse, rng.random((assignment.shape[1], dim), dtype=np.float32),
                      rng.random((assignment.shape[0], dim), dtype=np.float32), entropy.astype(np.float32),
                      0.0, float(entropy.mean()))


def make_trace(graph: Graph, clusters=(4, 2), seed: int = 0) -> GraphTrace:
    """A two-level trace with random soft assignments for ``graph`` (no model needed)."""
    rng = np.random.default_rng(seed)
    adjacency = graph.dense_adjacency()
    levels, a, n = [], adjacency, graph.num_nodes
    for k in clusters:
        s = _softmax(rng.normal(size=(n, k)) * 3)
        levels.append(_level(s, a))
        a, n = levels[-1].coarsened_adjacency, k
    return GraphTrace(levels, adjacency, np.zeros((n, 4), np.float32), np.zeros(8, np.float32),
                      logits=np.array([0.1, 2.0], np.float32), label=1, graph_index=0)


@pytest.fixture(scope="module")
def small_graph() -> Graph:
    return make_sbm_graph([8, 8, 8], 0.6, 0.05, seed=1)


@pytest.fixture(scope="module")
def small_trace(small_graph) -> GraphTrace:
    return make_trace(small_graph)


def _external_urls(html: str) -> list[str]:
    """URLs the page would load: src/href attributes of HTML tags (not strings inside inlined JS)."""
    return re.findall(r"""<(?:script|link|img|iframe)\b[^>]*?(?:src|href)\s*=\s*["']?(https?://[^"'\s>]+)""",
                      html, flags=re.IGNORECASE)


def _nodes(html: str) -> list[dict]:
    """The vis.DataSet of nodes pyvis wrote into the page."""
    return json.loads(re.search(r"nodes = new vis\.DataSet\((\[.*?\])\);", html, flags=re.DOTALL).group(1))


def test_cluster_colours_are_fixed_and_distinct_for_small_ids():
    assert figures.cluster_color(3) == figures.CLUSTER_PALETTE[3]
    assert figures.cluster_color(3 + len(figures.CLUSTER_PALETTE)) == figures.cluster_color(3)
    assert len({figures.cluster_color(k) for k in range(24)}) == 24


def test_assignment_heatmap_rows_follow_cluster_order(small_trace):
    s = small_trace.levels[0].assignment
    order = analysis.cluster_order(s)
    fig = figures.assignment_heatmap(s, order, level=0)
    assert isinstance(fig, go.Figure) and len(fig.data) == 2
    assert isinstance(fig.data[0], go.Heatmap)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), s[order])


def test_same_cluster_id_has_same_colour_in_every_figure(small_graph, small_trace):
    record = small_trace.levels[0]
    k = record.num_clusters
    expected = [figures.cluster_color(c) for c in range(k)]
    heat = figures.assignment_heatmap(record.assignment)
    mass = figures.cluster_mass_bar(record.cluster_mass)
    coarse = figures.coarsened_adjacency_heatmap(record.coarsened_adjacency)
    assert list(heat.data[1].marker.color) == expected
    assert list(mass.data[0].marker.color) == expected
    assert list(coarse.data[1].marker.color) == expected
    sankey = figures.sankey_figure(analysis.sankey_flows(small_trace.levels))
    level_1 = [c for c, l in zip(sankey.data[0].node.color, analysis.sankey_flows(small_trace.levels)["level_of_node"]) if l == 1]
    assert level_1 == expected
    hard = record.hard_assignment
    drawn = figures.graph_figure(np.zeros((small_graph.num_nodes, 2)), small_graph.edges, clusters=hard)
    assert list(drawn.data[-1].marker.color) == [figures.cluster_color(c) for c in hard]
    drawing = network.input_graph_network(small_graph, small_trace, np.zeros((small_graph.num_nodes, 2)))
    assert {n["id"]: n["color"] for n in _nodes(drawing.html)} == {i: figures.cluster_color(c) for i, c in enumerate(hard)}


def test_entropy_histogram_marks_log_c(small_trace):
    fig = figures.entropy_histogram(small_trace.levels[0].node_entropy, 4)
    assert isinstance(fig.data[0], go.Histogram)
    assert any(abs(shape.x0 - np.log(4)) < 1e-9 for shape in fig.layout.shapes)


def test_sankey_graph_curves_and_scatter_figures_have_expected_traces(small_graph, small_trace):
    flows = analysis.sankey_flows(small_trace.levels)
    assert isinstance(figures.sankey_figure(flows).data[0], go.Sankey)
    curves = figures.training_curves([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_acc": 0.4, "test_acc": 0.3}])
    assert [t.name for t in curves.data] == ["loss", "train acc", "val acc", "test acc"]
    scatter = figures.embedding_scatter(np.zeros((4, 2)), np.array([0, 1, 1, 0]), ["x", "y"], list("abcd"),
                                        "t", customdata=[10, 11, 12, 13])
    assert len(scatter.data) == 2 and list(scatter.data[1].customdata) == [11, 12]
    rows = [{"level": 0, "mean_normalized_entropy": 0.2, "mean_entropy": 0.3, "mean_effective_clusters": 3.0,
             "collapsed_fraction": 0.0}]
    assert len(figures.dataset_entropy_bar(rows).data) == 1


def test_figure_html_is_offline(small_trace):
    html = figures.figure_html(figures.cluster_mass_bar(small_trace.levels[0].cluster_mass))
    assert _external_urls(html) == []
    assert "Plotly.newPlot" in html or "plotly" in html.lower()


def test_network_html_is_offline_and_contains_every_node(small_graph, small_trace):
    positions = analysis.layout_positions(small_graph.sparse_adjacency(), seed=0)
    drawing = network.input_graph_network(small_graph, small_trace, positions)
    assert _external_urls(drawing.html) == []
    assert "vis-network" in drawing.html or "vis.Network" in drawing.html
    assert {n["id"] for n in _nodes(drawing.html)} == set(range(small_graph.num_nodes))
    assert '"enabled": false' in drawing.html  # physics off
    assert drawing.notes == []


def test_input_network_hover_lists_each_nodes_own_top_clusters_and_entropy(small_graph, small_trace):
    record = small_trace.levels[0]
    nodes = _nodes(network.input_graph_network(small_graph, small_trace, np.zeros((small_graph.num_nodes, 2))).html)
    for node in nodes:
        i = node["id"]
        best = np.argsort(-record.assignment[i], kind="stable")[:3]
        expected = [f"  c{c}: {record.assignment[i, c]:.2f}" for c in best]
        lines = node["title"].split("\n")
        assert lines[lines.index("top level-1 clusters:") + 1:][:3] == expected, i
        assert f"entropy H = {record.node_entropy[i]:.3f} nats" in node["title"]
        assert node["color"] == figures.cluster_color(int(np.argmax(record.assignment[i])))


def test_network_positions_are_fixed_across_calls(small_graph, small_trace):
    positions = analysis.layout_positions(small_graph.sparse_adjacency(), seed=0)
    first = network.input_graph_network(small_graph, small_trace, positions).html
    again = network.input_graph_network(small_graph, small_trace,
                                        analysis.layout_positions(small_graph.sparse_adjacency(), seed=0)).html
    xy = [(n["x"], n["y"]) for n in _nodes(first)]
    assert len(xy) == small_graph.num_nodes and xy == [(n["x"], n["y"]) for n in _nodes(again)]
    options = json.loads(re.search(r"var options = (\{.*?\});\n", first).group(1))
    assert options["physics"]["enabled"] is False  # fixed positions: vis-network never moves a node


def test_coarsened_network_sizes_follow_mass_and_shows_self_loops(small_graph, small_trace):
    positions = analysis.layout_positions(small_graph.sparse_adjacency(), seed=0)
    drawing = network.coarsened_level_network(small_trace, 1, positions)
    record = small_trace.levels[0]
    sizes = [n["size"] for n in _nodes(drawing.html)]
    assert len(sizes) == record.num_clusters
    assert np.argmax(sizes) == np.argmax(record.cluster_mass)
    assert f"self-loop A'[c,c] = {record.coarsened_adjacency[0, 0]:.3f}" in _nodes(drawing.html)[0]["title"]
    assert _external_urls(drawing.html) == []
    assert network.coarsened_level_network(small_trace, 2, positions).shown_nodes.tolist() == [0, 1]
    with pytest.raises(ValueError):
        network.coarsened_level_network(small_trace, 3, positions)


def test_big_graph_is_sampled_with_a_note():
    graph = make_sbm_graph([1100, 1100], 0.01, 0.001, seed=0)
    trace = make_trace(graph, clusters=(3,))
    positions = np.random.default_rng(0).random((graph.num_nodes, 2))
    drawing = network.input_graph_network(graph, trace, positions, max_nodes=500)
    assert len(drawing.shown_nodes) == 500
    assert any("500 of 2,200" in note for note in drawing.notes)
    assert len(_nodes(drawing.html)) == 500


def test_coarse_graph_figure_sizes_by_mass_and_bins_edges_by_weight():
    adjacency = np.array([[3.0, 2.0, 0.0], [2.0, 1.0, 0.5], [0.0, 0.5, 4.0]])
    mass = np.array([4.0, 1.0, 0.25])
    positions = np.array([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    fig = figures.coarse_graph_figure(positions, adjacency, mass, level=1, hard_members=np.array([4, 1, 0]))
    nodes = fig.data[-1]
    assert list(nodes.text) == ["c0 (3.0)", "c1 (1.0)", "c2 (4.0)"]  # self-loop weight in the label
    assert nodes.marker.size[0] > nodes.marker.size[1] > nodes.marker.size[2]
    # c2 has no hard member: grey; the two used clusters take the first two distinct colours
    assert list(nodes.marker.color) == [*figures.distinct_palette(2), figures.UNUSED_COLOR]
    edge_widths = sorted(trace.line.width for trace in fig.data[:-1])
    assert len(edge_widths) == 2 and edge_widths[0] < edge_widths[1]  # the 2.0 edge drawn wider than the 0.5 edge
    assert "hard members: 4" in nodes.hovertext[0]


def test_coarse_graph_figure_can_hide_empty_clusters_keeping_ids_and_colours():
    adjacency = np.array([[3.0, 2.0, 0.01], [2.0, 1.0, 0.02], [0.01, 0.02, 0.0]])
    mass = np.array([4.0, 1.0, figures.EMPTY_CLUSTER_MASS / 2])
    positions = np.array([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    full = figures.coarse_graph_figure(positions, adjacency, mass, level=1)
    assert len(full.data[-1].x) == 3 and len(full.data) == 1 + 2  # 3 nodes; edge bins for 2.0 and the small ones
    fig = figures.coarse_graph_figure(positions, adjacency, mass, level=1, hide_empty=True)
    nodes = fig.data[-1]
    assert list(nodes.text) == ["c0 (3.0)", "c1 (1.0)"]
    assert list(nodes.marker.color) == [figures.cluster_color(0), figures.cluster_color(1)]
    drawn = np.concatenate([trace.x for trace in fig.data[:-1]])
    assert not np.any(np.isclose(drawn, 1.0))  # no edge reaches the hidden cluster at x = 1
    assert fig.layout.title.text.endswith("after pooling 1 (2/3 drawn)")


def test_a_cluster_has_one_colour_in_every_figure_of_its_level_and_unused_ones_are_grey():
    rng = np.random.default_rng(0)
    hard = np.array([3, 3, 40, 40, 40, 77, 3, 77])  # 3 of 100 clusters used
    assignment = np.full((8, 100), 0.001)
    assignment[np.arange(8), hard] = 1.0
    assignment /= assignment.sum(axis=1, keepdims=True)
    palette = figures.used_cluster_colors(hard)
    assert len(set(palette.values())) == 3
    strip = figures.assignment_heatmap(assignment).data[1].marker.color
    mass = figures.cluster_mass_bar(assignment.sum(axis=0), used=hard).data[0].marker.color
    adjacency = figures.coarsened_adjacency_heatmap(np.eye(100), used=hard).data[1].marker.color
    drawn = figures.graph_figure(rng.random((8, 2)), np.zeros((0, 2), int), clusters=hard).data[-1].marker.color
    coarse = figures.coarse_graph_figure(rng.random((100, 2)), np.eye(100), assignment.sum(axis=0), 1,
                                         hard_members=np.bincount(hard, minlength=100)).data[-1].marker.color
    for k, color in palette.items():
        assert strip[k] == mass[k] == adjacency[k] == coarse[k] == color
    assert list(drawn) == [palette[k] for k in hard]
    assert strip[0] == mass[0] == adjacency[0] == coarse[0] == figures.UNUSED_COLOR


def _path_segments(path: str) -> list[tuple[float, float, float, float]]:
    """(x0, y0, x1, y1) of every ``M x,y L x,y`` of an SVG path."""
    import re

    return [tuple(map(float, m)) for m in re.findall(r"M([^,]+),([^L]+)L([^,]+),([^M]+)", path)]


def test_graph_figure_draws_every_edge_once_below_the_nodes():
    rng = np.random.default_rng(3)
    positions = rng.random((6, 2))
    edges = np.array([[0, 1], [1, 2], [2, 2], [3, 5], [4, 0]])  # (2, 2) is a self-loop: not drawn
    fig = figures.graph_figure(positions, edges, values=np.arange(6.0))
    assert len(fig.data) == 1 and fig.data[0].mode == "markers"  # nodes only; edges are a shape
    (shape,) = fig.layout.shapes
    assert (shape.type, shape.xref, shape.yref, shape.layer) == ("path", "x", "y", "below")
    segments = np.array(_path_segments(shape.path))
    drawn = edges[edges[:, 0] != edges[:, 1]]
    expected = np.concatenate([positions[drawn[:, 0]], positions[drawn[:, 1]]], axis=1)
    np.testing.assert_allclose(segments, expected, rtol=1e-5)
    assert not figures.graph_figure(positions, np.zeros((0, 2), int)).layout.shapes  # edgeless: no shape


def test_graph_figure_beyond_svg_limit_draws_edges_and_nodes_with_webgl():
    n = figures.SVG_MAX_POINTS + 1
    positions = np.random.default_rng(0).random((n, 2))
    edges = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    fig = figures.graph_figure(positions, edges, clusters=np.zeros(n, int))
    assert [type(t) for t in fig.data] == [go.Scattergl, go.Scattergl] and not fig.layout.shapes
    xs = np.asarray(fig.data[0].x, dtype=float)
    assert np.isnan(xs[2::3]).all() and np.allclose(xs[0::3], positions[:-1, 0])  # a gap after every edge
