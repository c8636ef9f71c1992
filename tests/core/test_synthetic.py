"""Synthetic graphs with planted hierarchies and SBM graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from core.data.synthetic import make_sbm_graph, make_synthetic_hierarchy


@pytest.fixture(scope="module")
def dataset():
    return make_synthetic_hierarchy(num_graphs=60, seed=0)


def test_same_seed_gives_identical_graphs():
    first, second = make_synthetic_hierarchy(num_graphs=12, seed=3), make_synthetic_hierarchy(num_graphs=12, seed=3)
    for a, b in zip(first.graphs, second.graphs):
        np.testing.assert_array_equal(a.edges, b.edges)
        assert a.label == b.label and a.node_data == b.node_data


def test_different_seed_gives_different_graphs():
    first, second = make_synthetic_hierarchy(num_graphs=12, seed=0), make_synthetic_hierarchy(num_graphs=12, seed=1)
    assert any(
        a.num_nodes != b.num_nodes or not np.array_equal(a.edges, b.edges) for a, b in zip(first.graphs, second.graphs)
    )


def test_classes_are_balanced_and_mean_number_of_groups(dataset):
    assert dataset.name == "synthetic-hierarchy" and dataset.num_classes == 3
    assert np.bincount(dataset.labels).tolist() == [20, 20, 20]
    for graph in dataset.graphs:
        groups, communities = graph.node_data["group"], graph.node_data["community"]
        assert sorted(set(groups)) == list(range(graph.label + 2))
        assert sorted(set(communities)) == list(range(2 * (graph.label + 2)))
        assert all(c // 2 == g for c, g in zip(communities, groups))


def test_graphs_are_small_connected_and_shuffled(dataset):
    sizes = [graph.num_nodes for graph in dataset.graphs]
    assert 24 <= min(sizes) and max(sizes) <= 80
    assert all(nx.is_connected(graph.to_networkx()) for graph in dataset.graphs)
    # Node order is shuffled: communities are not laid out in contiguous blocks.
    assert any(graph.node_data["community"] != sorted(graph.node_data["community"]) for graph in dataset.graphs)
    assert all(graph.node_labels is None and graph.node_attributes is None for graph in dataset.graphs)


def _density(graph, key: str) -> tuple[float, float]:
    """(edge density inside blocks of node_data[key], density between them)."""
    block = np.asarray(graph.node_data[key])
    adjacency = graph.dense_adjacency() > 0
    same = block[:, None] == block[None, :]
    np.fill_diagonal(same, False)
    different = block[:, None] != block[None, :]
    return adjacency[same].mean(), adjacency[different].mean()


def test_planted_communities_and_groups_are_denser_inside(dataset):
    for graph in dataset.graphs:
        inside, outside = _density(graph, "community")
        assert inside > 0.4 > 0.2 > outside
        inside_group, between_groups = _density(graph, "group")
        assert inside_group > 2 * between_groups


def test_sbm_graph_has_blocks_and_is_deterministic():
    graph = make_sbm_graph([10, 15, 5], p_in=0.8, p_out=0.05, seed=7)
    assert graph.num_nodes == 30 and graph.node_data["block"] == [0] * 10 + [1] * 15 + [2] * 5
    np.testing.assert_array_equal(graph.edges, make_sbm_graph([10, 15, 5], 0.8, 0.05, seed=7).edges)
    inside, outside = _density(graph, "block")
    assert inside > 0.6 and outside < 0.15
    complete = make_sbm_graph([4, 4], p_in=1.0, p_out=0.0, seed=0)
    assert complete.num_edges == 12


def test_sbm_shuffle_keeps_block_sizes():
    graph = make_sbm_graph([5, 5, 5], p_in=0.9, p_out=0.0, seed=1, shuffle=True)
    assert np.bincount(graph.node_data["block"]).tolist() == [5, 5, 5]
    assert graph.node_data["block"] != sorted(graph.node_data["block"])
    blocks = np.asarray(graph.node_data["block"])
    assert np.all(blocks[graph.edges[:, 0]] == blocks[graph.edges[:, 1]])


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="community_size"):
        make_synthetic_hierarchy(num_graphs=3, community_size=(5, 2))
