"""Self-supervised single-graph fit: beats spectral / Leiden on a small LFR graph, recovers a planted
two-level hierarchy, builds traces with core.model.trace's meanings, says when a level failed."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from core.analysis.agreement import agreement
from core.analysis.clustering import spectral_clusters
from core.train.fit import (
    FitSettings,
    _LevelGraph,
    fit_graph,
    kmeans,
    level_trace,
    link_loss,
    positional_features,
)
from core.data.graphs import Graph
from core.data.synthetic import make_large_sbm_graph, make_sbm_graph, make_synthetic_hierarchy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _nmi(a, b) -> float:
    return agreement(np.asarray(a), np.asarray(b))["nmi"]


@pytest.fixture(scope="module")
def small_lfr():
    """LFR graph, n = 250, μ = 0.3 (the networkx generator's first converging seed from 10)."""
    for seed in range(10, 40):
        try:
            nxg = nx.LFR_benchmark_graph(250, 3, 1.5, 0.3, average_degree=10, min_community=20, seed=seed)
            break
        except nx.ExceededMaxIterations:
            continue
    ids: dict = {}
    truth = np.array([ids.setdefault(frozenset(nxg.nodes[v]["community"]), len(ids)) for v in range(250)])
    nxg.remove_edges_from(nx.selfloop_edges(nxg))
    return Graph.from_edge_list(250, np.array(list(nxg.edges()))), truth


@pytest.fixture(scope="module")
def small_hierarchy():
    """One planted graph: 4 groups × 3 communities of 15–20 nodes."""
    dataset = make_synthetic_hierarchy(num_graphs=3, seed=0, num_classes=3, communities_per_group=3,
                                       community_size=(15, 20), p_community=0.5, p_group=0.06, p_between=0.005)
    graph = next(g for g in dataset.graphs if g.label == 2)
    return graph, np.array(graph.node_data["community"]), np.array(graph.node_data["group"])


def _leiden_at_k(graph: Graph, k: int, seed: int) -> np.ndarray:
    """Leiden (RBConfiguration) with its resolution bisected until it returns k communities."""
    import igraph as ig
    import leidenalg

    g = ig.Graph(n=graph.num_nodes, edges=graph.edges.tolist())
    low, high, gamma, best = 1e-3, 1e3, 1.0, None
    for _ in range(40):
        labels = np.asarray(leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition,
                                                     resolution_parameter=gamma, seed=seed).membership)
        count = labels.max() + 1
        if best is None or abs(count - k) < abs(best.max() + 1 - k):
            best = labels
        if count == k:
            break
        low, high = (gamma, high) if count < k else (low, gamma)
        gamma = float(np.sqrt(low * high))
    return best


def test_one_level_fit_on_small_lfr_is_at_least_spectral_and_leiden_and_stable(small_lfr):
    graph, truth = small_lfr
    k = int(truth.max()) + 1
    ours = [_nmi(truth, fit_graph(graph, FitSettings(cluster_counts=[k], seed=s, diagnose=False))
                 .trace.levels[0].hard_assignment) for s in range(3)]
    spectral = np.median([_nmi(truth, spectral_clusters(graph, k, seed=s)) for s in range(3)])
    leiden = np.median([_nmi(truth, _leiden_at_k(graph, k, seed=s)) for s in range(3)])
    median = float(np.median(ours))
    assert median >= spectral and median >= leiden, (ours, spectral, leiden)
    assert min(ours) >= 0.9 * median


def test_two_level_fit_recovers_communities_and_groups(small_hierarchy):
    graph, communities, groups = small_hierarchy
    one = fit_graph(graph, FitSettings(cluster_counts=[12], seed=0, diagnose=False))
    two = fit_graph(graph, FitSettings(cluster_counts=[12, 4], seed=0))
    first, second = two.trace.levels
    level1 = _nmi(communities, first.hard_assignment)
    assert level1 >= 0.9 and level1 >= _nmi(communities, one.trace.levels[0].hard_assignment) - 1e-9
    composed = first.assignment @ second.assignment
    assert _nmi(groups, composed.argmax(axis=1)) >= 0.9
    # level 2 merges level-1 clusters: decided rows, every group used, nothing collapsed
    assert np.all(second.assignment.max(axis=1) > 0.5)
    assert len(np.unique(second.hard_assignment)) == 4
    assert [d["verdict"] for d in two.diagnoses] == ["healthy", "healthy"] and two.healthy


def test_fit_recovers_communities_of_a_sparse_sbm_beyond_the_dense_eigen_path():
    graph = make_large_sbm_graph([200] * 4, p_in=0.06, p_out=0.002, seed=1)  # 800 nodes: Lanczos features
    result = fit_graph(graph, FitSettings(cluster_counts=[4], seed=0, diagnose=False))
    assert _nmi(graph.node_data["block"], result.trace.levels[0].hard_assignment) >= 0.95


def test_subspace_iteration_features_separate_blocks(monkeypatch):
    import core.train.fit as fit

    monkeypatch.setattr(fit, "LANCZOS_MAX_NODES", 100)  # force the large-graph path on a small graph
    graph = make_large_sbm_graph([200] * 4, p_in=0.06, p_out=0.002, seed=1)
    result = fit_graph(graph, FitSettings(cluster_counts=[4], seed=0, diagnose=False))
    assert _nmi(graph.node_data["block"], result.trace.levels[0].hard_assignment) >= 0.95


def test_level_trace_fields_mean_what_core_trace_says():
    graph = make_sbm_graph([10] * 6, p_in=0.5, p_out=0.02, seed=2)
    result = fit_graph(graph, FitSettings(cluster_counts=[6, 2], diagnose=False))
    first, second = result.trace.levels
    a, s = result.trace.adjacency, first.assignment
    assert first.assignment.shape == (60, 6) and second.assignment.shape == (6, 2)
    np.testing.assert_allclose(s.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(first.coarsened_adjacency, s.T @ a @ s, rtol=1e-4, atol=1e-4)
    expected = np.linalg.norm(a - s @ s.T) / 60**2
    assert first.link_loss == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(first.node_entropy, -(s * np.log(s + 1e-15)).sum(axis=1), atol=1e-5)
    assert first.entropy_loss == pytest.approx(float(first.node_entropy.mean()), rel=1e-6)
    np.testing.assert_allclose(first.pooled_features, s.T @ first.node_embeddings, atol=1e-4)
    assert result.trace.logits is None and result.trace.final_embeddings.shape[0] == 2
    # the training objective lives in the history, not in the trace's link_loss
    assert {"loss", "modularity", "collapse", "hard_modularity", "level"} <= set(result.history[0])


def test_link_loss_sparse_equals_dense():
    graph = make_sbm_graph([6, 7], p_in=0.6, p_out=0.1, seed=0)
    graph = Graph.from_edge_list(graph.num_nodes, np.vstack([graph.edges, [[2, 2]]]))  # with a self-loop
    s = torch.softmax(torch.randn(graph.num_nodes, 3, generator=torch.Generator().manual_seed(0)), dim=-1).numpy()
    dense = graph.dense_adjacency()
    expected = np.linalg.norm(dense - s @ s.T) / graph.num_nodes**2
    assert link_loss(graph.sparse_adjacency(), s) == pytest.approx(expected, rel=1e-5)
    assert link_loss(dense, s) == pytest.approx(expected, rel=1e-5)
    assert level_trace(graph.sparse_adjacency(), s, np.ones((13, 2), np.float32)).link_loss == pytest.approx(expected, rel=1e-5)


def test_soft_modularity_of_a_hard_assignment_equals_modularity():
    graph = make_sbm_graph([8, 9, 7], p_in=0.6, p_out=0.05, seed=4)
    labels = np.array(graph.node_data["block"])
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(labels), 3).float()
    level = _LevelGraph.from_scipy(graph.sparse_adjacency(), "cpu")
    reference = nx.community.modularity(graph.to_networkx(), [set(np.flatnonzero(labels == c)) for c in range(3)])
    assert float(level.soft_modularity(one_hot)) == pytest.approx(reference, abs=1e-5)
    assert level.hard_modularity(torch.from_numpy(labels), 3) == pytest.approx(reference, abs=1e-5)


def test_kmeans_finds_separated_centres():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [5, 5], [0, 5]], dtype=np.float32)
    points = torch.from_numpy(np.concatenate([c + 0.1 * rng.standard_normal((30, 2)) for c in centres]).astype(np.float32))
    found = kmeans(points, 3, seed=0).numpy()
    distances = np.linalg.norm(found[:, None] - centres[None], axis=-1)
    assert np.all(distances.min(axis=0) < 0.2)


def test_a_structureless_graph_is_not_called_healthy():
    graph = make_sbm_graph([60], p_in=0.1, p_out=0.0, seed=0)  # Erdős–Rényi: no communities
    result = fit_graph(graph, FitSettings(cluster_counts=[12], seed=0))
    assert len(result.diagnoses) == 1
    assert result.healthy == (result.diagnoses[0]["verdict"] == "healthy")


def test_on_epoch_returning_false_stops_the_fit():
    graph = make_sbm_graph([8, 8], p_in=0.6, p_out=0.05, seed=0)
    calls = []
    result = fit_graph(graph, FitSettings(cluster_counts=[2], epochs=50, patience=50, diagnose=False),
                       on_epoch=lambda e, n, m: calls.append(e) or e < 3)
    assert calls == [1, 2, 3] and len(result.history) == 3


def test_fit_is_deterministic_by_seed():
    graph = make_sbm_graph([12, 12], p_in=0.5, p_out=0.05, seed=0)
    first = fit_graph(graph, FitSettings(cluster_counts=[2], epochs=20, seed=5, diagnose=False)).trace.levels[0].assignment
    second = fit_graph(graph, FitSettings(cluster_counts=[2], epochs=20, seed=5, diagnose=False)).trace.levels[0].assignment
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_positional_features_have_unit_rows_and_separate_blocks():
    graph = make_sbm_graph([20, 20], p_in=0.4, p_out=0.02, seed=0)
    features = positional_features(graph.sparse_adjacency(), 2, seed=0)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    block = np.array(graph.node_data["block"])
    means = np.stack([features[block == b].mean(axis=0) for b in (0, 1)])
    assert np.linalg.norm(means[0] - means[1]) > 1.0


@pytest.mark.parametrize(
    "settings, message",
    [(dict(cluster_counts=[1]), "cluster_counts"), (dict(cluster_counts=[]), "cluster_counts"),
     (dict(cluster_counts=[4, 4]), "decrease"), (dict(epochs=0), "epochs"),
     # each of these used to fit anyway (lr 0 never moves; projection_dim 0 ended "uniform") or fail in torch
     (dict(lr=0), "lr must be a number > 0"), (dict(lr=float("nan")), "lr must be"),
     (dict(patience=0), "patience must be ≥ 1"), (dict(resolution=-1), "resolution must be a number > 0"),
     (dict(collapse_weight=-1), "collapse_weight must be a number ≥ 0"),
     (dict(projection_dim=0), "projection_dim must be ≥ 1"), (dict(kmeans_restarts=0), "kmeans_restarts"),
     (dict(seed=-1), "seed must be ≥ 0")],
)
def test_invalid_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        FitSettings(**settings)


def test_a_single_node_graph_is_refused_with_its_name():
    with pytest.raises(ValueError, match="tiny.txt"):
        fit_graph(Graph(num_nodes=1, edges=np.zeros((0, 2)), name="tiny.txt"))


def test_more_clusters_than_nodes_is_refused():
    with pytest.raises(ValueError, match="fewer than the 9"):
        fit_graph(make_sbm_graph([4, 4], p_in=0.9, p_out=0.1, seed=0), FitSettings(cluster_counts=[9]))


def test_the_fit_leaves_torch_threads_as_the_caller_set_them():
    graph = make_sbm_graph([10, 10], p_in=0.6, p_out=0.05, seed=0)
    before = torch.get_num_threads()
    fit_graph(graph, FitSettings(cluster_counts=[2], epochs=5, diagnose=False))
    assert torch.get_num_threads() == before == 1  # the one_torch_thread fixture's setting survives the fit
