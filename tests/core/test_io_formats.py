"""core/data/io/formats.py through core.io.read_graph: GEXF, Pajek, Matrix Market and SNAP edge lists."""

from __future__ import annotations

import gzip
import io

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from core.data.io.base import GraphInputError, ReadLimits
from core.data.io.reader import read_graph


def edge_set(graph) -> set[frozenset]:
    names = graph.names()
    return {frozenset((names[i], names[j])) for i, j in graph.edges}


def _gexf(graph: nx.Graph) -> bytes:
    buffer = io.BytesIO()
    nx.write_gexf(graph, buffer)
    return buffer.getvalue()


GEXF_HEAD = (b'<?xml version="1.0"?><gexf xmlns="http://gexf.net/1.3" version="1.3">'
             b'<graph defaultedgetype="undirected"><attributes class="node">'
             b'<attribute id="c" title="community" type="liststring"/>'
             b'<attribute id="a" title="age" type="integer"><default>7</default></attribute></attributes>')


# ---------------------------------------------------------------------------- GEXF
def test_gexf_from_networkx_keeps_labels_attributes_and_weights():
    source = nx.Graph()
    source.add_node("x", label="Ann", club="A")
    source.add_node("y", label="Bob", club="B")
    source.add_node("z", label="Cy", club="B")
    source.add_edge("x", "y", weight=2.5)
    source.add_edge("y", "z", weight=1.0)
    graph = read_graph(_gexf(source), filename="g.gexf")
    assert graph.node_names == ["Ann", "Bob", "Cy"]
    assert graph.node_data["club"] == ["A", "B", "B"] and graph.node_data["id"] == ["x", "y", "z"]
    assert edge_set(graph) == {frozenset(("Ann", "Bob")), frozenset(("Bob", "Cy"))}
    assert sorted(graph.weights().tolist()) == [1.0, 2.5]


def test_gexf_list_types_defaults_and_directed_edges():
    body = (GEXF_HEAD + b'<nodes><node id="1"><attvalues><attvalue for="c" value="red|blue"/>'
            b'<attvalue for="a" value="3"/></attvalues></node>'
            b'<node id="2"><attvalues><attvalue for="c" value="red"/></attvalues></node><node id="3"/></nodes>'
            b'<edges><edge source="1" target="2" type="directed"/><edge source="2" target="1"/>'
            b'<edge source="3" target="2" weight="4"/></edges></graph></gexf>')
    graph = read_graph(body, filename="g.gexf")
    assert graph.node_data["community"] == [["red", "blue"], ["red"], None]
    assert graph.node_data["age"] == [3, 7, 7]
    assert graph.num_edges == 2 and any("directed" in note for note in graph.notes)
    assert any("community declared as list types" in note for note in graph.notes)


# ---------------------------------------------------------------------------- Pajek
def test_pajek_from_networkx_round_trips_edges_and_weights():
    source = nx.les_miserables_graph()
    buffer = io.BytesIO()
    nx.write_pajek(source, buffer)
    graph = read_graph(buffer.getvalue(), filename="les.net")
    assert graph.num_nodes == source.number_of_nodes()
    assert edge_set(graph) == {frozenset(e) for e in source.edges}


def test_pajek_partitions_vectors_labels_arcs_and_edge_lists():
    text = b"""% comment
*Network tiny
*Vertices 4
1 "alpha" 0.1 0.2 0.5
2 "beta"
3 "gamma"
4 "delta"
*Arcs
1 2 2.0
2 1 3.0
*Edgeslist
3 1 4
*Partition side
*Vertices 4
1
1
2
2
*Vector size
*Vertices 4
0.5
1.5
2.5
3.5
"""
    graph = read_graph(text, filename="tiny.net")
    assert graph.node_names == ["alpha", "beta", "gamma", "delta"]
    assert graph.node_data["side"] == [1, 1, 2, 2] and graph.node_data["size"] == [0.5, 1.5, 2.5, 3.5]
    assert edge_set(graph) == {frozenset(p) for p in [("alpha", "beta"), ("gamma", "alpha"), ("gamma", "delta")]}
    assert any("reciprocal" in note for note in graph.notes)


# ---------------------------------------------------------------------------- Matrix Market
@pytest.mark.parametrize("dense", [False, True])
def test_matrix_market_from_scipy_matches_the_matrix(dense):
    matrix = nx.to_numpy_array(nx.karate_club_graph())  # symmetric, integer weights
    buffer = io.BytesIO()
    scipy.io.mmwrite(buffer, matrix if dense else scipy.sparse.coo_matrix(matrix))
    graph = read_graph(buffer.getvalue(), filename="k.mtx")
    rebuilt = np.zeros_like(matrix)
    for (i, j), weight in zip(graph.edges, graph.weights()):
        rebuilt[i, j] = rebuilt[j, i] = weight
    assert np.array_equal(rebuilt, matrix)


def test_matrix_market_general_pattern_is_symmetrised_once():
    text = b"%%MatrixMarket matrix coordinate pattern general\n3 3 4\n1 2\n2 1\n2 3\n3 2\n"
    graph = read_graph(text, filename="g.mtx")
    assert graph.num_edges == 2 and graph.edge_weight is None
    assert not any("directed" in note for note in graph.notes)
    text = b"%%MatrixMarket matrix coordinate real general\n3 3 3\n1 2 1.5\n3 2 2\n1 3 0\n"
    graph = read_graph(text, filename="g.mtx")
    assert graph.num_edges == 2 and any("directed" in note for note in graph.notes)
    assert any("1 explicit zero entry dropped" in note for note in graph.notes)


# ---------------------------------------------------------------------------- SNAP and gzip
def test_snap_edge_list_with_comment_header_and_tabs():
    text = b"# Directed graph (each unordered pair of nodes is saved once): toy.txt\n# Nodes: 3 Edges: 2\n" \
           b"# FromNodeId\tToNodeId\n0\t1\n1\t2\n"
    graph = read_graph(text, filename="toy.txt")
    assert graph.node_names == ["0", "1", "2"] and graph.num_edges == 2


@pytest.mark.parametrize("name", ["g.gexf", "g.net", "g.mtx", "g.txt"])
def test_every_new_format_is_read_gzipped_and_limits_hold(name):
    source = nx.cycle_graph(12)
    if name.endswith(".gexf"):
        data = _gexf(source)
    elif name.endswith(".net"):
        buffer = io.BytesIO()
        nx.write_pajek(source, buffer)
        data = buffer.getvalue()
    elif name.endswith(".mtx"):
        buffer = io.BytesIO()
        scipy.io.mmwrite(buffer, scipy.sparse.coo_matrix(nx.to_scipy_sparse_array(source)))
        data = buffer.getvalue()
    else:
        data = "".join(f"{u}\t{v}\n" for u, v in source.edges).encode()
    graph = read_graph(gzip.compress(data), filename=name + ".gz")
    assert graph.num_nodes == 12 and graph.num_edges == 12
    with pytest.raises(GraphInputError, match="max_nodes"):
        read_graph(data, filename=name, limits=ReadLimits(max_nodes=5))
    with pytest.raises(GraphInputError, match="max_edges"):
        read_graph(data, filename=name, limits=ReadLimits(max_edges=5))


# ---------------------------------------------------------------------------- malformed files
@pytest.mark.parametrize(
    "extension, text, message",
    [
        ("gexf", GEXF_HEAD + b'<nodes><node id="1"/><node id="1"/></nodes></graph></gexf>', "declared twice"),
        ("gexf", GEXF_HEAD + b'<nodes><node id="1"/></nodes><edges><edge source="1" target="9"/></edges></graph></gexf>',
         "target '9' is not the id of a <node>"),
        ("gexf", GEXF_HEAD + b'<nodes><node id="1"><attvalues><attvalue for="a" value="old"/></attvalues></node></nodes>'
         b'</graph></gexf>', "attribute 'age' = 'old' is not of type integer"),
        ("gexf", GEXF_HEAD + b'<nodes><node id="1"><attvalues><attvalue for="q" value="1"/></attvalues></node></nodes>'
         b'</graph></gexf>', "names no declared node <attribute>"),
        ("gexf", GEXF_HEAD + b'<nodes><node id="1"/><node id="2"/></nodes><edges><edge source="1" target="2" weight="-1"/>'
         b'</edges></graph></gexf>', "weight must be finite and > 0"),
        ("gexf", b'<graphml/>', "expected <gexf>"),
        ("gexf", b'<gexf><graph><nodes><node id="1"', "not well-formed XML"),
        ("gexf", b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "aaaa">]><gexf>&a;</gexf>', "refused for security"),
        ("net", b"*Vertices 2\n*Edges\n1 3\n", "line 3: vertex 3 is outside 1..2"),
        ("net", b"*Vertices two\n", "line 1: *Vertices needs a vertex count"),
        ("net", b"*Edges\n1 2\n", "line 1: *edges before *Vertices N"),
        ("net", b"*Vertices 2\n*Edges\n1 2 heavy\n", "line 3: weight 'heavy' is not a number"),
        ("net", b"*Vertices 2\n*Edges\n1 2\n*Partition p\n*Vertices 2\n1\n", "'p' has 1 values, expected 2"),
        ("net", b"*Vertices 2\n*Edges\n1 2\n*Partition p\n*Vertices 2\n1\nx\n", "line 7: 'p' value 'x' is not an integer"),
        ("net", b"*Vertices 2\n*Matrix\n0 1\n1 0\n", "*Matrix sections are not supported"),
        ("net", b"*Vertices 9000000\n", "more than 200000"),
        ("net", b"hello\n", "no *Vertices N line"),
        ("mtx", b"%%MatrixMarket matrix coordinate real general\n2 3 1\n1 2 1\n", "2 x 3; an adjacency matrix must be square"),
        ("mtx", b"%%MatrixMarket matrix coordinate complex general\n2 2 1\n1 2 1 0\n", "complex matrices are not supported"),
        ("mtx", b"%%MatrixMarket matrix coordinate real general\n2 2 2\n1 2 1\n", "announces 2 entries but the file holds 1"),
        ("mtx", b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 5 1\n", "line 3: entry (1, 5) is outside"),
        ("mtx", b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 -4\n", "line 3: weight must be finite and > 0"),
        ("mtx", b"%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 2 7\n", "line 3: a pattern entry is 'i j'"),
        ("mtx", b"%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 1\n2 1 1\n", "line 4: more entries than"),
        ("mtx", b"%%MatrixMarket matrix coordinate pattern general\n9000000 9000000 1\n1 2\n", "more than 200000"),
        ("mtx", b"%%MatrixMarket matrix coordinate pattern general\n5 5 99999999\n1 2\n", "more than 4000000 edge records"),
        ("mtx", b"1 2\n", "line 1: expected the banner"),
    ],
)
def test_malformed_files_say_what_and_where(extension, text, message):
    with pytest.raises(GraphInputError) as error:
        read_graph(text, filename=f"bad.{extension}")
    assert message in str(error.value)
