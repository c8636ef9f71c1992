"""core.analysis.layout: graph layouts that keep a large graph's shape, clusters that do not overlap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse import csgraph

from core.analysis.layout import SPRING_MAX_NODES, cluster_layout, graph_layout, pivot_mds, separate


def _grid(rows: int, cols: int) -> sp.csr_matrix:
    """A rows × cols lattice: its true shape is a long rectangle."""
    index = np.arange(rows * cols).reshape(rows, cols)
    edges = np.concatenate([np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], 1),
                            np.stack([index[:-1].ravel(), index[1:].ravel()], 1)])
    matrix = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(rows * cols,) * 2)
    return (matrix + matrix.T).tocsr()


def test_pivot_mds_keeps_a_large_graphs_shape():
    grid = _grid(10, 60)  # 600 nodes: above the spring-layout limit
    assert grid.shape[0] > SPRING_MAX_NODES
    coords = graph_layout(grid)
    extent = coords.max(axis=0) - coords.min(axis=0)
    assert max(extent) / min(extent) > 4  # a 10 × 60 strip stays a strip (a spectral knot would not)
    hops = csgraph.shortest_path(grid, unweighted=True, indices=[0, 300, 599])
    drawn = np.linalg.norm(coords[[0, 300, 599]][:, None, :] - coords[None], axis=-1)
    assert np.corrcoef(hops.ravel(), drawn.ravel())[0, 1] > 0.95  # drawn distance follows graph distance


def test_layout_is_deterministic_and_in_the_unit_box():
    grid = _grid(8, 70)
    first, second = graph_layout(grid, seed=3), graph_layout(grid, seed=3)
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and np.abs(first).max() <= 1.0 + 1e-6


def test_components_are_packed_apart():
    matrix = sp.block_diag([_grid(3, 4), _grid(20, 30), _grid(2, 2)]).tocsr()
    coords = graph_layout(matrix)
    _, labels = csgraph.connected_components(matrix, directed=False)
    boxes = [(coords[labels == c].min(axis=0), coords[labels == c].max(axis=0)) for c in range(3)]
    for a in range(3):
        for b in range(a + 1, 3):
            (lo_a, hi_a), (lo_b, hi_b) = boxes[a], boxes[b]
            assert (hi_a < lo_b).any() or (hi_b < lo_a).any()  # bounding boxes do not intersect


def test_pivot_mds_refuses_a_disconnected_graph():
    with pytest.raises(ValueError, match="connected"):
        pivot_mds(sp.block_diag([_grid(2, 2), _grid(2, 2)]).tocsr())


def test_clusters_at_the_same_centre_are_pushed_apart_without_overlap():
    rng = np.random.default_rng(0)
    members = rng.normal(size=(120, 2)) * 0.01  # every cluster's members at the same spot
    assignment = rng.dirichlet(np.ones(12) * 0.3, size=120)
    shown = np.ones(12, dtype=bool)
    shown[[3, 7]] = False
    coords = cluster_layout(members, assignment, shown, footprint=0.2)
    drawn = coords[shown]
    gaps = np.linalg.norm(drawn[:, None] - drawn[None], axis=-1) + np.eye(len(drawn)) * 9
    assert gaps.min() >= 2 * 0.2 - 1e-6 and np.abs(drawn).max() <= 1.0 + 1e-6
    np.testing.assert_array_equal(coords, cluster_layout(members, assignment, shown, footprint=0.2))


def test_separate_leaves_well_spaced_discs_alone():
    spaced = np.array([[-0.8, 0.0], [0.0, 0.0], [0.8, 0.0]])
    np.testing.assert_array_equal(separate(spaced, 0.2), spaced)
