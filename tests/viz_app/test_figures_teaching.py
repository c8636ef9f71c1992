"""Static pictures (viz_app.figures_teaching.matrix_svg, graph_svg): what they draw and write."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from viz_app.figures_teaching import MAX_ANNOTATED_CELLS, graph_svg, matrix_svg

SVG = "{http://www.w3.org/2000/svg}"


def _cells(svg: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("class") == "cell"]


def _cell_texts(svg: str) -> list[str]:
    """The values written in the cells (the texts inside the per-row groups), row by row."""
    root = ET.fromstring(svg)
    return [t.text for g in root.iter(f"{SVG}g") if g.get("transform", "").startswith("translate")
            for t in g.findall(f"{SVG}text")]


def test_one_cell_per_entry_coloured_by_the_scale_ends():
    adjacency = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    svg = matrix_svg(adjacency, "abc", "abc", "A", "Greys", zmin=0, decimals=0)
    cells = _cells(svg)
    assert len(cells) == 9
    fills = np.array([c.get("fill") for c in cells]).reshape(3, 3)
    assert fills[0, 0] == "#ffffff" and fills[0, 1] == "#000000"  # Greys: 0 white, 1 black
    assert _cell_texts(svg) == ["0", "1", "0", "1", "0", "1", "0", "1", "0"]


def test_values_are_written_in_the_heatmaps_format_and_white_on_dark_cells():
    svg = matrix_svg(np.array([[0.123, -1.5], [2.0, 0.0]]), ["r0", "r1"], ["c0", "c1"], "M", "RdBu", zmid=0, decimals=2)
    assert _cell_texts(svg) == ["0.12", "-1.50", "2", "0"]
    root = ET.fromstring(svg)
    inks = [t.get("fill") for g in root.iter(f"{SVG}g") if g.get("transform", "").startswith("translate")
            for t in g.findall(f"{SVG}text")]
    assert inks[2] == "#fff" and inks[3] is None  # 2 is the scale's dark end, 0 its pale middle


def test_zmid_makes_the_colour_range_symmetric():
    svg = matrix_svg(np.array([[-1.0, 2.0]]), ["r"], ["a", "b"], "M", "RdBu", zmid=0)
    scale_labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")][1:3]  # after the title
    assert scale_labels == ["-2", "2"]


def test_large_matrices_are_not_annotated_unless_asked():
    big = np.zeros((31, 30))
    assert big.size > MAX_ANNOTATED_CELLS
    assert _cell_texts(matrix_svg(big, range(31), range(30), "big")) == []
    assert len(_cell_texts(matrix_svg(big, range(31), range(30), "big", annotate=True))) == big.size


def test_the_widest_value_fits_its_cell():
    svg = matrix_svg(np.full((2, 30), -1.25), range(2), range(30), "X")
    cell = float(_cells(svg)[0].get("width")) + 1
    font = float(next(g.get("font-size") for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("text-anchor") == "middle"))
    assert 0.56 * font * len("-1.25") <= cell - 3 + 1e-9


def test_labels_and_title_are_escaped():
    svg = matrix_svg(np.eye(2), ["<b>", "a&b"], ["x", "y"], "S <soft>")
    root = ET.fromstring(svg)  # well-formed XML
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "<b>" in texts and "a&b" in texts and root.find(f"{SVG}title").text == "S <soft>"


def test_non_finite_cells_are_grey_and_written_as_they_are():
    svg = matrix_svg(np.array([[np.nan, 1.0]]), ["r"], ["a", "b"], "M")
    assert _cells(svg)[0].get("fill") == "#c8c8c8"
    assert _cell_texts(svg)[0] == "nan"


@pytest.mark.parametrize("shape, rows, cols", [((2, 2), 3, 2), ((2, 2), 2, 1), ((2,), 2, 1)])
def test_mismatched_labels_or_shape_raise(shape, rows, cols):
    with pytest.raises(ValueError):
        matrix_svg(np.zeros(shape), range(rows), range(cols), "M")


def test_graph_picture_draws_every_node_and_edge_but_self_loops():
    positions = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0]])
    svg = graph_svg(positions, np.array([[0, 1], [1, 2], [2, 2]]), ["a", "b", "<c>"], size_px=300)
    root = ET.fromstring(svg)
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == 3 and len(list(root.iter(f"{SVG}line"))) == 2
    assert [t.text for t in root.iter(f"{SVG}text")] == ["a", "b", "<c>"]
    xs = [float(c.get("cx")) for c in circles]
    ys = [float(c.get("cy")) for c in circles]
    assert xs[0] < xs[1] == xs[2] and ys[0] == ys[1] < ys[2]  # y grows downwards, as in the network
    assert (xs[1] - xs[0]) == pytest.approx(2 * (ys[2] - ys[1]))  # the layout's aspect ratio is kept
    assert int(root.get("width")) <= 300


@pytest.mark.parametrize("labels, edges", [(["a"], [[0, 1]]), (["a", "b"], [[0, 2]])])
def test_graph_picture_rejects_mismatched_labels_or_edges(labels, edges):
    with pytest.raises(ValueError):
        graph_svg(np.zeros((2, 2)), np.array(edges), labels)
