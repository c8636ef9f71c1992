"""core.model.inference: the trace's pre-softmax scores, feature names, the link reconstruction error."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from core.data.features import FeatureSpec
from core.model.inference import (
    feature_names,
    level_scores,
    link_reconstruction_error,
    node_features,
    trace_graphs,
)
from core.model.diffpool import DiffPool, DiffPoolConfig
from core.data.synthetic import make_sbm_graph


def _graphs():
    return [make_sbm_graph([6, 7, 5], p_in=0.7, p_out=0.05, seed=s) for s in range(3)]


@pytest.mark.parametrize("variant", ["diffpool", "diffpool-nolp"])
def test_trace_scores_are_the_logits_behind_every_levels_assignment(one_torch_thread, variant):
    spec = FeatureSpec("degree", max_degree=10)
    torch.manual_seed(0)
    model = DiffPool(DiffPoolConfig(input_dim=spec.dim, num_classes=2, variant=variant, num_pooling=2,
                                    cluster_counts=[5, 2]))
    for trace in trace_graphs(model, _graphs(), spec):  # padded together: scores must be cut to real nodes
        for level in trace.levels:
            scores = level.assignment_scores
            assert scores is not None and scores.shape == level.assignment.shape
            softmax = np.exp(scores - scores.max(axis=1, keepdims=True))
            softmax /= softmax.sum(axis=1, keepdims=True)
            np.testing.assert_allclose(softmax, level.assignment, atol=1e-5)
            assert level_scores(level)[1] is True


def test_fixed_assignments_have_no_scores_and_log_s_stands_in(one_torch_thread):
    spec = FeatureSpec("degree", max_degree=10)
    torch.manual_seed(0)
    model = DiffPool(DiffPoolConfig(input_dim=spec.dim, num_classes=2, variant="random", num_pooling=1,
                                    cluster_counts=[4]))
    level = trace_graphs(model, _graphs()[:1], spec)[0].levels[0]
    assert level.assignment_scores is None
    scores, recorded = level_scores(level)
    assert not recorded
    # softmax(log S) = S where S > 0 (log-sum-exp of each row is 0)
    positive = level.assignment > 1e-6
    np.testing.assert_allclose(np.exp(scores)[positive], level.assignment[positive], rtol=1e-4)


def test_feature_names_match_the_built_columns():
    graph = _graphs()[0]
    for spec in (FeatureSpec("degree", max_degree=4), FeatureSpec("constant"),
                 FeatureSpec("degree+spectral", max_degree=3, spectral_dim=2)):
        features, names = node_features(spec, graph)
        assert len(names) == features.shape[1] == spec.dim and len(set(names)) == len(names)
    degree = FeatureSpec("degree", max_degree=4)
    features, names = node_features(degree, graph)
    # the one-hot column named deg=d is set exactly for the nodes of degree d
    for d in range(4):
        np.testing.assert_array_equal(features[:, names.index(f"deg={d}")] == 1, graph.degrees() == d)
    assert feature_names(degree, 8)[-2:] == ["x6", "x7"]


def test_link_error_sparse_equals_dense():
    rng = np.random.default_rng(0)
    adjacency = sp.random(30, 30, density=0.2, random_state=0, format="csr")
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    assignment = rng.dirichlet(np.ones(4), size=30)
    dense = link_reconstruction_error(adjacency.toarray(), assignment)
    sparse = link_reconstruction_error(adjacency, assignment)
    np.testing.assert_allclose(sparse, dense, rtol=1e-9)
    expected = np.linalg.norm(adjacency.toarray() - assignment @ assignment.T)
    assert dense[0] == pytest.approx(expected) and dense[1] == pytest.approx(expected / 900)


def test_a_large_graph_traces_with_its_sparse_adjacency_and_the_same_link_loss(one_torch_thread):
    """Above DENSE_TRACE_MAX_NODES (sparse batch) the trace keeps A as CSR: the graph's own matrix, and
    ‖A − SSᵀ‖/n² equal to the dense computation; a small graph's stays a dense array."""
    from core.model.trace import DENSE_TRACE_MAX_NODES
    from tests.graphs import random_graph

    big = random_graph(DENSE_TRACE_MAX_NODES + 50, seed=1, p=4.0 / DENSE_TRACE_MAX_NODES)
    small = random_graph(40, seed=2)
    torch.manual_seed(0)
    model = DiffPool(DiffPoolConfig(input_dim=4, num_classes=2, hidden_dim=8, embedding_dim=8, assign_hidden_dim=8,
                                    max_nodes=big.num_nodes, cluster_counts=[6], num_pooling=1))
    spec = FeatureSpec("attributes", attribute_dim=4)
    big_trace, small_trace = trace_graphs(model, [big, small], spec)
    assert sp.issparse(big_trace.adjacency) and isinstance(small_trace.adjacency, np.ndarray)
    assert abs(big_trace.adjacency - big.sparse_adjacency()).sum() == 0
    np.testing.assert_array_equal(small_trace.adjacency, small.dense_adjacency())
    dense, s = big.dense_adjacency().astype(np.float64), big_trace.levels[0].assignment.astype(np.float64)
    expected = np.linalg.norm(dense - s @ s.T) / big.num_nodes ** 2
    assert big_trace.levels[0].link_loss == pytest.approx(expected, rel=1e-4)
