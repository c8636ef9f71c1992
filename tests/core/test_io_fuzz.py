"""Fuzz: damaged copies of valid files of every format give a graph or a GraphInputError, nothing else.

Each format starts from a small valid file (generated here); hypothesis flips, deletes,
inserts, duplicates and truncates bytes. Any other exception (IndexError, KeyError,
UnicodeError, a RecursionError, ...) is a reader bug: the upload page would show a traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import os

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data.graphs import Graph, GraphDataset
from core.data.io.base import GraphInputError, ReadLimits
from core.data.io.reader import read_graph
from tests.core.test_io import tiny_tu_zip

# Cases per format; CI runs 200 x 21 files (~20 s); DIFFPOOL_FUZZ_EXAMPLES=5000 for a long hunt.
EXAMPLES = int(os.environ.get("DIFFPOOL_FUZZ_EXAMPLES", "200"))
LIMITS = ReadLimits(max_nodes=500, max_edges=5_000, max_bytes=200_000)


def _valid_files() -> dict[str, bytes]:
    """filename -> bytes of a small valid file, one per format (plus gzipped variants)."""
    graph = nx.karate_club_graph().subgraph(range(12)).copy()
    for node in graph:
        graph.nodes[node]["club"] = graph.nodes[node]["club"]
        graph.nodes[node]["community"] = [node % 3, (node + 1) % 3]
    for i, (u, v) in enumerate(graph.edges):
        graph.edges[u, v]["weight"] = 1.0 + i % 3
    edges = list(graph.edges(data="weight"))
    files = {
        "g.txt": ("# comment\n" + "".join(f"n{u} n{v} {w}\n" for u, v, w in edges)).encode(),
        "g.edgelist": "".join(f"{u} {v}\n" for u, v, _ in edges).encode(),
        "g.tsv": ("source\ttarget\n" + "".join(f"a {u}\tb {v}\n" for u, v, _ in edges)).encode(),
        "g.csv": ("source,target,weight\n" + "".join(f"{u},{v},{w}\n" for u, v, w in edges)).encode(),
        "m.csv": "\n".join(",".join(str(int(x)) for x in row) for row in nx.to_numpy_array(graph)).encode(),
        "gml.gml": "\n".join(nx.generate_gml(graph)).encode(),
        "g.json": json.dumps(nx.node_link_data(graph, edges="links")).encode(),
    }
    buffer = io.BytesIO()
    np.save(buffer, nx.to_numpy_array(graph))
    files["m.npy"] = buffer.getvalue()
    plain = graph.copy()
    for node in plain:
        del plain.nodes[node]["community"]
    buffer = io.BytesIO()
    nx.write_graphml(plain, buffer)
    files["g.graphml"] = buffer.getvalue()
    files["t.zip"] = tiny_tu_zip()
    buffer = io.BytesIO()
    nx.write_gexf(plain, buffer)
    files["g.gexf"] = buffer.getvalue().replace(b'type="string"', b'type="liststring"', 1)
    pajek = io.BytesIO()
    nx.write_pajek(plain, pajek)
    files["g.net"] = pajek.getvalue() + b"*Partition club\n*Vertices 12\n" + b"1\n2\n" * 6
    files["g.mtx"] = (b"%%MatrixMarket matrix coordinate real symmetric\n% karate\n12 12 " + str(len(edges)).encode()
                      + b"\n" + "".join(f"{max(u, v) + 1} {min(u, v) + 1} {w}\n" for u, v, w in edges).encode())
    files["snap.txt"] = ("# Undirected graph\n# FromNodeId\tToNodeId\n" + "".join(f"{u}\t{v}\n" for u, v, _ in edges)).encode()
    for name in ("g.txt", "gml.gml", "g.graphml", "g.gexf", "g.net", "g.mtx", "snap.txt"):
        files[name + ".gz"] = gzip.compress(files[name], mtime=0)
    return files


VALID = _valid_files()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("insert"), st.integers(0, 10**6),
              st.sampled_from([b"\n", b"[", b"]", b"<", b">", b'"', b",", b"\t", b"#", b"-1", b"nan", b"0",
                               b"1e400", b"\xff", b"{", b"}", b"*Vertices 3\n", b"<node/>", b"\x00"])),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6), st.integers(1, 60)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def mutate(data: bytes, operations) -> bytes:
    data = bytearray(data)
    for kind, position, argument in operations:
        at = position % (len(data) + 1)
        if kind == "flip" and data:
            data[at % len(data)] = argument
        elif kind == "delete":
            del data[at:at + argument]
        elif kind == "insert":
            data[at:at] = argument
        elif kind == "duplicate":
            data[at:at] = data[at:at + argument]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def check_reader(filename: str, data: bytes) -> None:
    try:
        result = read_graph(data, filename=filename, limits=LIMITS)
    except GraphInputError:
        return
    assert isinstance(result, (Graph, GraphDataset))
    if isinstance(result, Graph):
        assert result.num_nodes >= 1
        assert result.edges.shape[1] == 2 and (result.edges < result.num_nodes).all()


def test_every_seed_file_is_valid():
    for filename, data in VALID.items():
        result = read_graph(data, filename=filename, limits=LIMITS)
        assert isinstance(result, (Graph, GraphDataset)), filename


@pytest.mark.parametrize("filename", sorted(VALID))
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(mutation, min_size=1, max_size=4))
def test_damaged_files_raise_only_graph_input_error(filename, operations):
    check_reader(filename, mutate(VALID[filename], operations))
