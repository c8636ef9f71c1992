"""Tests for core/data/io/: every format, the refusals, the limits and the exports.

Fixtures are tiny and generated in the tests; nothing touches the network.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import tracemalloc
import zipfile

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.graphs import Graph, GraphDataset
from core.data.io.base import GraphInputError, ReadLimits
from core.data.io.export import assignments_to_csv, graph_to_graphml
from core.data.io.reader import numeric_node_attributes, read_graph


def edge_set(graph: Graph) -> set[frozenset]:
    names = graph.names()
    return {frozenset((names[i], names[j])) for i, j in graph.edges}


def graphml_bytes(graph: nx.Graph) -> bytes:
    buffer = io.BytesIO()
    nx.write_graphml(graph, buffer)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


# ---------------------------------------------------------------------------- edge lists
def test_whitespace_edge_list_skips_comments_and_blank_lines():
    text = b"# a comment\n% another\n\na b\nb   c\n  c d  \n"
    graph = read_graph(text, filename="small.txt")
    assert graph.num_nodes == 4 and graph.num_edges == 3
    assert graph.node_names == ["a", "b", "c", "d"]
    assert graph.edge_weight is None
    assert graph.notes == []
    assert graph.name == "small.txt"


def test_csv_edge_list_with_header_reads_weights_and_notes_the_header():
    text = b"source,target,weight\nx,y,2.5\ny,z,1\n"
    graph = read_graph(text, filename="w.csv")
    assert graph.node_names == ["x", "y", "z"]
    assert graph.edge_weight.tolist() == [2.5, 1.0]
    assert any("header" in note and "line 1" in note for note in graph.notes)


def test_header_detected_when_ids_are_numbers_below_a_word_header():
    graph = read_graph(b"from_node to_node\n1 2\n2 3\n", filename="n.edgelist")
    assert graph.node_names == ["1", "2", "3"]
    assert graph.num_edges == 2


def test_a_comment_after_the_data_is_dropped_but_a_hash_inside_a_name_stays():
    graph = read_graph(b"# edges\nC# F# 1\nF# G 2  # a note\nG C# 1\t# tab, then a note\n", filename="notes.edgelist")
    assert graph.node_names == ["C#", "F#", "G"]
    assert graph.edge_weight.tolist() == [1.0, 2.0, 1.0]


def test_semicolon_csv_with_decimal_commas_reads_as_a_spreadsheet_wrote_it():
    # what a spreadsheet saves as CSV where the comma is the decimal mark (German, French, ... locales)
    edges = read_graph(b"Quelle;Ziel;Gewicht\na;b;1,5\nb;c;2\nc;a;0,25\n", filename="kanten.csv")
    assert edges.node_names == ["a", "b", "c"] and edges.edge_weight.tolist() == [1.5, 2.0, 0.25]
    matrix = read_graph(b"0;1;0,5\n1;0;1\n0,5;1;0\n", filename="matrix.csv")
    assert matrix.num_nodes == 3 and sorted(matrix.edge_weight.tolist()) == [0.5, 1.0, 1.0]
    # a semicolon inside whitespace-separated names is part of the name
    assert read_graph(b"a;1 b;2\nb;2 c;3\n", filename="names.txt").node_names == ["a;1", "b;2", "c;3"]


def test_a_node_table_is_refused_with_a_pointer_to_the_edge_table():
    # Gephi exports nodes and edges as two CSV files; the nodes one used to read as a bogus edge "Id-Label"
    with pytest.raises(GraphInputError, match="header of a node table .*upload the edges table"):
        read_graph(b"Id,Label\n1,alpha\n2,beta\n", filename="nodes.csv")


def test_tsv_keeps_spaces_inside_node_names():
    graph = read_graph("New York\tBoston\t3\nBoston\tSão Paulo\t1\n".encode(), filename="cities.tsv")
    assert graph.node_names == ["New York", "Boston", "São Paulo"]
    assert graph.edge_weight.tolist() == [3.0, 1.0]


def test_unicode_node_ids_are_kept_in_first_seen_order():
    text = "Zürich 東京\n東京 🦜\n🦜 Zürich\n".encode()
    graph = read_graph(text, filename="world.edgelist")
    assert graph.node_names == ["Zürich", "東京", "🦜"]
    assert edge_set(graph) == {frozenset(("Zürich", "東京")), frozenset(("東京", "🦜")), frozenset(("🦜", "Zürich"))}


def test_edge_list_is_undirected_and_duplicates_and_self_loops_are_reported():
    text = b"a b 5\nb a 7\na b 9\nc c 1\n"
    graph = read_graph(text, filename="dup.txt")
    assert graph.num_edges == 2
    assert graph.edge_weight.tolist() == [5.0, 1.0]  # the first weight of a-b kept
    assert "2 duplicate edge(s) merged (the first weight kept)" in graph.notes
    assert any("1 self-loop(s) kept" in note and "'c'" in note for note in graph.notes)
    assert not any("directed" in note for note in graph.notes)  # edge lists never declare direction


@pytest.mark.parametrize(
    "text, message",
    [
        (b"a b 1\nb c 2\nc d heavy\n", "line 3: weight 'heavy' is not a number"),
        (b"a b 1\n\nb c\n", "line 3: found 2 fields but the file's edges have 3"),
        (b"# header comment\na b\nlonely\n", "line 3: expected 2 or 3 fields"),
        (b"a b c d\n", "line 1: expected 2 or 3 fields"),
        (b"a b 0\n", "line 1: weight must be finite and > 0"),
        (b"a b 1\nb c nan\n", "line 2: weight must be finite and > 0"),
        (b"a b -2\n", "line 1: weight must be finite and > 0"),
        (b"a b 1e39\n", "line 1: weight '1e39' is larger than 3.4e+38, the largest float32"),
        (b"# only\n% comments\n\n", "no edges found"),
        (b"source target weight\n", "no edges found (only a header line)"),
        (b"0 1 {'weight': 2}\n", "data=['weight']"),
        (b"a,,1\n", "line 1: empty node id"),
    ],
)
def test_malformed_edge_lists_say_what_and_where(text, message):
    with pytest.raises(GraphInputError) as error:
        read_graph(text, filename="bad.txt")
    assert message in str(error.value)
    assert "bad.txt" in str(error.value)


def test_empty_and_whitespace_files_are_refused():
    with pytest.raises(GraphInputError, match="empty"):
        read_graph(b"", filename="e.txt")
    with pytest.raises(GraphInputError, match="empty"):
        read_graph(b"  \n\n ", filename="e.csv")


def test_non_utf8_text_reports_byte_offset_and_line():
    latin1 = "a b\nZürich x\n".encode("latin-1")
    with pytest.raises(GraphInputError, match=r"not valid UTF-8 at byte offset 5 \(line 2\)"):
        read_graph(latin1, filename="latin.txt")


# ---------------------------------------------------------------------------- CSV matrices
def test_square_numeric_csv_is_an_adjacency_matrix():
    graph = read_graph(b"0,1,1\n1,0,0\n1,0,0\n", filename="m.csv")
    assert graph.num_nodes == 3 and graph.num_edges == 2
    assert graph.node_names == ["0", "1", "2"]
    assert graph.edge_weight is None
    assert "adjacency matrix" in graph.notes[0]


def test_weighted_matrix_keeps_weights_and_reports_diagonal_self_loops():
    matrix = "0,2,0,0\n2,5,1,0\n0,1,0,3\n0,0,3,0\n"
    graph = read_graph(matrix.encode(), filename="w.csv")
    assert graph.num_edges == 4
    dense = graph.dense_adjacency()
    assert dense[0, 1] == 2 and dense[1, 1] == 5 and dense[2, 3] == 3
    assert any("1 self-loop(s)" in note for note in graph.notes)


def test_asymmetric_matrix_is_symmetrised_with_a_note():
    graph = read_graph(b"0,1,0,0\n0,0,0,0\n0,0,0,4\n0,0,2,0\n", filename="a.csv")
    assert graph.num_edges == 2
    assert graph.dense_adjacency()[2, 3] == 4  # upper triangle wins
    assert any("not symmetric" in note for note in graph.notes)


def test_numeric_two_column_csv_with_more_rows_is_an_edge_list():
    graph = read_graph(b"1,2\n2,3\n3,4\n", filename="e.csv")
    assert graph.node_names == ["1", "2", "3", "4"]
    assert graph.num_edges == 3
    assert not any("matrix" in note for note in graph.notes)


@pytest.mark.parametrize(
    "text, message",
    [
        (b"0,1,0,0\n1,0,1,0\n0,1,0\n0,0,1,0\n", "line 3: adjacency matrix row has 3 entries, expected 4"),
        (b"0,1,0,0\n1,0,1,0\n0,1,0,1\n0,0,1,0\n1,1,1,1\n", "must be square"),
        (b"0,1,0,0\n1,0,1,0\n", "2 rows and 4 columns"),
        (b"0,1,0,0\n1,0,-1,0\n0,1,0,1\n0,0,1,0\n", "line 2, column 3: matrix entry '-1' must be finite and >= 0"),
        (b"0,1,0,0\n1,0,1,0\n0,1,nan,1\n0,0,1,0\n", "line 3, column 3"),
        (b"0,1,0,0\n1,0,x,0\n0,1,0,1\n0,0,1,0\n", "line 2, column 3: matrix entry 'x' is not a number"),
    ],
)
def test_malformed_csv_matrices_say_what_and_where(text, message):
    with pytest.raises(GraphInputError) as error:
        read_graph(text, filename="m.csv")
    assert message in str(error.value)


# ---------------------------------------------------------------------------- .npy
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.uint8])
def test_npy_numeric_square_matrix(dtype):
    matrix = np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=dtype)
    graph = read_graph(npy_bytes(matrix), filename="a.npy")
    assert graph.num_nodes == 3 and graph.num_edges == 2 and graph.edge_weight is None


def test_npy_object_dtype_is_refused_without_unpickling():
    matrix = np.array([[0, 1], [1, 0]], dtype=object)
    with pytest.raises(GraphInputError, match="object dtype.*unpickling"):
        read_graph(npy_bytes(matrix, allow_pickle=True), filename="o.npy")


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((2, 3)), "2-D and square"),
        (np.zeros((2, 2, 2)), "2-D and square"),
        (np.array([[0, -1.0], [-1.0, 0]]), "entry [0, 1] = -1.0"),
        (np.array([[0, np.nan], [np.nan, 0]]), "finite and >= 0"),
        (np.array([[0, 1e300], [1e300, 0]]), "entry [0, 1] = 1e+300 is larger than 3.4e+38, the largest float32"),
        (np.zeros((2, 2), dtype=np.complex64), "not numeric"),
        (np.array([["a", "b"], ["c", "d"]]), "not numeric"),
    ],
)
def test_malformed_npy_is_refused(array, message):
    with pytest.raises(GraphInputError) as error:
        read_graph(npy_bytes(array), filename="bad.npy")
    assert message in str(error.value)


def test_npy_header_that_promises_more_data_than_present_is_refused():
    truncated = npy_bytes(np.ones((50, 50)))[:-8]
    with pytest.raises(GraphInputError, match="truncated or corrupt"):
        read_graph(truncated, filename="t.npy")
    with pytest.raises(GraphInputError, match="not a valid .npy"):
        read_graph(b"not numpy at all", filename="t.npy")


# ---------------------------------------------------------------------------- GraphML
def test_graphml_keeps_names_weights_and_node_attributes():
    source = nx.Graph()
    source.add_node("Zürich", population=421.9, kind="city")
    source.add_node("東京", population=13960.0, kind="city")
    source.add_node("🛰", population=0.0, kind="thing")
    source.add_edge("Zürich", "東京", weight=2.0)
    source.add_edge("東京", "🛰", weight=0.5)
    graph = read_graph(graphml_bytes(source), filename="g.graphml")
    assert graph.node_names == ["Zürich", "東京", "🛰"]
    assert graph.edge_weight.tolist() == [2.0, 0.5]
    assert graph.node_data["kind"] == ["city", "city", "thing"]
    assert numeric_node_attributes(graph) == ["population"]
    assert graph.node_attributes is None
    assert graph.notes == []


def test_directed_graphml_is_symmetrised_with_a_note():
    source = nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")])
    graph = read_graph(graphml_bytes(source), filename="d.graphml")
    assert graph.num_edges == 2
    assert any("directed" in note and "1 reciprocal pair" in note for note in graph.notes)


GRAPHML_HEAD = '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">
<node id="&lol9;"/></graph></graphml>"""


def test_billion_laughs_graphml_is_refused():
    with pytest.raises(GraphInputError, match="security.*entities"):
        read_graph(BILLION_LAUGHS, filename="lol.graphml")


def test_external_entity_graphml_is_refused():
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        b'<graphml><graph edgedefault="undirected"><node id="&secret;"/></graph></graphml>'
    )
    with pytest.raises(GraphInputError, match="security"):
        read_graph(xxe, filename="xxe.graphml")


@pytest.mark.parametrize(
    "body, message",
    [
        ('<graph edgedefault="undirected"><node id="a"/><node id="b"/>\n<edge source="a" target="b"\n</graph></graphml>',
         "line 3"),
        ('<graph edgedefault="undirected"><node id="a"/><edge source="a" target="zz"/></graph></graphml>',
         "target 'zz' is not a declared <node>"),
        ('<key id="w" for="edge" attr.name="weight" attr.type="string"/><graph edgedefault="undirected">'
         '<node id="a"/><node id="b"/><edge source="a" target="b"><data key="w">heavy</data></edge></graph></graphml>',
         "weight 'heavy' is not a number"),
        ('<key id="w" for="edge" attr.name="weight" attr.type="double"/><graph edgedefault="undirected">'
         '<node id="a"/><node id="b"/><edge source="a" target="b"><data key="w">-1</data></edge></graph></graphml>',
         "weight must be finite and > 0"),
        ('<key id="s" for="node" attr.name="size" attr.type="int"/><graph edgedefault="undirected">'
         '<node id="a"><data key="s">big</data></node></graph></graphml>',
         "<node id='a'>: attribute 'size' = 'big' is not of type int"),
        ('<graph edgedefault="undirected"><node id="a"/><node id="a"/></graph></graphml>',
         "node id 'a' is declared twice"),
        ('<graph edgedefault="undirected"><node id="a"/><hyperedge/></graph></graphml>', "hyperedge"),
        ('</graphml>', "no <graph> element"),
        ('<graph edgedefault="undirected"></graph></graphml>', "no nodes and no edges"),
    ],
)
def test_malformed_graphml_says_what_and_where(body, message):
    with pytest.raises(GraphInputError) as error:
        read_graph((GRAPHML_HEAD + body).encode(), filename="bad.graphml")
    assert message in str(error.value)


def test_graphml_with_wrong_root_is_refused():
    with pytest.raises(GraphInputError, match="expected <graphml>"):
        read_graph(b"<svg></svg>", filename="x.graphml")


# ---------------------------------------------------------------------------- GML
def test_gml_uses_unique_labels_as_names_and_keeps_attributes():
    text = 'graph [\n node [ id 1 label "Zürich" club "A" ]\n node [ id 2 label "Bern" club "B" ]\n' \
           ' edge [ source 1 target 2 weight 3 ]\n]\n'
    graph = read_graph(text.encode(), filename="k.gml")
    assert graph.node_names == ["Zürich", "Bern"]
    assert graph.edge_weight.tolist() == [3.0]
    assert graph.node_data["club"] == ["A", "B"]


def test_directed_gml_with_duplicates_is_merged_and_reported():
    text = b"graph [ directed 1 node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 ]" \
           b" edge [ source 0 target 1 ] edge [ source 1 target 0 ] ]"
    graph = read_graph(text, filename="d.gml")
    assert graph.node_names == ["0", "1"] and graph.num_edges == 1
    assert any("directed" in note for note in graph.notes)
    assert "1 duplicate edge(s) merged (the first weight kept)" in graph.notes


@pytest.mark.parametrize(
    "text, message",
    [
        (b"graph [\n node [ id 0 ]\n node [ id 1 \n edge [ source 0 target 1 ]\n", "GML error"),
        (b"graph [\n node [ id 0 ]\n @@ \n]\n", "(3, 2)"),
        (b"graph [ node [ id 0 ] edge [ source 0 target 9 ] ]", "undefined target 9"),
        (b"graph [ node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 weight -3 ] ]", "weight must be finite and > 0"),
        (b"nodes [ ]", "no graph"),
    ],
)
def test_malformed_gml_says_what_and_where(text, message):
    with pytest.raises(GraphInputError) as error:
        read_graph(text, filename="bad.gml")
    assert message in str(error.value)


# ---------------------------------------------------------------------------- node-link JSON
@pytest.mark.parametrize("link_key", ["links", "edges"])
def test_node_link_json_accepts_links_or_edges(link_key):
    data = {
        "directed": False,
        "nodes": [{"id": "東京", "size": 3}, {"id": 7, "size": 4.5}, {"id": "c"}],
        link_key: [{"source": "東京", "target": 7, "weight": 2}, {"source": 7, "target": "c", "weight": 1}],
    }
    graph = read_graph(json.dumps(data).encode(), filename="n.json")
    assert graph.node_names == ["東京", "7", "c"]
    assert graph.edge_weight.tolist() == [2.0, 1.0]
    assert graph.node_data["size"] == [3, 4.5, None]
    assert numeric_node_attributes(graph) == []  # "c" has no size


def test_networkx_node_link_output_round_trips_and_directed_is_noted():
    source = nx.DiGraph([("a", "b"), ("b", "c")])
    data = nx.node_link_data(source, edges="links")
    graph = read_graph(json.dumps(data).encode(), filename="nx.json")
    assert edge_set(graph) == {frozenset("ab"), frozenset("bc")}
    assert any("directed" in note for note in graph.notes)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"nodes": [\n{"id": 1},\n{"id": 2,}\n]}', "line 3, column 10: invalid JSON"),
        ('[[0, 1], [1, 2]]', "not node-link JSON"),
        ('{"elements": []}', "not node-link JSON"),
        ('{"nodes": [{"id": "a"}], "links": [{"source": "a", "target": 1}]}', "links[0]: target 1 is not the id"),
        ('{"nodes": [{"name": "a"}], "links": []}', 'nodes[0]: expected an object with an "id"'),
        ('{"nodes": [{"id": "a"}, {"id": "b"}], "links": [{"source": "a", "target": "b", "weight": "heavy"}]}',
         "links[0]: weight 'heavy' is not a number"),
        ('{"nodes": [{"id": "a"}], "links": [], "edges": []}', "keep only one"),
        ('{"nodes": [], "links": []}', "no nodes and no edges"),
        ('{"nodes": [{"id": [1]}]}', "must be a string or a number"),
    ],
)
def test_malformed_json_says_what_and_where(text, message):
    with pytest.raises(GraphInputError) as error:
        read_graph(text.encode(), filename="bad.json")
    assert message in str(error.value)


# ---------------------------------------------------------------------------- limits
def test_max_nodes_is_enforced_with_line_and_hint():
    text = "".join(f"n{i} n{i + 1}\n" for i in range(10)).encode()
    with pytest.raises(GraphInputError) as error:
        read_graph(text, filename="big.txt", limits=ReadLimits(max_nodes=5))
    message = str(error.value)
    assert "line 5" in message
    assert "limit max_nodes=5; pass ReadLimits(max_nodes=...) to raise it" in message


def test_max_nodes_is_enforced_for_matrices_and_graphml():
    with pytest.raises(GraphInputError, match="max_nodes=3"):
        read_graph(npy_bytes(np.zeros((4, 4))), filename="a.npy", limits=ReadLimits(max_nodes=3))
    with pytest.raises(GraphInputError, match="max_nodes=3"):
        read_graph(graphml_bytes(nx.path_graph(5)), filename="p.graphml", limits=ReadLimits(max_nodes=3))


def test_max_edges_counts_merged_edges_not_records():
    both_directions = b"a b\nb a\nb c\nc b\n"
    assert read_graph(both_directions, filename="e.txt", limits=ReadLimits(max_edges=2)).num_edges == 2
    with pytest.raises(GraphInputError, match=r"3 edges, more than 2 \(limit max_edges=2; pass ReadLimits\(max_edges=\.\.\.\)"):
        read_graph(b"a b\nb c\nc d\n", filename="e.txt", limits=ReadLimits(max_edges=2))


def test_max_bytes_is_enforced_on_raw_bytes_and_paths(tmp_path):
    text = b"a b\n" * 100
    with pytest.raises(GraphInputError, match="max_bytes=100"):
        read_graph(text, filename="e.txt", limits=ReadLimits(max_bytes=100))
    path = tmp_path / "e.txt"
    path.write_bytes(text)
    with pytest.raises(GraphInputError, match=r"pass ReadLimits\(max_bytes=\.\.\.\)"):
        read_graph(path, limits=ReadLimits(max_bytes=100))


# ---------------------------------------------------------------------------- gzip
def test_gzipped_edge_list_and_graphml_are_read():
    graph = read_graph(gzip.compress(b"a b\nb c\n"), filename="g.edgelist.gz")
    assert graph.num_edges == 2 and graph.name == "g.edgelist.gz"
    graph = read_graph(gzip.compress(graphml_bytes(nx.path_graph(4))), filename="p.graphml.gz")
    assert graph.num_nodes == 4 and graph.num_edges == 3


def test_gzip_bomb_is_refused_without_allocating_its_size():
    member = gzip.compress(b"\0" * (1 << 20))  # 1 MiB of zeros in ~1 KiB
    bomb = member * 256  # 256 MiB when decompressed; concatenated members hide the size
    tracemalloc.start()
    try:
        with pytest.raises(GraphInputError, match="decompresses to more than max_bytes=1048576"):
            read_graph(bomb, filename="bomb.edgelist.gz", limits=ReadLimits(max_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * (1 << 20)


def test_broken_gzip_and_unnamed_inner_format_are_refused():
    with pytest.raises(GraphInputError, match="not a valid gzip file"):
        read_graph(b"definitely not gzip", filename="g.txt.gz")
    with pytest.raises(GraphInputError, match="edgelist.gz"):
        read_graph(gzip.compress(b"a b\n"), filename="graph.gz")


# ---------------------------------------------------------------------------- refusals by name
@pytest.mark.parametrize("filename", ["model.pt", "model.pth", "g.pkl", "g.pickle", "run.ckpt", "g.joblib", "g.pkl.gz"])
def test_pickle_based_files_are_refused_for_security(filename):
    with pytest.raises(GraphInputError) as error:
        read_graph(b"\x80\x04anything", filename=filename)
    message = str(error.value)
    assert "security" in message and "arbitrary code" in message and ".graphml" in message


def test_unknown_extension_lists_supported_formats():
    with pytest.raises(GraphInputError) as error:
        read_graph(b"a b", filename="graph.xlsx")
    message = str(error.value)
    assert "'.xlsx'" in message
    for extension in (".txt", ".edgelist", ".csv", ".npy", ".graphml", ".gml", ".json", ".zip"):
        assert extension in message


def test_bytes_need_a_filename_and_filename_wins_over_the_path(tmp_path):
    with pytest.raises(GraphInputError, match="pass filename"):
        read_graph(b"a b\n")
    path = tmp_path / "upload.bin"
    path.write_bytes(b"a b\n")
    assert read_graph(path, filename="upload.txt").num_edges == 1
    with pytest.raises(GraphInputError, match="no such file"):
        read_graph(tmp_path / "missing.txt")


def test_file_like_upload_is_read_by_its_name():
    upload = io.BytesIO(b"a b\n")
    upload.name = "upload.edgelist"
    assert read_graph(upload).node_names == ["a", "b"]


# ---------------------------------------------------------------------------- TU zip
def tiny_tu_zip() -> bytes:
    files = {
        "MINI/MINI_A.txt": "1, 2\n2, 1\n3, 4\n4, 3\n4, 5\n5, 4\n",
        "MINI/MINI_graph_indicator.txt": "1\n1\n2\n2\n2\n",
        "MINI/MINI_graph_labels.txt": "1\n-1\n",
        "MINI/MINI_node_labels.txt": "0\n1\n0\n1\n2\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_tu_zip_is_delegated_to_read_tu_and_returns_a_dataset(tmp_path):
    if importlib.util.find_spec("core.data.datasets") is None:
        pytest.skip("core.data.datasets (read_tu) is not written yet")
    dataset = read_graph(tiny_tu_zip(), filename="MINI.zip")
    assert isinstance(dataset, GraphDataset)
    assert len(dataset) == 2
    path = tmp_path / "MINI.zip"
    path.write_bytes(tiny_tu_zip())
    assert len(read_graph(path)) == 2
    with pytest.raises(GraphInputError) as error:
        read_graph(b"not a zip", filename="broken.zip")
    assert "broken.zip" in str(error.value) and "/tmp" not in str(error.value)


# ---------------------------------------------------------------------------- exports
def test_assignments_csv_has_node_hard_cluster_confidence_and_probabilities():
    assignment = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    text = assignments_to_csv(["Zürich", "a,b"], assignment)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["node", "hard_cluster", "confidence", "p_0", "p_1", "p_2"]
    assert rows[1] == ["Zürich", "0", "0.9", "0.9", "0.1", "0"]
    assert rows[2][:3] == ["a,b", "2", "0.5"]
    with pytest.raises(ValueError, match="N = len"):
        assignments_to_csv(["only one"], assignment)


def test_graphml_export_round_trips_names_weights_and_clusters():
    graph = read_graph("Zürich 東京 2\n東京 🦜 1\n🦜 x 4\n".encode(), filename="w.txt")
    soft = np.array([[0.8, 0.2], [0.1, 0.9], [0.4, 0.6], [1.0, 0.0]])
    exported = graph_to_graphml(graph, {"level_1": np.array([0, 1, 1, 0]), "level_1_soft": soft})
    again = read_graph(exported, filename="export.graphml")
    assert again.node_names == graph.node_names
    assert again.edge_weight.tolist() == graph.edge_weight.tolist()
    assert again.node_data["level_1"] == [0, 1, 1, 0]
    assert again.node_data["level_1_soft"] == [0, 1, 1, 0]
    assert sorted(numeric_node_attributes(again)) == ["level_1", "level_1_soft"]


def test_graphml_export_keeps_uploaded_attributes_and_checks_shapes():
    graph = read_graph(graphml_bytes(nx.Graph([("a", "b")])), filename="g.graphml")
    graph.node_data["club"] = ["A", None]
    again = read_graph(graph_to_graphml(graph, {}), filename="g.graphml")
    assert again.node_data["club"] == ["A", None]
    with pytest.raises(ValueError, match="N=2"):
        graph_to_graphml(graph, {"bad": np.zeros(3)})


def test_graphml_export_of_graph_without_unique_names_uses_positions():
    graph = Graph.from_edge_list(2, [(0, 1)], node_names=["same", "same"])
    again = read_graph(graph_to_graphml(graph, {"c": np.array([1, 0])}), filename="g.graphml")
    assert again.node_names == ["0", "1"]
    assert again.node_data["name"] == ["same", "same"]


# ---------------------------------------------------------------------------- properties
# A Greek prefix keeps generated names away from numbers and header words.
node_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="#%,\t"),
    max_size=6,
).map(lambda s: "ν" + s)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(node_name, node_name), min_size=1, max_size=15))
def test_tsv_edge_list_recovers_names_and_undirected_pairs(pairs):
    text = "".join(f"{a}\t{b}\n" for a, b in pairs)
    graph = read_graph(text.encode(), filename="p.tsv")
    assert graph.node_names == list(dict.fromkeys(name for pair in pairs for name in pair))
    assert edge_set(graph) == {frozenset(pair) for pair in pairs}


# ---------------------------------------------------------------------------- list-valued attributes
def test_gml_repeated_key_is_kept_as_a_list_per_node_and_noted():
    text = (b"graph [ node [ id 0 community 1 community 2 ] node [ id 1 community 3 graphics [ x 1 ] ]"
            b" node [ id 2 ] edge [ source 0 target 1 ] edge [ source 1 target 2 ] ]")
    graph = read_graph(text, filename="lfr.gml")
    assert graph.node_data["community"] == [[1, 2], [3], None]
    assert "graphics" not in graph.node_data
    assert any("community repeated per node" in note for note in graph.notes)
    assert any("nested attribute(s) ignored: graphics" in note for note in graph.notes)


def test_networkx_lfr_gml_keeps_every_nodes_community():
    lfr = nx.LFR_benchmark_graph(250, 3, 1.5, 0.1, average_degree=5, min_community=20, seed=10)
    for node in lfr:
        lfr.nodes[node]["community"] = sorted(lfr.nodes[node]["community"])
    text = "\n".join(nx.generate_gml(lfr)).encode()
    graph = read_graph(text, filename="lfr.gml")
    expected = [sorted(lfr.nodes[int(name)]["community"]) for name in graph.node_names]
    assert graph.node_data["community"] == expected


def test_json_arrays_make_the_attribute_list_valued_on_every_node():
    text = json.dumps({"nodes": [{"id": "a", "c": [1, 2]}, {"id": "b", "c": 3}, {"id": "d"}],
                       "links": [{"source": "a", "target": "b"}]}).encode()
    graph = read_graph(text, filename="g.json")
    assert graph.node_data["c"] == [[1, 2], [3], None]
    assert any("c given as arrays" in note for note in graph.notes)


@pytest.mark.parametrize("filename", ["m.csv", "m.txt"])
@pytest.mark.parametrize("text, shape", [(b"0,1,0\n1,0,1\n", "2 rows x 3 columns"),
                                         (b"0 1 0\n1 0 1\n0 1 0\n1 1 0\n", "4 rows x 3 columns")])
def test_non_square_numeric_matrix_is_named_as_such(filename, text, shape):
    if filename.endswith(".csv"):
        text = text.replace(b" ", b",")
    with pytest.raises(GraphInputError) as error:
        read_graph(text, filename=filename)
    message = str(error.value)
    assert shape in message and "must be square" in message


def test_xml_with_an_unknown_encoding_is_a_graph_input_error():
    # found by tests/core/test_io_fuzz.py: one flipped byte in the XML declaration
    for filename in ("g.graphml", "g.gexf"):
        with pytest.raises(GraphInputError, match="encoding"):
            read_graph(b'<?xml version="1.0" encoding="atf-8"?><graphml/>', filename=filename)
