"""PATCHY-SAN: receptive fields (core/data/receptive_fields.py) and the model (core/model/patchysan.py).

Shapes and padding of the fields, their canonical order (the same fields, features and field
subgraphs whatever the node numbering), the model's permutation invariance, traces, compatibility,
and the clear error without pynauty. Training lowers the loss and checkpoints round-trip in
tests/core/test_variants.py, which runs every variant without pooling levels, patchysan included.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from core.data.batching import collate, prepare_graphs
from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.data.receptive_fields import (
    MissingDependencyError,
    assemble_neighbourhood,
    cached_receptive_fields,
    clear_cache,
    receptive_fields,
)
from core.model.compat import WITHOUT_POOLING, check_compatibility
from core.model.diffpool import DiffPool, DiffPoolConfig
from core.model.inference import predict_logits, trace_graphs
from core.model.patchysan import PatchySanModel, patchysan_width_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = 3
SPEC = FeatureSpec("labels", num_node_labels=LABELS)


def labelled_graph(num_nodes: int, seed: int, p: float = 0.25, label: int = 0) -> Graph:
    """A connected random graph (a path plus random edges) with a few categorical node labels."""
    rng = np.random.default_rng(seed)
    pairs = [(i, i + 1) for i in range(num_nodes - 1)]
    pairs += [(i, j) for i in range(num_nodes) for j in range(i + 2, num_nodes) if rng.random() < p]
    return Graph.from_edge_list(num_nodes, np.array(pairs, dtype=np.int64).reshape(-1, 2),
                                node_labels=rng.integers(0, LABELS, num_nodes), label=label)


def permuted(graph: Graph, seed: int) -> tuple[Graph, np.ndarray]:
    """The graph with its nodes renumbered: node i becomes ``new_index[i]``."""
    order = np.random.default_rng(seed).permutation(graph.num_nodes)  # new node j is old node order[j]
    new_index = np.argsort(order)
    return Graph.from_edge_list(graph.num_nodes, new_index[graph.edges], node_labels=graph.node_labels[order],
                                label=graph.label), new_index


def field_views(graph: Graph, fields: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """What the CNN sees, independent of node ids: the label at each field position (-1 for a dummy)
    and each field's subgraph adjacency in field order."""
    labels = np.where(fields >= 0, graph.node_labels[np.maximum(fields, 0)], -1)
    adjacency = graph.dense_adjacency()
    subgraphs = []
    for row in fields:
        real = row[row >= 0]
        subgraphs.append(adjacency[np.ix_(real, real)])
    return labels, subgraphs


def fields_of(graph: Graph, width: int, field_size: int, with_labels: bool = True) -> np.ndarray:
    features = graph.node_labels[:, None].astype(np.float32) if with_labels else None
    return receptive_fields(graph.num_nodes, graph.edges, width, field_size, features)


def make_model(width: int = 12, field_size: int = 4, seed: int = 0) -> DiffPool:
    torch.manual_seed(seed)
    config = DiffPoolConfig(input_dim=LABELS, num_classes=3, variant="patchysan", max_nodes=30,
                            patchysan_width=width, patchysan_field_size=field_size)
    return DiffPool(config).eval()


# ---------------------------------------------------------------------------- receptive fields
def test_fields_have_width_rows_of_field_size_nodes_each_rooted_at_a_distinct_node():
    graph = labelled_graph(20, seed=1)
    fields = fields_of(graph, width=8, field_size=5)
    assert fields.shape == (8, 5) and fields.dtype == np.int64
    assert (fields >= 0).all(), "a connected graph of 20 nodes fills every field of 5"
    assert len(set(fields[:, 0].tolist())) == 8, "one field per node of the node sequence"
    for row in fields:
        assert len(set(row.tolist())) == 5
        distance = assemble_neighbourhood([list(np.flatnonzero(r)) for r in graph.dense_adjacency()],
                                          int(row[0]), 5)
        hops = [distance[v] for v in row]
        assert hops[0] == 0 and hops == sorted(hops), "ranked by distance to the root first"


def test_a_small_graph_is_padded_with_dummy_fields_and_dummy_nodes():
    graph = Graph.from_edge_list(4, [(0, 1), (1, 2)], node_labels=np.array([0, 1, 2, 0]))  # node 3 is isolated
    fields = fields_of(graph, width=6, field_size=3)
    assert fields.shape == (6, 3)
    assert (fields[4:] == -1).all(), "fields beyond the graph's 4 nodes are all dummies"
    isolated = fields[fields[:, 0] == 3][0]
    assert isolated.tolist() == [3, -1, -1], "a root alone in its component gets dummy nodes"
    assert (fields[:4, 0] >= 0).all()


def test_the_node_sequence_starts_with_the_most_central_node():
    star = Graph.from_edge_list(6, [(0, j) for j in range(1, 6)], node_labels=np.zeros(6, dtype=np.int64))
    fields = fields_of(star, width=2, field_size=6)
    assert fields[0, 0] == 0 and sorted(fields[0].tolist()) == list(range(6))


@given(size=st.integers(3, 24), seed=st.integers(0, 10_000), permutation=st.integers(0, 10_000),
       with_labels=st.booleans())
def test_field_order_does_not_depend_on_the_node_numbering(size, seed, permutation, with_labels):
    graph = labelled_graph(size, seed)
    if not with_labels:  # structure only: every tie is NAUTY's to break
        graph.node_labels = np.zeros(size, dtype=np.int64)
    other, _ = permuted(graph, permutation)
    width, field_size = max(2, size // 2), 5
    labels, subgraphs = field_views(graph, fields_of(graph, width, field_size, with_labels))
    other_labels, other_subgraphs = field_views(other, fields_of(other, width, field_size, with_labels))
    np.testing.assert_array_equal(labels, other_labels)
    for mine, theirs in zip(subgraphs, other_subgraphs):
        np.testing.assert_array_equal(mine, theirs)


def test_symmetric_graphs_get_the_same_fields_whatever_the_numbering():
    ring = Graph.from_edge_list(8, [(i, (i + 1) % 8) for i in range(8)] + [(0, 4)],
                                node_labels=np.zeros(8, dtype=np.int64))
    reference = field_views(ring, fields_of(ring, 8, 6))
    for seed in range(5):
        other, _ = permuted(ring, seed)
        labels, subgraphs = field_views(other, fields_of(other, 8, 6))
        np.testing.assert_array_equal(labels, reference[0])
        assert all((a == b).all() for a, b in zip(subgraphs, reference[1]))


def test_the_cache_returns_the_fields_computed_the_first_time():
    clear_cache()
    graph = labelled_graph(10, seed=3)
    features = graph.node_labels[:, None].astype(np.float32)
    first = cached_receptive_fields(10, graph.edges, 5, 4, features)
    again = cached_receptive_fields(10, graph.edges[::-1, ::-1], 5, 4, features)  # same edges, other order
    assert again is first
    np.testing.assert_array_equal(first, receptive_fields(10, graph.edges, 5, 4, features))


def test_without_pynauty_the_error_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynauty", None)  # import pynauty now raises ImportError
    ring = Graph.from_edge_list(6, [(i, (i + 1) % 6) for i in range(6)])  # all nodes tied: NAUTY needed
    with pytest.raises(MissingDependencyError, match="pynauty") as error:
        receptive_fields(6, ring.edges, 3, 3)
    assert "pip install pynauty" in str(error.value) and isinstance(error.value, ImportError)


# ---------------------------------------------------------------------------- model
def test_model_logits_do_not_depend_on_the_node_numbering():
    model = make_model()
    graphs = [labelled_graph(n, seed=n, label=n % 3) for n in (5, 9, 14, 20)]
    others = [permuted(g, seed=7)[0] for g in graphs]
    np.testing.assert_allclose(predict_logits(model, graphs, SPEC), predict_logits(model, others, SPEC), atol=1e-6)


def test_padding_rows_and_batch_mates_do_not_change_a_graphs_logits():
    model = make_model()
    graph = labelled_graph(9, seed=2)
    alone = collate(prepare_graphs([graph], SPEC))
    padded = collate(prepare_graphs([graph, labelled_graph(17, seed=3)], SPEC), pad_to=25)
    with torch.no_grad():
        torch.testing.assert_close(model(alone.x, alone.adj, alone.mask).logits[0],
                                   model(padded.x, padded.adj, padded.mask).logits[0])


def test_the_paper_hyper_parameters_are_the_defaults():
    assert patchysan_width_for([30, 33, 37]) == 33
    config = DiffPoolConfig(input_dim=3, num_classes=2, variant="patchysan", max_nodes=40)
    assert config.patchysan_field_size == 10 and config.patchysan_width == 40 and config.readout == "patchysan"
    model = DiffPool(config)
    assert isinstance(model, PatchySanModel)
    assert model.field_conv.kernel_size == (10,) and model.field_conv.stride == (10,)
    assert model.field_conv.out_channels == 16 and model.sequence_conv.out_channels == 8
    assert model.sequence_conv.kernel_size == (10,)


def test_trace_has_no_levels_and_field_embeddings_on_the_node_sequence():
    model = make_model(width=4, field_size=3)
    graph = labelled_graph(9, seed=4)
    trace = trace_graphs(model, [graph], SPEC)[0]
    assert trace.levels == [] and trace.final_embeddings.shape == (9, 16)
    roots = fields_of(graph, 4, 3)[:, 0]
    outside = np.setdiff1d(np.arange(9), roots)
    assert not trace.final_embeddings[outside].any(), "only the w roots carry a field embedding"


def test_the_app_treats_patchysan_as_a_model_without_pooling():
    assert "patchysan" in WITHOUT_POOLING
    card = {"variant": "patchysan", "dataset": "ENZYMES", "features": {"kind": "labels", "num_node_labels": LABELS}}
    assert check_compatibility(card, dataset_name="ENZYMES", need_pooling=True).problem == \
        "patchysan variant: no pooling, so no clusters"
    assert check_compatibility(card, dataset_name="ENZYMES").ok
