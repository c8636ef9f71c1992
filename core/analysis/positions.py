"""Node sampling for big drawings, seeded 2-D positions of a graph and cluster centres from member
positions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    from core.data.graphs import Graph
from core.analysis.assignments import _as_assignment
from core.analysis.clustering import _regularized_normalized_adjacency, _top_eigenvectors

#: Layouts up to this many nodes use networkx's spring layout; larger ones a spectral layout.
SPRING_LAYOUT_MAX_NODES = 2000


# ====================================================================== 5. layout
def _to_unit_box(positions: np.ndarray) -> np.ndarray:
    """Centre on the bounding box and scale uniformly so every coordinate lies in [-1, 1]."""
    if positions.shape[0] == 0:
        return positions.astype(np.float32)
    centred = positions - (positions.max(axis=0) + positions.min(axis=0)) / 2
    extent = np.abs(centred).max()
    if extent > 0:
        centred = centred / extent
    return np.clip(centred, -1.0, 1.0).astype(np.float32)


def layout_positions(adjacency, seed: int = 0, weights: bool = True) -> np.ndarray:
    """Deterministic 2-D node positions for drawing a graph, in [-1, 1].

    adjacency: [n, n] dense numpy array or scipy sparse matrix (symmetric; weights used as
    spring strengths when ``weights``). Up to ``SPRING_LAYOUT_MAX_NODES`` (2000) nodes:
    ``networkx.spring_layout(seed=seed)``. Larger graphs: a spectral layout (eigenvectors 2 and
    3 of the regularized normalized adjacency, via ``eigsh`` on a sparse operator), ~1 s for 100k
    nodes; coarser-looking, but fast and deterministic.

    Returns float32 [n, 2], same seed → same positions.

    >>> layout_positions(np.array([[0, 1], [1, 0]])).shape
    (2, 2)
    """
    if sp.issparse(adjacency):
        matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    else:
        dense = np.asarray(adjacency, dtype=np.float64)
        if dense.ndim != 2:
            raise ValueError(f"adjacency must be a square [n, n] matrix, got shape {dense.shape}")
        matrix = sp.csr_matrix(dense)
    n = matrix.shape[0]
    if matrix.shape != (n, n):
        raise ValueError(f"adjacency must be square, got shape {matrix.shape}")
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n == 1:
        return np.zeros((1, 2), dtype=np.float32)
    matrix = matrix.maximum(matrix.T)  # layouts need symmetry; take the stronger direction
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    if not weights:
        matrix.data[:] = 1.0
    else:
        matrix.data = np.abs(matrix.data)

    if n <= SPRING_LAYOUT_MAX_NODES:
        import networkx as nx

        graph = nx.from_scipy_sparse_array(matrix)
        positions = nx.spring_layout(graph, seed=seed, weight="weight" if weights else None)
        coords = np.array([positions[i] for i in range(n)], dtype=np.float64)
    else:
        operator, inv_sqrt = _regularized_normalized_adjacency(matrix, regularization=1.0)
        vectors = _top_eigenvectors(operator, n, 3, seed)
        # D^{-1/2} v are the random-walk eigenvectors; skip the trivial first one
        coords = inv_sqrt[:, None] * vectors[:, 1:3]
    return _to_unit_box(coords)


def sample_nodes(graph: "Graph", max_nodes: int, seed: int = 0) -> np.ndarray:
    """A deterministic node sample of a huge graph for drawing: hubs and their neighbourhoods.

    Repeatedly takes the highest-degree nodes not yet chosen (a batch of about max_nodes / 20
    hubs), then fills the budget with their neighbours, highest degree first; ties are broken by
    a permutation drawn from ``seed``. Draw ``graph.subgraph(sample_nodes(...))``.

    graph: a Graph with N nodes; max_nodes: sample size m. Returns sorted int64 [min(m, N)].

    >>> from core.data.graphs import Graph
    >>> sample_nodes(Graph.from_edge_list(6, [(0, 1), (0, 2), (0, 3), (3, 4), (1, 5)]), 3).tolist()
    [0, 1, 3]
    """
    n = graph.num_nodes
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    if n <= max_nodes:
        return np.arange(n, dtype=np.int64)
    adjacency = graph.sparse_adjacency()
    degree = graph.degrees()
    tie_break = np.random.default_rng(seed).permutation(n)
    by_priority = np.lexsort((tie_break, -degree))  # highest degree first, seeded ties
    priority = np.empty(n, dtype=np.int64)
    priority[by_priority] = np.arange(n)

    chosen = np.zeros(n, dtype=bool)
    count = 0
    hubs_per_round = max(1, max_nodes // 20)
    cursor = 0
    while count < max_nodes:
        while cursor < n and chosen[by_priority[cursor]]:
            cursor += 1
        if cursor >= n:
            break
        hubs = []
        while cursor < n and len(hubs) < min(hubs_per_round, max_nodes - count):
            node = by_priority[cursor]
            if not chosen[node]:
                hubs.append(node)
            cursor += 1
        hubs = np.array(hubs, dtype=np.int64)
        chosen[hubs] = True
        count += hubs.size
        neighbours = np.unique(adjacency[hubs].indices)
        neighbours = neighbours[~chosen[neighbours]]
        take = neighbours[np.argsort(priority[neighbours])][: max_nodes - count]
        chosen[take] = True
        count += take.size
    return np.flatnonzero(chosen).astype(np.int64)


def cluster_positions(node_positions, assignment) -> np.ndarray:
    """Where to draw each cluster of a coarsened graph: the mass-weighted mean of its nodes.

    node_positions: [n, 2]; assignment: [n, k]. Returns float32 [k, 2] with
    pos_k = Σ_i S_ik p_i / Σ_i S_ik. Clusters with (almost) no mass are placed evenly on a small
    circle around the centre of the nodes, so they stay visible without hiding real clusters.

    >>> cluster_positions([[0.0, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    positions = np.asarray(node_positions, dtype=np.float64)
    matrix = _as_assignment(assignment)
    if positions.ndim != 2 or positions.shape[0] != matrix.shape[0]:
        raise ValueError(
            f"node_positions must be [n, dim] with n = {matrix.shape[0]} (the assignment's rows), got {positions.shape}"
        )
    mass = matrix.sum(axis=0)
    empty = mass <= 1e-9
    result = np.zeros((matrix.shape[1], positions.shape[1]))
    result[~empty] = (matrix[:, ~empty].T @ positions) / mass[~empty, None]
    if empty.any():
        centre = positions.mean(axis=0) if positions.shape[0] else np.zeros(positions.shape[1])
        spread = float(np.ptp(positions, axis=0).max()) if positions.shape[0] else 0.0
        radius = 0.1 * spread if spread > 0 else 0.1
        angles = 2 * np.pi * np.arange(int(empty.sum())) / max(int(empty.sum()), 1)
        ring = np.zeros((angles.size, positions.shape[1]))
        ring[:, 0] = np.cos(angles)
        if positions.shape[1] > 1:
            ring[:, 1] = np.sin(angles)
        result[empty] = centre + radius * ring
    return result.astype(np.float32)
