"""Self-supervised single-graph fit: planted communities recovered, sparse maths exact, errors clear."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis import agreement
from core.fit import (
    FitSettings,
    _link_loss_dense,
    _link_loss_sparse,
    _SparseInput,
    _torch_sparse,
    fit_graph,
    positional_features,
)
from core.graphs import Graph
from core.synthetic import make_large_sbm_graph, make_sbm_graph


def test_fit_recovers_planted_communities_of_a_clear_sbm():
    graph = make_sbm_graph([40, 40, 40, 40], p_in=0.3, p_out=0.01, seed=3, shuffle=True)
    result = fit_graph(graph, FitSettings(cluster_counts=[4], epochs=150, seed=0))
    truth = np.array(graph.node_data["block"])
    assert agreement(truth, result.trace.levels[0].hard_assignment)["nmi"] >= 0.9


def test_fit_recovers_communities_of_a_sparse_sbm():
    graph = make_large_sbm_graph([150] * 4, p_in=0.08, p_out=0.002, seed=1)
    result = fit_graph(graph, FitSettings(cluster_counts=[4], epochs=150, seed=0))
    truth = np.array(graph.node_data["block"])
    assert agreement(truth, result.trace.levels[0].hard_assignment)["nmi"] >= 0.9


def test_sparse_link_loss_equals_dense_formula():
    graph = make_sbm_graph([6, 7], p_in=0.6, p_out=0.1, seed=0)
    graph = Graph.from_edge_list(graph.num_nodes, np.vstack([graph.edges, [[2, 2]]]))  # with a self-loop
    s = torch.softmax(torch.randn(graph.num_nodes, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    sparse = _SparseInput.build(_torch_sparse(graph.sparse_adjacency(), "cpu"))
    dense = torch.from_numpy(graph.dense_adjacency())
    dense_loss, dense_coarse = _link_loss_dense(dense, s)
    assert torch.allclose(_link_loss_sparse(sparse, s), dense_loss, atol=1e-5)
    assert torch.allclose(s.T @ torch.sparse.mm(sparse.adjacency, s), dense_coarse, atol=1e-5)
    h = torch.randn(graph.num_nodes, 4)
    assert torch.allclose(sparse.propagate(h), (dense @ h) / dense.sum(1, keepdim=True).clamp(min=1), atol=1e-5)


def test_two_level_trace_shapes_and_invariants():
    graph = make_sbm_graph([10] * 6, p_in=0.5, p_out=0.02, seed=2)
    result = fit_graph(graph, FitSettings(cluster_counts=[6, 2], epochs=30))
    first, second = result.trace.levels
    assert first.assignment.shape == (60, 6) and second.assignment.shape == (6, 2)
    np.testing.assert_allclose(first.assignment.sum(axis=1), 1.0, atol=1e-5)
    s, a = first.assignment, result.trace.adjacency
    np.testing.assert_allclose(first.coarsened_adjacency, s.T @ a @ s, rtol=1e-4, atol=1e-4)
    assert np.all(first.node_entropy >= -1e-6) and np.all(first.node_entropy <= np.log(6) + 1e-6)
    assert result.trace.logits is None and result.trace.final_embeddings.shape[0] == 2


def test_on_epoch_returning_false_stops_the_fit():
    graph = make_sbm_graph([8, 8], p_in=0.6, p_out=0.05, seed=0)
    calls = []
    result = fit_graph(graph, FitSettings(cluster_counts=[2], epochs=50), on_epoch=lambda e, n, m: calls.append(e) or e < 3)
    assert calls == [1, 2, 3] and len(result.history) == 3


def test_fit_is_deterministic_by_seed():
    graph = make_sbm_graph([12, 12], p_in=0.5, p_out=0.05, seed=0)
    first = fit_graph(graph, FitSettings(cluster_counts=[2], epochs=20, seed=5)).trace.levels[0].assignment
    second = fit_graph(graph, FitSettings(cluster_counts=[2], epochs=20, seed=5)).trace.levels[0].assignment
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_positional_features_are_orthogonal_and_scaled():
    graph = make_sbm_graph([20, 20], p_in=0.4, p_out=0.05, seed=0)
    features = positional_features(graph.sparse_adjacency(), 8, seed=0)
    gram = features.T @ features / graph.num_nodes
    np.testing.assert_allclose(gram, np.eye(8), atol=1e-4)


@pytest.mark.parametrize(
    "settings, message",
    [(dict(cluster_counts=[1]), "cluster_counts"), (dict(cluster_counts=[]), "cluster_counts"), (dict(epochs=0), "epochs")],
)
def test_invalid_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        FitSettings(**settings)


def test_a_single_node_graph_is_refused_with_its_name():
    with pytest.raises(ValueError, match="tiny.txt"):
        fit_graph(Graph(num_nodes=1, edges=np.zeros((0, 2)), name="tiny.txt"))
