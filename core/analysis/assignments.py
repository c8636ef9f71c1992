"""Statistics of one soft assignment S: hard clusters, row order, per-node entropy, mass and collapse
numbers, dataset-wide entropy per level. Shared input checks live here too."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    from core.data.graphs import Graph
    from core.model.trace import GraphTrace


#: Tolerance on row sums of an assignment (float32 softmax rows sum to 1 within ~1e-6).
ROW_SUM_TOLERANCE = 1e-3


# ====================================================================== validation helpers
def _as_assignment(assignment, name: str = "assignment") -> np.ndarray:
    """float64 [n, k] copy of a row-stochastic matrix, or a ValueError saying what is wrong."""
    array = np.asarray(assignment, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D [n, k] array with k >= 1, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf; check the model output")
    if array.size and array.min() < -ROW_SUM_TOLERANCE:
        raise ValueError(f"{name} has negative entries (min {array.min():.3g}); expected probabilities")
    sums = array.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if bad.size:
        raise ValueError(
            f"{name} rows must sum to 1 (soft assignment); row {bad[0]} sums to {sums[bad[0]]:.4g} "
            f"({bad.size} bad rows). Pass softmax outputs, without padding rows."
        )
    return np.clip(array, 0.0, None)


def _as_labels(labels, num_nodes: int | None = None, name: str = "labels") -> np.ndarray:
    """int64 [n] hard labels, checked against ``num_nodes`` when given."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of cluster ids, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError(f"{name} must hold integer cluster ids, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if num_nodes is not None and array.shape[0] != num_nodes:
        raise ValueError(f"{name} has {array.shape[0]} entries but the graph has {num_nodes} nodes")
    return array


def _entropy(probabilities: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats along ``axis``, with 0 log 0 = 0."""
    safe = np.where(probabilities > 0, probabilities, 1.0)
    return 0.0 - (probabilities * np.log(safe)).sum(axis=axis)  # 0.0 - x avoids -0.0


def _relabel_by_first_occurrence(labels: np.ndarray) -> np.ndarray:
    """Renumber cluster ids 0..c-1 in order of first appearance (node 0 is in cluster 0)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def _edge_arrays(graph: "Graph") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, weight float64) of the stored undirected edges, each pair once."""
    return graph.edges[:, 0], graph.edges[:, 1], graph.weights().astype(np.float64)


def _weighted_degrees(graph: "Graph") -> np.ndarray:
    """float64 [N] weighted degree; a self-loop counts twice (as in networkx)."""
    rows, cols, weight = _edge_arrays(graph)
    return np.bincount(rows, weight, minlength=graph.num_nodes) + np.bincount(
        cols, weight, minlength=graph.num_nodes
    )


# ====================================================================== 1. assignment statistics
def hard_clusters(assignment) -> np.ndarray:
    """Most likely cluster of each node.

    assignment: [n, k] soft assignment S. Returns int64 [n] = argmax_k S_ik (ties: lowest k).

    >>> hard_clusters([[0.2, 0.8], [0.5, 0.5]]).tolist()
    [1, 0]
    """
    return _as_assignment(assignment).argmax(axis=1).astype(np.int64)


def cluster_order(assignment) -> np.ndarray:
    """Row order for an assignment heatmap: nodes grouped by hard cluster, confident first.

    assignment: [n, k]. Returns int64 [n], a permutation of 0..n-1: all nodes of hard cluster 0,
    then of cluster 1, ...; within a cluster by decreasing max_k S_ik (ties by node index).
    ``assignment[cluster_order(assignment)]`` draws as a block staircase.

    >>> cluster_order([[0.1, 0.9], [0.6, 0.4], [0.9, 0.1]]).tolist()
    [2, 1, 0]
    """
    matrix = _as_assignment(assignment)
    hard = matrix.argmax(axis=1)
    confidence = matrix.max(axis=1)
    # lexsort sorts by the last key first; it is stable, so equal keys keep node order
    return np.lexsort((-confidence, hard)).astype(np.int64)


def node_entropy(assignment) -> np.ndarray:
    """Entropy of each node's assignment, H(S_i) = -Σ_k S_ik log S_ik, in nats.

    assignment: [n, k]. Returns float64 [n] in [0, log k]; 0 = certain, log k = uniform.

    >>> node_entropy([[1.0, 0.0], [0.5, 0.5]]).round(4).tolist()
    [0.0, 0.6931]
    """
    return _entropy(_as_assignment(assignment), axis=1)


def assignment_stats(assignment) -> dict:
    """Summary of one soft assignment, the numbers that reveal cluster collapse.

    assignment: [n, k] soft assignment S of n nodes to k clusters.

    Returns a dict:
      mean_entropy        mean_i H(S_i), nats.
      max_entropy         log k, the entropy of a uniform row.
      normalized_entropy  mean_entropy / log k in [0, 1] (0 when k = 1).
      cluster_mass        float64 [k], Σ_i S_ik (soft number of nodes per cluster).
      clusters_used       number of clusters that are the argmax of at least one node.
      effective_clusters  exp(H(mass / Σ mass)) in [1, k]: k when mass is spread evenly,
                          1 when one cluster holds everything.
      largest_share       max_k mass_k / Σ mass.
      collapsed           the diagnosis' collapse rule (:func:`core.diagnose.is_collapsed`).

    The collapse rule is the one of :mod:`core.diagnose`, so this flag never contradicts the
    verdict: collapsed when every node picks the same cluster or one cluster holds
    ≥ ``core.diagnose.COLLAPSE_SHARE`` of the mass, unless the rows are nearly uniform (then the
    level is ``uniform``, a different failure). A confident 27 / 35 split at k = 2 is *not*
    collapsed, although its mass-based effective count is below 2. A level with k = 1 is always
    collapsed (the failure reported for DiffPool in RexYing/diffpool#6 and
    pyg-team/pytorch_geometric#595).

    >>> stats = assignment_stats([[1.0, 0.0], [1.0, 0.0], [0.9, 0.1]])
    >>> stats["clusters_used"], stats["collapsed"]
    (1, True)
    """
    from core.analysis.diagnosis import is_collapsed

    matrix = _as_assignment(assignment)
    n, k = matrix.shape
    if n == 0:
        raise ValueError("assignment has no rows; statistics of an empty level are undefined")
    entropy = _entropy(matrix, axis=1)
    max_entropy = math.log(k)
    mass = matrix.sum(axis=0)
    share = mass / mass.sum()
    effective = float(np.exp(_entropy(share)))
    clusters_used = int(np.unique(matrix.argmax(axis=1)).size)
    mean_entropy = float(entropy.mean())
    return {
        "mean_entropy": mean_entropy,
        "max_entropy": max_entropy,
        "normalized_entropy": mean_entropy / max_entropy if k > 1 else 0.0,
        "cluster_mass": mass,
        "clusters_used": clusters_used,
        "effective_clusters": effective,
        "largest_share": float(share.max()),
        "collapsed": is_collapsed(mean_entropy / max_entropy if k > 1 else 0.0, float(share.max()),
                                  clusters_used, n, k),
    }


def top_clusters(assignment, i: int, top: int = 3) -> list[tuple[int, float]]:
    """The ``top`` most likely clusters of node ``i`` as (cluster, probability), best first.

    assignment: [n, k]; i: node index; top: how many (capped at k). Ties go to the lower index.

    >>> top_clusters([[0.1, 0.7, 0.2]], 0, top=2)
    [(1, 0.7), (2, 0.2)]
    """
    matrix = _as_assignment(assignment)
    if not 0 <= i < matrix.shape[0]:
        raise IndexError(f"node {i} out of range for an assignment of {matrix.shape[0]} nodes")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    clusters, probabilities = top_clusters_of_rows(matrix[i:i + 1], top)
    return [(int(c), float(q)) for c, q in zip(clusters[0], probabilities[0])]


def top_clusters_of_rows(rows, top: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Every row's ``top`` most likely clusters at once: (cluster ids int [m, t], probabilities [m, t]),
    best first, ties to the lower cluster id; ``t = min(top, k)``. No validation (hot path: a
    network's tooltips); :func:`top_clusters` is the checked form for one node.

    >>> top_clusters_of_rows(np.array([[0.1, 0.7, 0.2], [0.5, 0.0, 0.5]]), top=2)[0].tolist()
    [[1, 2], [0, 2]]
    """
    rows = np.asarray(rows, dtype=np.float64)
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    best = np.argsort(-rows, axis=1, kind="stable")[:, : min(top, rows.shape[1])]
    return best, np.take_along_axis(rows, best, axis=1)


def dataset_level_entropy(traces: Sequence["GraphTrace"]) -> list[dict]:
    """Per pooling level, entropy and collapse statistics over a whole dataset.

    traces: GraphTrace list (graphs may have different sizes; a graph without level l is skipped
    for that level). Returns one dict per level l = 0 .. max levels - 1:
      level, num_graphs, num_nodes     what was pooled,
      mean_entropy, std_entropy         of H(S_i) over all nodes of all graphs (nats),
      mean_normalized_entropy           mean over all nodes of H(S_i) / log k,
      mean_effective_clusters           mean over graphs of effective_clusters,
      collapsed_fraction                share of graphs whose level is collapsed.

    >>> dataset_level_entropy([])
    []
    """
    num_levels = max((len(trace.levels) for trace in traces), default=0)
    rows = []
    for level in range(num_levels):
        entropies, normalized, effective, collapsed = [], [], [], []
        for trace in traces:
            if level >= len(trace.levels):
                continue
            matrix = _as_assignment(trace.levels[level].assignment, f"levels[{level}].assignment")
            if matrix.shape[0] == 0:
                continue
            entropy = _entropy(matrix, axis=1)
            k = matrix.shape[1]
            entropies.append(entropy)
            normalized.append(entropy / math.log(k) if k > 1 else np.zeros_like(entropy))
            stats = assignment_stats(matrix)
            effective.append(stats["effective_clusters"])
            collapsed.append(stats["collapsed"])
        if not entropies:
            continue
        all_entropy = np.concatenate(entropies)
        rows.append(
            {
                "level": level,
                "num_graphs": len(effective),
                "num_nodes": int(all_entropy.size),
                "mean_entropy": float(all_entropy.mean()),
                "std_entropy": float(all_entropy.std()),
                "mean_normalized_entropy": float(np.concatenate(normalized).mean()),
                "mean_effective_clusters": float(np.mean(effective)),
                "collapsed_fraction": float(np.mean(collapsed)),
            }
        )
    return rows
