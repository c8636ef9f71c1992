"""Where to draw things: node positions of a graph and of its coarsened clusters (pure numpy/scipy).

Views draw; this module decides positions, so the maths is tested without a browser.

- :func:`graph_layout`: positions of a graph's nodes. Small components (up to
  :data:`SPRING_MAX_NODES` nodes) get networkx's spring layout; larger ones *pivot MDS*
  (Brandes & Pich 2006): breadth-first distances from a few pivot nodes, double-centred, and the
  top two singular vectors, i.e. classical multidimensional scaling of graph distances
  approximated through the pivots. It keeps a large graph's overall shape (a protein's elongated
  or globular fold) where a spectral layout folds it into a knot, and costs O(pivots · edges):
  about 0.1 s for D&D's largest graph (5,748 nodes). Components are laid out one by one and
  packed in rows, largest first, each scaled to √(its node count).
- :func:`cluster_layout`: positions of a level's clusters: at the mass-weighted centre of their
  members, then pushed apart until no two footprints (marker and label) overlap.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

#: Components up to this many nodes get the spring layout; larger ones pivot MDS.
SPRING_MAX_NODES = 150  # spring costs ~0.27 s at 200 nodes, ~0.5 s at 340; pivot MDS ~0.05 s
#: Pivots of pivot MDS (more = closer to full MDS, linearly slower).
MDS_PIVOTS = 48


def _symmetric_csr(adjacency) -> sp.csr_matrix:
    matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    n = matrix.shape[0]
    if matrix.ndim != 2 or matrix.shape != (n, n):
        raise ValueError(f"adjacency must be a square [n, n] matrix, got shape {matrix.shape}")
    matrix = abs(matrix).maximum(abs(matrix).T).tocsr()
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    return matrix


def to_unit_box(coords: np.ndarray) -> np.ndarray:
    """Centre ``coords`` [n, 2] and scale them uniformly so the larger extent spans [-1, 1]."""
    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) == 0:
        return coords.reshape(0, 2)
    centre = (coords.max(axis=0) + coords.min(axis=0)) / 2
    spread = coords - centre
    extent = float(np.abs(spread).max())
    return spread / extent if extent > 1e-12 else spread


def pivot_mds(adjacency, num_pivots: int = MDS_PIVOTS, seed: int = 0) -> np.ndarray:
    """float64 [n, 2] pivot-MDS positions of a *connected* graph (hop distances; weights ignored).

    Pivots: the first at random (``seed``), each next the node farthest from those chosen (max-min
    sampling, which spreads them over the graph). With ``C`` the [n, k] squared distances to the
    pivots, double-centred, the positions are the top two left singular vectors of ``C`` scaled by
    their singular values.
    """
    matrix = _symmetric_csr(adjacency)
    n = matrix.shape[0]
    if n <= 2:
        return np.column_stack([np.arange(n, dtype=np.float64), np.zeros(n)])
    k = int(min(num_pivots, n))
    rng = np.random.default_rng(seed)
    pivots = [int(rng.integers(n))]
    distances = np.empty((k, n))
    nearest = np.full(n, np.inf)
    for j in range(k):
        distances[j] = csgraph.shortest_path(matrix, unweighted=True, indices=pivots[j])
        if not np.isfinite(distances[j]).all():
            raise ValueError("pivot_mds needs a connected graph; lay out each component separately (graph_layout)")
        nearest = np.minimum(nearest, distances[j])
        if j + 1 < k:
            pivots.append(int(np.argmax(nearest)))
    squared = distances.T ** 2  # [n, k]
    centred = squared - squared.mean(axis=0, keepdims=True) - squared.mean(axis=1, keepdims=True) + squared.mean()
    centred *= -0.5
    # top two singular pairs through the small [k, k] Gram matrix: Cᵀ C = V Σ² Vᵀ, so C V = U Σ
    # (einsum, not BLAS: on a busy machine a threaded BLAS took 0.7 s for this [k, n] × [n, k] product)
    values, vectors = np.linalg.eigh(np.einsum("ij,ik->jk", centred, centred))
    coords = np.einsum("ij,jk->ik", centred, vectors[:, ::-1][:, :2])
    # fix the signs (an SVD's are arbitrary): the largest-magnitude coordinate of each axis positive
    signs = np.sign(coords[np.abs(coords).argmax(axis=0), [0, 1]])
    return coords * np.where(signs == 0, 1.0, signs)


def _spring(matrix: sp.csr_matrix, seed: int) -> np.ndarray:
    import networkx as nx

    graph = nx.from_scipy_sparse_array(matrix)
    positions = nx.spring_layout(graph, seed=seed, weight="weight")
    return np.array([positions[i] for i in range(matrix.shape[0])], dtype=np.float64)


def graph_layout(adjacency, seed: int = 0) -> np.ndarray:
    """float32 [n, 2] positions in [-1, 1] for drawing a graph; the same ``seed`` gives the same positions.

    ``adjacency``: [n, n] dense or scipy sparse (symmetrised; self-loops ignored). Each connected
    component is laid out alone (spring layout up to :data:`SPRING_MAX_NODES` nodes, pivot MDS
    beyond), scaled to √(its size) and packed in rows, largest first.

    >>> graph_layout(np.array([[0, 1], [1, 0]])).shape
    (2, 2)
    """
    matrix = _symmetric_csr(adjacency)
    n = matrix.shape[0]
    if n <= 1:
        return np.zeros((n, 2), dtype=np.float32)
    count, labels = csgraph.connected_components(matrix, directed=False)
    members = [np.flatnonzero(labels == c) for c in range(count)]
    members.sort(key=lambda m: (-len(m), int(m[0])))
    boxes = []
    for nodes in members:
        sub = matrix[nodes][:, nodes]
        if len(nodes) == 1:
            local = np.zeros((1, 2))
        elif len(nodes) <= SPRING_MAX_NODES:
            local = _spring(sub, seed)
        else:
            local = pivot_mds(sub, seed=seed)
        boxes.append(to_unit_box(local) * np.sqrt(len(nodes)))  # area ∝ node count
    coords = np.zeros((n, 2))
    # shelf packing: rows as wide as the largest component (at least), components left to right
    width = max(2.0 * np.sqrt(len(members[0])), np.sqrt(sum(4.0 * len(m) for m in members)))
    x = y = row_height = 0.0
    for nodes, box in zip(members, boxes):
        size = 2.0 * np.sqrt(len(nodes)) + 1.0  # the box's extent plus a gap
        if x > 0 and x + size > width:
            x, y, row_height = 0.0, y - row_height, 0.0
        coords[nodes] = box + np.array([x + size / 2, y - size / 2])
        x += size
        row_height = max(row_height, size)
    return to_unit_box(coords).astype(np.float32)


def cluster_centres(member_positions: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """float64 [C, 2] mass-weighted centre of each cluster: Σᵢ Sᵢₖ pᵢ / Σᵢ Sᵢₖ (origin for an empty one).

    member_positions: [n, 2]; assignment: S [n, C].
    """
    weights = np.asarray(assignment, dtype=np.float64)
    mass = weights.sum(axis=0)
    centres = weights.T @ np.asarray(member_positions, dtype=np.float64)
    return np.divide(centres, mass[:, None], out=np.zeros_like(centres), where=mass[:, None] > 1e-12)


def separate(positions: np.ndarray, radius: np.ndarray | float, iterations: int = 300,
             bound: float = 1.0) -> np.ndarray:
    """Move discs apart until none overlap (or ``iterations`` run out), staying within [-bound, bound]².

    positions: [m, 2] disc centres; radius: scalar or [m]. Each step pushes every overlapping pair
    apart along the line between them (by their overlap, shared equally); coinciding centres are
    split along a fixed direction per pair, so the result is deterministic.
    """
    pos = np.array(positions, dtype=np.float64).reshape(-1, 2)
    m = len(pos)
    radii = np.broadcast_to(np.asarray(radius, dtype=np.float64), (m,))
    if m < 2:
        return np.clip(pos, -bound, bound)
    # One entry per pair i < j (not [m, m] matrices): a graph switch lays out a level of 32 clusters
    # in ~300 steps, and the pair list roughly halves the work of each step.
    first, second = np.triu_indices(m, 1)
    need = radii[first] + radii[second]
    angle = first * 2.399 + second
    fallback = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # golden-angle directions
    low, high = -bound + radii[:, None], bound - radii[:, None]
    inside = bool((radii < bound).all())
    for _ in range(iterations):
        delta = pos[first] - pos[second]  # [P, 2], i minus j
        distance = np.sqrt(np.einsum("pk,pk->p", delta, delta))
        overlap = need - distance
        pushed = overlap > 0
        if not pushed.any() or overlap.max() <= 1e-9:
            break
        delta, distance, amount = delta[pushed], distance[pushed], overlap[pushed] * 0.5
        apart = distance > 1e-9
        direction = fallback[pushed]
        direction[apart] = delta[apart] / distance[apart, None]
        push = direction * amount[:, None]
        for axis in (0, 1):
            pos[:, axis] += (np.bincount(first[pushed], push[:, axis], minlength=m)
                             - np.bincount(second[pushed], push[:, axis], minlength=m))
        if inside:
            pos = np.clip(pos, low, high)
    return pos


def cluster_layout(member_positions: np.ndarray, assignment: np.ndarray, shown: np.ndarray | None = None,
                   footprint: float = 0.2) -> np.ndarray:
    """float64 [C, 2] positions of a level's clusters in [-1, 1], no two shown ones overlapping.

    Starts from :func:`cluster_centres` stretched to fill [-1, 1] (soft clusters crowd the middle),
    then :func:`separate` with a footprint radius of ``footprint`` (marker plus label, in plot
    units of a [-1, 1] box) or less when many clusters must share the box. ``shown`` (bool [C])
    marks the clusters that will be drawn; hidden ones keep their centre and take no room.
    """
    centres = cluster_centres(member_positions, assignment)
    k = len(centres)
    shown = np.ones(k, dtype=bool) if shown is None else np.asarray(shown, dtype=bool)
    result = centres.copy()
    if shown.any():
        result[shown] = to_unit_box(centres[shown]) * 0.9
        count = int(shown.sum())
        radius = min(footprint, 0.9 / np.sqrt(count))  # m discs of radius r fill ≲ 60 % of the box
        result[shown] = separate(result[shown], radius)
    return result
