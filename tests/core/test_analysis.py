"""Tests for core/analysis/: numbers checked against references (networkx, sklearn, closed forms)."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core import analysis
from core.data.graphs import Graph
from core.model.trace import GraphTrace, LevelTrace


# ---------------------------------------------------------------------- fixtures
def random_assignment(rng: np.random.Generator, n: int, k: int, sharpness: float = 3.0) -> np.ndarray:
    logits = sharpness * rng.normal(size=(n, k))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def level(assignment: np.ndarray) -> LevelTrace:
    k = assignment.shape[1]
    return LevelTrace(
        assignment=assignment.astype(np.float32),
        coarsened_adjacency=np.zeros((k, k), dtype=np.float32),
        pooled_features=np.zeros((k, 2), dtype=np.float32),
        node_embeddings=np.zeros((assignment.shape[0], 2), dtype=np.float32),
        node_entropy=analysis.node_entropy(assignment).astype(np.float32),
        link_loss=0.0,
        entropy_loss=0.0,
    )


def trace(levels: list[LevelTrace]) -> GraphTrace:
    return GraphTrace(levels=levels, adjacency=None, final_embeddings=np.zeros((1, 2)), graph_embedding=np.zeros(2))


def graph_from_networkx(graph: nx.Graph) -> Graph:
    pairs = np.array(graph.edges(), dtype=np.int64).reshape(-1, 2)
    weights = [data.get("weight", 1.0) for _, _, data in graph.edges(data=True)]
    return Graph.from_edge_list(graph.number_of_nodes(), pairs, weights)


@pytest.fixture(scope="module")
def sbm() -> tuple[Graph, np.ndarray]:
    """Three clear blocks of 150 nodes (450 > 400 nodes, so spectral uses the eigsh path)."""
    sizes = [150, 150, 150]
    probabilities = [[0.1, 0.005, 0.005], [0.005, 0.1, 0.005], [0.005, 0.005, 0.1]]
    graph = nx.stochastic_block_model(sizes, probabilities, seed=0)
    truth = np.repeat(np.arange(3), sizes)
    return Graph.from_edge_list(graph.number_of_nodes(), np.array(graph.edges())), truth


@pytest.fixture(scope="module")
def karate() -> tuple[nx.Graph, Graph]:
    graph = nx.karate_club_graph()  # carries integer edge weights
    return graph, graph_from_networkx(graph)


# ---------------------------------------------------------------------- 1. assignment statistics
def test_hard_clusters_is_row_argmax():
    assignment = np.array([[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]])
    assert analysis.hard_clusters(assignment).tolist() == [1, 0, 0]
    assert analysis.hard_clusters(assignment).dtype == np.int64


def test_cluster_order_groups_clusters_and_puts_confident_nodes_first():
    rng = np.random.default_rng(0)
    assignment = random_assignment(rng, 60, 5)
    order = analysis.cluster_order(assignment)
    assert sorted(order.tolist()) == list(range(60))
    hard = assignment.argmax(axis=1)[order]
    assert np.all(np.diff(hard) >= 0), "clusters appear as contiguous blocks in index order"
    confidence = assignment.max(axis=1)[order]
    for cluster in np.unique(hard):
        assert np.all(np.diff(confidence[hard == cluster]) <= 0)


def test_node_entropy_is_log_k_for_uniform_rows_and_zero_for_one_hot():
    assert np.allclose(analysis.node_entropy(np.full((4, 7), 1 / 7)), math.log(7))
    assert np.allclose(analysis.node_entropy(np.eye(3)), 0.0)


def test_collapsed_assignment_has_one_effective_cluster():
    assignment = np.zeros((50, 8))
    assignment[:, 3] = 0.999
    assignment[:, [0, 1, 2, 4, 5, 6, 7]] = 0.001 / 7
    stats = analysis.assignment_stats(assignment)
    assert stats["effective_clusters"] == pytest.approx(1.0, abs=0.02)
    assert stats["clusters_used"] == 1
    assert stats["collapsed"] is True
    assert stats["cluster_mass"].shape == (8,)
    assert stats["cluster_mass"].sum() == pytest.approx(50)


def test_balanced_assignment_uses_all_clusters_and_is_not_collapsed():
    assignment = np.tile(np.eye(4), (5, 1))  # 20 nodes, 5 per cluster, certain
    stats = analysis.assignment_stats(assignment)
    assert stats["effective_clusters"] == pytest.approx(4.0)
    assert stats["clusters_used"] == 4
    assert stats["mean_entropy"] == pytest.approx(0.0)
    assert stats["max_entropy"] == pytest.approx(math.log(4))
    assert stats["collapsed"] is False


def test_uniform_rows_have_normalized_entropy_one():
    stats = analysis.assignment_stats(np.full((10, 5), 0.2))
    assert stats["normalized_entropy"] == pytest.approx(1.0)
    assert stats["effective_clusters"] == pytest.approx(5.0)


def test_two_cluster_split_with_one_dominant_is_collapsed_by_effective_count():
    assignment = np.zeros((100, 2))
    assignment[:95, 0] = 1
    assignment[95:, 1] = 1
    stats = analysis.assignment_stats(assignment)
    assert stats["clusters_used"] == 2
    assert stats["effective_clusters"] < 2
    assert stats["collapsed"] is True


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=st.floats(0.0, 1.0),
    )
)
def test_assignment_stats_bounds_on_random_row_stochastic_matrices(raw):
    raw = raw + 1e-6  # no all-zero rows
    assignment = raw / raw.sum(axis=1, keepdims=True)
    k = assignment.shape[1]
    stats = analysis.assignment_stats(assignment)
    assert 1.0 - 1e-9 <= stats["effective_clusters"] <= k + 1e-9
    entropy = analysis.node_entropy(assignment)
    assert np.all(entropy >= -1e-12) and np.all(entropy <= math.log(k) + 1e-9)
    assert 0.0 <= stats["normalized_entropy"] <= 1.0 + 1e-9
    assert 1 <= stats["clusters_used"] <= k


def test_assignment_with_rows_not_summing_to_one_is_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        analysis.assignment_stats(np.array([[0.5, 0.2], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="2-D"):
        analysis.node_entropy(np.array([0.5, 0.5]))


def test_top_clusters_are_sorted_by_probability():
    assignment = np.array([[0.1, 0.5, 0.15, 0.25]])
    assert analysis.top_clusters(assignment, 0, top=3) == [(1, 0.5), (3, 0.25), (2, 0.15)]
    assert len(analysis.top_clusters(assignment, 0, top=10)) == 4
    with pytest.raises(IndexError):
        analysis.top_clusters(assignment, 1)


def test_dataset_level_entropy_pools_nodes_of_all_graphs():
    rng = np.random.default_rng(1)
    first = [random_assignment(rng, n, 4) for n in (10, 7)]
    second = [random_assignment(rng, 4, 2) for _ in range(2)]
    traces = [trace([level(first[0]), level(second[0])]), trace([level(first[1])])]
    rows = analysis.dataset_level_entropy(traces)
    assert [row["level"] for row in rows] == [0, 1]
    # float32 assignments in the traces: compare at float32 precision
    entropy = np.concatenate([analysis.node_entropy(a.astype(np.float32)) for a in first])
    assert rows[0]["num_nodes"] == 17 and rows[0]["num_graphs"] == 2
    assert rows[0]["mean_entropy"] == pytest.approx(entropy.mean(), rel=1e-5)
    assert rows[0]["std_entropy"] == pytest.approx(entropy.std(), rel=1e-4)
    assert rows[0]["mean_normalized_entropy"] == pytest.approx(entropy.mean() / math.log(4), rel=1e-5)
    effective = [analysis.assignment_stats(a.astype(np.float32))["effective_clusters"] for a in first]
    assert rows[0]["mean_effective_clusters"] == pytest.approx(np.mean(effective), rel=1e-5)
    assert rows[1]["num_graphs"] == 1 and rows[1]["num_nodes"] == 4
    assert analysis.dataset_level_entropy([]) == []


# ---------------------------------------------------------------------- 2. cross-level flows
def chained_levels(rng: np.random.Generator, sizes=(30, 8, 3)) -> list[LevelTrace]:
    return [level(random_assignment(rng, n, k, sharpness=1.0)) for n, k in zip(sizes[:-1], sizes[1:])]


def flow_balance(flows: dict) -> tuple[np.ndarray, np.ndarray]:
    count = len(flows["labels"])
    inflow = np.bincount(flows["targets"], flows["values"], minlength=count)
    outflow = np.bincount(flows["sources"], flows["values"], minlength=count)
    return inflow, outflow


def test_sankey_flows_are_conserved_at_every_cluster():
    levels = chained_levels(np.random.default_rng(2), (30, 8, 3, 2))
    flows = analysis.sankey_flows(levels, min_flow=0.0)
    inflow, outflow = flow_balance(flows)
    level_of = np.array(flows["level_of_node"])
    assert np.all(level_of[:30] == 0) and len(flows["labels"]) == 30 + 8 + 3 + 2
    middle = (level_of > 0) & (level_of < 3)
    np.testing.assert_allclose(inflow[middle], outflow[middle], rtol=1e-5)
    np.testing.assert_allclose(outflow[level_of == 0], 1.0, rtol=1e-5)  # each input node is one unit
    assert inflow[level_of == 3].sum() == pytest.approx(30, rel=1e-5)


def test_sankey_max_input_nodes_merges_the_rest_into_other_nodes():
    levels = chained_levels(np.random.default_rng(3), (200, 6, 2))
    flows = analysis.sankey_flows(levels, min_flow=0.0, max_input_nodes=20)
    assert sum(1 for level_of in flows["level_of_node"] if level_of == 0) == 21
    assert flows["labels"][20] == "other nodes (180)"
    inflow, outflow = flow_balance(flows)
    assert outflow[:21].sum() == pytest.approx(200, rel=1e-5)
    assert inflow[-2:].sum() == pytest.approx(200, rel=1e-5)
    # every cluster that is some node's argmax keeps at least one example
    kept = [int(label.split()[1]) for label in flows["labels"][:20]]
    hard = levels[0].assignment.argmax(axis=1)
    assert set(hard[kept]) == set(hard)


def test_sankey_min_flow_drops_small_flows():
    levels = chained_levels(np.random.default_rng(4))
    flows = analysis.sankey_flows(levels, min_flow=0.05)
    assert min(flows["values"]) >= 0.05
    assert len(flows["sources"]) == len(flows["targets"]) == len(flows["values"])


def test_sankey_rejects_levels_that_do_not_chain():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="do not chain"):
        analysis.sankey_flows([level(random_assignment(rng, 10, 4)), level(random_assignment(rng, 5, 2))])


def test_composed_assignment_is_the_product_and_row_stochastic():
    levels = chained_levels(np.random.default_rng(6))
    composed = analysis.composed_assignment(levels)
    expected = levels[0].assignment.astype(np.float64) @ levels[1].assignment.astype(np.float64)
    np.testing.assert_allclose(composed, expected, rtol=1e-6)
    np.testing.assert_allclose(composed.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="no pooling levels"):
        analysis.composed_assignment([])


# ---------------------------------------------------------------------- 3. agreement
def test_agreement_is_one_for_relabelled_copies_and_symmetric():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 4, 100)
    relabelled = np.array([3, 0, 2, 1])[labels] + 10
    assert analysis.agreement(labels, relabelled) == {"nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}
    other = rng.integers(0, 3, 100)
    assert analysis.agreement(labels, other) == pytest.approx(analysis.agreement(other, labels))
    assert analysis.agreement(labels, other)["ari"] < 0.1
    with pytest.raises(ValueError, match="entries"):
        analysis.agreement(labels, labels[:-1])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.lists(st.integers(0, 5), min_size=n, max_size=n),
                                                      st.lists(st.integers(-2, 9), min_size=n, max_size=n))))
def test_partition_scores_are_sklearns(pair):
    """The NumPy NMI / ARI give scikit-learn's values, the degenerate labellings included (one
    cluster on either side, all singletons, one item), which hypothesis reaches at these sizes."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    a, b = (np.array(x) for x in pair)
    nmi, ari = analysis.partition_scores(a, b)
    assert nmi == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)
    assert ari == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


@pytest.mark.parametrize("a, b", [
    ([0] * 10, [0] * 10),                      # neither splits: 1, 1
    ([0] * 10, list(range(10))),               # one cluster against singletons
    (list(range(10)), list(range(10))),        # singletons both sides
    ([0, 0, 1, 1], [0, 1, 0, 1]),              # independent: NMI 0, ARI negative
    (["x", "y", "y"], ["b", "a", "a"]),        # labels that are not integers
])
def test_partition_scores_edge_cases_are_sklearns(a, b):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    assert analysis.partition_scores(a, b) == pytest.approx(
        (normalized_mutual_info_score(a, b), adjusted_rand_score(a, b)), abs=1e-12)


def test_partition_scores_on_a_large_partition_match_sklearn():
    """D&D-sized graphs: integer pair counts, no overflow or precision loss."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(3)
    a = rng.integers(0, 100, 6000)
    b = np.where(rng.random(6000) < 0.7, a // 2, rng.integers(0, 40, 6000))
    assert analysis.partition_scores(a, b) == pytest.approx(
        (normalized_mutual_info_score(a, b), adjusted_rand_score(a, b)), abs=1e-12)
    with pytest.raises(ValueError, match="6000 and 5999"):
        analysis.partition_scores(a, b[:-1])


def test_pairwise_agreement_has_one_row_per_pair():
    rng = np.random.default_rng(8)
    clusterings = {name: rng.integers(0, 3, 30) for name in "abcd"}
    rows = analysis.pairwise_agreement(clusterings)
    assert [(row["a"], row["b"]) for row in rows] == [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    assert rows[0]["nmi"] == pytest.approx(analysis.agreement(clusterings["a"], clusterings["b"])["nmi"])


# ---------------------------------------------------------------------- 4. classical clustering
def test_modularity_matches_networkx_on_weighted_karate(karate):
    nx_graph, graph = karate
    communities = nx.community.louvain_communities(nx_graph, seed=0)
    labels = np.empty(34, dtype=np.int64)
    for index, members in enumerate(communities):
        labels[list(members)] = index
    expected = nx.community.modularity(nx_graph, communities, weight="weight")
    assert analysis.modularity(graph, labels) == pytest.approx(expected, rel=1e-6)
    for resolution in (0.5, 2.0):
        expected = nx.community.modularity(nx_graph, communities, weight="weight", resolution=resolution)
        assert analysis.modularity(graph, labels, resolution=resolution) == pytest.approx(expected, rel=1e-6)


def test_modularity_counts_self_loops_like_networkx():
    nx_graph = nx.Graph([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (2, 3)])
    nx_graph.add_edge(0, 0, weight=2.0)
    nx_graph.add_edge(4, 4)
    labels = np.array([0, 0, 0, 1, 1, 1])
    expected = nx.community.modularity(nx_graph, [{0, 1, 2}, {3, 4, 5}])
    assert analysis.modularity(graph_from_networkx(nx_graph), labels) == pytest.approx(expected)


def test_conductance_matches_networkx(karate):
    nx_graph, graph = karate
    labels = np.array([0 if nx_graph.nodes[i]["club"] == "Mr. Hi" else 1 for i in range(34)])
    result = analysis.conductance(graph, labels)
    for cluster in (0, 1):
        members = set(np.flatnonzero(labels == cluster).tolist())
        assert result["per_cluster"][cluster] == pytest.approx(nx.conductance(nx_graph, members, weight="weight"))
    assert result["mean"] == pytest.approx(np.mean(list(result["per_cluster"].values())))


def test_conductance_is_nan_for_a_cluster_without_volume():
    graph = Graph.from_edge_list(4, [(0, 1), (1, 2)])  # node 3 is isolated
    result = analysis.conductance(graph, [0, 0, 1, 2])
    assert math.isnan(result["per_cluster"][2])
    assert math.isfinite(result["mean"])


def test_spectral_clusters_recover_a_clear_sbm(sbm):
    graph, truth = sbm
    labels = analysis.spectral_clusters(graph, 3, seed=0)
    assert labels.shape == (450,) and labels.dtype == np.int64
    assert analysis.agreement(truth, labels)["nmi"] >= 0.9
    assert np.array_equal(labels, analysis.spectral_clusters(graph, 3, seed=0))


def test_spectral_clusters_small_graph_uses_dense_path():
    nx_graph = nx.stochastic_block_model([20, 20], [[0.5, 0.02], [0.02, 0.5]], seed=1)
    graph = Graph.from_edge_list(40, np.array(nx_graph.edges()))
    labels = analysis.spectral_clusters(graph, 2)
    assert analysis.agreement(np.repeat([0, 1], 20), labels)["nmi"] >= 0.9


def test_spectral_clusters_handle_isolated_nodes_and_disconnected_graphs():
    parts = [nx.gnp_random_graph(150, 0.08, seed=s) for s in range(3)]
    union = nx.disjoint_union_all(parts)
    graph = Graph.from_edge_list(470, np.array(union.edges()))  # nodes 450..469 are isolated
    labels = analysis.spectral_clusters(graph, 3, seed=0)
    assert labels.shape == (470,)
    assert analysis.agreement(np.repeat(np.arange(3), 150), labels[:450])["nmi"] == pytest.approx(1.0)
    assert analysis.spectral_clusters(graph, 1).tolist() == [0] * 470
    with pytest.raises(ValueError, match="k must be"):
        analysis.spectral_clusters(graph, 0)


def test_louvain_recovers_a_clear_sbm_deterministically(sbm):
    graph, truth = sbm
    labels = analysis.louvain_clusters(graph, seed=0)
    assert analysis.agreement(truth, labels)["nmi"] >= 0.9
    assert np.array_equal(labels, analysis.louvain_clusters(graph, seed=0))
    assert labels[0] == 0


def test_louvain_resolution_reaches_igraph(karate):
    _, graph = karate
    counts = [int(analysis.louvain_clusters(graph, seed=0, resolution=r).max()) + 1 for r in (0.3, 1.0, 3.0)]
    assert counts[0] < counts[1] < counts[2]


def test_clustering_report_includes_ground_truth(sbm):
    graph, truth = sbm
    rng = np.random.default_rng(0)
    report = analysis.clustering_report(graph, {"truth copy": truth.copy(), "random": rng.integers(0, 3, 450)}, truth)
    names = [row["name"] for row in report["quality"]]
    assert names == ["truth copy", "random", "ground truth"]
    quality = {row["name"]: row for row in report["quality"]}
    assert quality["truth copy"]["num_clusters"] == 3
    assert quality["truth copy"]["modularity"] > 0.5 > quality["random"]["modularity"]
    assert quality["truth copy"]["conductance"] < quality["random"]["conductance"]
    assert len(report["agreement"]) == 3
    pair = next(row for row in report["agreement"] if {row["a"], row["b"]} == {"truth copy", "ground truth"})
    assert pair["nmi"] == pytest.approx(1.0)
    assert analysis.clustering_report(graph, {"a": truth})["agreement"] == []


# ---------------------------------------------------------------------- 5. layout
def test_layout_positions_are_deterministic_and_in_the_unit_box(karate):
    _, graph = karate
    adjacency = graph.dense_adjacency()
    positions = analysis.layout_positions(adjacency, seed=3)
    assert positions.shape == (34, 2) and positions.dtype == np.float32
    assert np.abs(positions).max() <= 1.0 + 1e-6
    assert np.array_equal(positions, analysis.layout_positions(adjacency, seed=3))
    assert not np.allclose(positions, analysis.layout_positions(adjacency, seed=4))
    np.testing.assert_allclose(positions, analysis.layout_positions(sp.csr_matrix(adjacency), seed=3), atol=1e-6)
    assert analysis.layout_positions(adjacency, weights=False).shape == (34, 2)


def test_layout_positions_of_tiny_graphs():
    assert analysis.layout_positions(np.zeros((0, 0))).shape == (0, 2)
    assert analysis.layout_positions(np.zeros((1, 1))).tolist() == [[0.0, 0.0]]


def test_layout_positions_large_graph_uses_fast_deterministic_layout():
    nx_graph = nx.connected_caveman_graph(250, 10)  # 2,500 nodes > spring limit
    nx_graph.add_nodes_from(range(2500, 2510))  # plus isolated nodes
    adjacency = nx.to_scipy_sparse_array(nx_graph, format="csr")
    positions = analysis.layout_positions(adjacency, seed=0)
    assert positions.shape == (2510, 2) and np.all(np.isfinite(positions))
    assert np.abs(positions).max() <= 1.0 + 1e-6
    assert np.array_equal(positions, analysis.layout_positions(adjacency, seed=0))


def test_sample_nodes_keeps_hubs_and_their_neighbourhoods():
    hubs = nx.star_graph(30)  # node 0 with 30 leaves
    graph_nx = nx.disjoint_union(hubs, nx.path_graph(200))
    graph = graph_from_networkx(graph_nx)
    sample = analysis.sample_nodes(graph, 40, seed=0)
    assert sample.shape == (40,) and np.all(np.diff(sample) > 0)
    assert set(range(31)) <= set(sample.tolist())  # the hub and all its leaves
    assert np.array_equal(sample, analysis.sample_nodes(graph, 40, seed=0))
    assert analysis.sample_nodes(graph, 10_000).tolist() == list(range(231))


def test_cluster_positions_are_mass_weighted_means_and_empty_clusters_sit_on_a_circle():
    positions = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assignment = np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 1.0, 0, 0], [0, 1.0, 0, 0]])
    result = analysis.cluster_positions(positions, assignment)
    assert result.shape == (4, 2)
    np.testing.assert_allclose(result[0], [1 / 3, 0.0], atol=1e-6)
    np.testing.assert_allclose(result[1], (0.5 * positions[1] + positions[2] + positions[3]) / 2.5, atol=1e-6)
    centre = positions.mean(axis=0)
    radii = np.linalg.norm(result[2:] - centre, axis=1)
    assert np.allclose(radii, radii[0]) and 0 < radii[0] < 0.5
    assert not np.allclose(result[2], result[3])


# ---------------------------------------------------------------------- 6. embeddings
def test_project_2d_falls_back_to_pca_for_few_points_and_is_deterministic():
    rng = np.random.default_rng(9)
    points = rng.normal(size=(10, 5))
    coords, used = analysis.project_2d(points, seed=0)
    assert used == "pca" and coords.shape == (10, 2) and coords.dtype == np.float32
    again, _ = analysis.project_2d(points, seed=0)
    assert np.array_equal(coords, again)
    # PCA scores reproduce the centred data's two leading singular values
    singular = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(np.linalg.norm(coords, axis=0), singular[:2], rtol=1e-5)


def test_project_2d_edge_cases():
    assert analysis.project_2d(np.ones((1, 4)))[0].tolist() == [[0.0, 0.0]]
    coords, used = analysis.project_2d(np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert used == "pca" and coords.shape == (2, 2) and np.allclose(coords[:, 1], 0)
    assert abs(coords[0, 0] - coords[1, 0]) == pytest.approx(2.0)
    one_dim, _ = analysis.project_2d(np.arange(8.0).reshape(8, 1))
    assert one_dim.shape == (8, 2) and np.allclose(one_dim[:, 1], 0)
    constant, used = analysis.project_2d(np.ones((40, 3)))
    assert used == "pca" and np.allclose(constant, 0)
    forced, used = analysis.project_2d(np.random.default_rng(0).normal(size=(40, 3)), method="pca")
    assert used == "pca" and forced.shape == (40, 2)
    with pytest.raises(ValueError, match="method"):
        analysis.project_2d(np.ones((3, 2)), method="tsne")


def test_analysis_module_does_not_import_umap_at_import_time():
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, core.analysis; print('umap' in sys.modules, 'streamlit' in sys.modules, 'plotly' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2]
    ).stdout
    assert output.strip() == "False False False"


@pytest.mark.slow
def test_project_2d_uses_umap_for_enough_points():
    rng = np.random.default_rng(10)
    points = np.vstack([rng.normal(0, 1, size=(20, 8)), rng.normal(8, 1, size=(20, 8))])
    coords, used = analysis.project_2d(points, seed=0)
    assert used == "umap" and coords.shape == (40, 2) and np.all(np.isfinite(coords))
    again, _ = analysis.project_2d(points, seed=0)
    np.testing.assert_allclose(coords, again, atol=1e-4)
    # the two well-separated blobs stay apart: centroids further apart than the blobs are wide
    first, second = coords[:20], coords[20:]
    spread = max(np.linalg.norm(first - first.mean(0), axis=1).mean(), np.linalg.norm(second - second.mean(0), axis=1).mean())
    assert np.linalg.norm(first.mean(0) - second.mean(0)) > 2 * spread


def test_leiden_clusters_recover_planted_blocks_and_are_seeded():
    from core.analysis.agreement import agreement
    from core.analysis.clustering import leiden_clusters
    from core.data.synthetic import make_sbm_graph

    graph = make_sbm_graph([20, 20, 20], p_in=0.5, p_out=0.01, seed=1)
    labels = leiden_clusters(graph, seed=0)
    assert labels[0] == 0 and labels.dtype.kind == "i"
    assert agreement(labels, graph.node_data["block"])["nmi"] >= 0.95
    np.testing.assert_array_equal(labels, leiden_clusters(graph, seed=0))


@pytest.mark.parametrize("n, d, k", [(40, 3, 5), (700, 16, 5), (1500, 64, 10), (6, 2, 5)])
def test_nearest_others_are_sklearns_neighbours(n, d, k):
    """Exact k nearest other points, nearest first, as scikit-learn's NearestNeighbors finds them
    (continuous random points: no equal distances), across the row chunks (1500 > 1024)."""
    from sklearn.neighbors import NearestNeighbors

    points = np.random.default_rng(n).normal(size=(n, d))
    _, reference = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    assert (reference[:, 0] == np.arange(n)).all()  # sklearn puts each point itself first
    assert np.array_equal(analysis.nearest_others(points, k), reference[:, 1:])


def test_nearest_others_breaks_ties_by_index_and_keeps_copies():
    points = np.array([[0.0], [1.0], [-1.0], [0.0], [2.0]])
    # point 0: its copy (3) at 0, then 1 and 2 at distance 1 (index order), never itself
    assert analysis.nearest_others(points, 3)[0].tolist() == [3, 1, 2]
    assert analysis.nearest_others(points, 4)[4].tolist() == [1, 0, 3, 2]
    with pytest.raises(ValueError, match="between 1 and 4"):
        analysis.nearest_others(points, 5)


def test_neighbour_class_agreement_separates_class_structure_from_none():
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 40)
    clustered = rng.normal(size=(120, 8)) * 0.3 + np.eye(3, 8)[labels] * 3
    ordered = analysis.neighbour_class_agreement(clustered, labels, k=5)
    assert ordered == {"accuracy": 1.0, "majority": pytest.approx(1 / 3), "k": 5}
    shuffled = analysis.neighbour_class_agreement(clustered, rng.permutation(labels), k=5)
    assert shuffled["accuracy"] < 0.5  # no structure: about chance, far from 1
    # a point never votes for itself, even among exact duplicates
    twins = np.array([[0.0], [0.0], [5.0], [5.0]])
    assert analysis.neighbour_class_agreement(twins, np.array([0, 1, 0, 1]), k=1)["accuracy"] == 0.0
    assert analysis.neighbour_class_agreement(np.zeros((2, 3)), np.array([0, 1])) is None
