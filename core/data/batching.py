"""From graphs to padded dense batches, grouped by size.

Dense DiffPool costs O(N²) per graph in the padded size N. Padding every graph to the
dataset's largest (PyG's example) wastes most of that on datasets with a long size tail
(D&D: median ~240 nodes, max 5,748). Here graphs are sorted by size and cut into batches
of similar size, and a batch is also capped by its padded size ``B · N²`` so that a few huge
graphs form small batches of their own.

Fixed assignments for the ``diffpool-det`` and ``random`` variants are computed here once
per graph (they are part of the input, not of the model). Edge labels, where a dataset has them
(MUTAG), travel as per-entry edge types beside the adjacency (``Batch.edge_types``); the ``ecc``
variant reads them, the others ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from core.data.adjacency import SparseAdjacency
from core.data.features import FeatureSpec
from core.data.graphs import Graph


@dataclass
class PreparedGraph:
    """One graph ready for batching.

    features: float32 [n, F].  edges: int64 [2, M] directed pairs (both directions, self-loops
    once).  weights: float32 [M].  fixed: per level a float32 [n_l, C_l] assignment, or empty.
    edge_types: int64 [M] edge label of each directed pair (0..t-1), or None (no edge labels).
    """

    num_nodes: int
    features: np.ndarray
    edges: np.ndarray
    weights: np.ndarray
    label: int
    index: int
    fixed: list[np.ndarray] = field(default_factory=list)
    edge_types: np.ndarray | None = None


@dataclass
class Batch:
    """A padded batch: x [B, N, F], adj [B, N, N] (dense, or a :class:`SparseAdjacency`),
    mask bool [B, N], labels int64 [B].

    num_nodes and indices are per-graph Python lists; fixed is one [B, n_l, C_l] tensor per level.
    edge_types: int64, edge label + 1 of every adjacency entry (0 = no edge), shaped like the
    adjacency: [B, N, N] beside a dense one, [E] aligned with a :class:`SparseAdjacency`'s entries;
    None when the graphs carry no edge labels.
    """

    x: Tensor
    adj: Tensor | SparseAdjacency
    mask: Tensor
    labels: Tensor
    num_nodes: list[int]
    indices: list[int]
    fixed: list[Tensor] | None = None
    edge_types: Tensor | None = None

    def __len__(self) -> int:
        return len(self.num_nodes)


def directed_edges(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every undirected edge: (int64 [2, M], float32 [M])."""
    rows, cols, weight = graph.edges[:, 0], graph.edges[:, 1], graph.weights()
    off = rows != cols
    edges = np.stack([np.concatenate([rows, cols[off]]), np.concatenate([cols, rows[off]])])
    return edges, np.concatenate([weight, weight[off]]).astype(np.float32)


def coarsen_by_matching(adjacency: np.ndarray, num_clusters: int) -> np.ndarray:
    """Deterministic hard clustering of a weighted graph into at most ``num_clusters`` clusters.

    Graclus-style: repeatedly match every node with its unmatched neighbour of largest
    normalised-cut weight ``w_ij (1/d_i + 1/d_j)`` (ties to the lower index), merging pairs,
    until at most ``num_clusters`` remain; when no edge is left to match, the smallest clusters
    are merged in index order. Returns int64 [n] cluster ids in 0..num_clusters-1.

    >>> coarsen_by_matching(np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0.]]), 2).tolist()
    [0, 0, 1, 1]
    """
    n = adjacency.shape[0]
    cluster = np.arange(n)
    current = np.asarray(adjacency, dtype=np.float64).copy()
    while current.shape[0] > num_clusters:
        size = current.shape[0]
        np.fill_diagonal(current, 0.0)
        degree = current.sum(axis=1)
        inverse = np.where(degree > 0, 1.0 / np.maximum(degree, 1e-12), 0.0)
        score = current * (inverse[:, None] + inverse[None, :])
        matched = -np.ones(size, dtype=np.int64)
        merges_needed, merges, next_id = size - num_clusters, 0, 0
        for i in np.argsort(-degree, kind="stable"):
            if matched[i] >= 0:
                continue
            matched[i] = next_id
            if merges < merges_needed:
                candidates = np.flatnonzero((score[i] > 0) & (matched < 0))
                if len(candidates):
                    matched[candidates[np.argmax(score[i, candidates])]] = next_id
                    merges += 1
            next_id += 1
        if merges == 0:
            # No edge left to match (disconnected pieces): merge the two smallest clusters.
            members = np.bincount(cluster, minlength=size)
            first, second = sorted(np.argsort(members, kind="stable")[:2])
            matched = np.arange(size)
            matched[second] = first
            matched = np.unique(matched, return_inverse=True)[1]
            next_id = size - 1
        projection = np.zeros((size, next_id))
        projection[np.arange(size), matched] = 1.0
        current = projection.T @ current @ projection
        cluster = matched[cluster]
    return cluster.astype(np.int64)


def deterministic_assignments(graph: Graph, cluster_counts: list[int]) -> list[np.ndarray]:
    """Hard one-hot assignments per level from :func:`coarsen_by_matching` (``diffpool-det``).

    Level l clusters the coarsened graph of level l-1. Returns float32 [n_l, C_l] per level.
    """
    adjacency = graph.dense_adjacency().astype(np.float64)
    result = []
    for clusters in cluster_counts:
        labels = coarsen_by_matching(adjacency, clusters)
        assignment = np.zeros((adjacency.shape[0], clusters), dtype=np.float32)
        assignment[np.arange(adjacency.shape[0]), labels] = 1.0
        result.append(assignment)
        adjacency = assignment.T.astype(np.float64) @ adjacency @ assignment
    return result


def random_assignments(num_nodes: int, cluster_counts: list[int], seed: int) -> list[np.ndarray]:
    """Fixed random row-stochastic assignments (``random`` control): softmax of 3·N(0, 1) logits."""
    rng = np.random.default_rng(seed)
    result, rows = [], num_nodes
    for clusters in cluster_counts:
        logits = 3.0 * rng.standard_normal((rows, clusters))
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        result.append((weights / weights.sum(axis=1, keepdims=True)).astype(np.float32))
        rows = clusters
    return result


def prepare_graphs(
    graphs: list[Graph],
    spec: FeatureSpec,
    variant: str = "diffpool",
    cluster_counts: list[int] | None = None,
    seed: int = 0,
    indices: list[int] | None = None,
) -> list[PreparedGraph]:
    """Build features (and fixed assignments for ``diffpool-det`` / ``random``) once per graph."""
    prepared = []
    for position, graph in enumerate(graphs):
        index = position if indices is None else int(indices[position])
        edges, weights = directed_edges(graph)
        edge_types = None
        if graph.edge_labels is not None:  # same order as directed_edges: each edge, then the reverses
            off = graph.edges[:, 0] != graph.edges[:, 1]
            edge_types = np.concatenate([graph.edge_labels, graph.edge_labels[off]]).astype(np.int64)
        fixed: list[np.ndarray] = []
        if variant == "diffpool-det":
            fixed = deterministic_assignments(graph, list(cluster_counts or []))
        elif variant == "random":
            fixed = random_assignments(graph.num_nodes, list(cluster_counts or []), seed * 1_000_003 + index)
        prepared.append(PreparedGraph(
            num_nodes=graph.num_nodes,
            features=spec.build(graph),
            edges=edges,
            weights=weights,
            label=-1 if graph.label is None else int(graph.label),
            index=index,
            fixed=fixed,
            edge_types=edge_types,
        ))
    return prepared


def size_batches(
    sizes: list[int] | np.ndarray,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    max_elements: int = 8_000_000,
) -> list[list[int]]:
    """Positions grouped into batches of similar size.

    Sorted by size (with a random tie-break when shuffling, so batches vary between epochs),
    cut into runs of at most ``batch_size`` graphs and at most ``max_elements`` padded adjacency
    entries ``B · N_max²`` (a graph larger than that budget gets a batch of its own). Batch order
    is shuffled when ``shuffle`` is set.
    """
    sizes = np.asarray(sizes)
    rng = np.random.default_rng(seed)
    jitter = rng.random(len(sizes)) if shuffle else np.zeros(len(sizes))
    order = np.lexsort((jitter, sizes))
    batches, current, current_max = [], [], 0
    for position in order:
        size = int(sizes[position])
        new_max = max(current_max, size)
        if current and (len(current) >= batch_size or (len(current) + 1) * new_max * new_max > max_elements):
            batches.append(current)
            current, new_max = [], size
        current.append(int(position))
        current_max = new_max
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches


def bucket_batches(
    sizes: list[int] | np.ndarray,
    batch_size: int,
    seed: int = 0,
    window: int = 8,
    max_elements: int = 8_000_000,
) -> list[list[int]]:
    """Random batches with little padding: shuffle, then sort by size within windows of
    ``window × batch_size`` graphs and cut each window into batches (then shuffle the batches).

    Unlike :func:`size_batches` (one global sort), a batch still mixes graphs from across the
    dataset, so its composition — and batch-norm statistics — stay close to a random batch's,
    while padding shrinks to each window's local size spread. Batches also respect
    ``max_elements`` padded entries, so huge graphs still get batches of their own.
    """
    sizes = np.asarray(sizes)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sizes))
    span = max(1, window * batch_size)
    batches: list[list[int]] = []
    for start in range(0, len(order), span):
        chunk = order[start:start + span]
        for positions in size_batches(sizes[chunk], batch_size, shuffle=False, max_elements=max_elements):
            batches.append([int(chunk[p]) for p in positions])
    rng.shuffle(batches)
    return batches


ADJACENCY_FORMATS = ("dense", "sparse", "auto")
SPARSE_FROM_NODES = 128


def collate(
    graphs: list[PreparedGraph], device: torch.device | str = "cpu", pad_to: int | None = None,
    adjacency: str = "dense",
) -> Batch:
    """Pad ``graphs`` into one :class:`Batch` on ``device`` (to ``pad_to`` nodes if given).

    ``adjacency``: ``"dense"`` gives a [B, N, N] tensor; ``"sparse"`` a :class:`SparseAdjacency`
    (O(E) memory and products; the model computes the same results from either); ``"auto"``
    picks sparse once the batch is padded to :data:`SPARSE_FROM_NODES` nodes or more, where it
    is faster (per training epoch on one CPU thread: D&D 2.4×, PROTEINS 1.4×, ENZYMES 1.0×;
    bench/results/adjacency_formats.md).
    """
    if adjacency not in ADJACENCY_FORMATS:
        raise ValueError(f"adjacency must be one of {', '.join(ADJACENCY_FORMATS)}, got {adjacency!r}")
    count = len(graphs)
    width = max(g.num_nodes for g in graphs)
    if pad_to is not None:
        width = max(width, pad_to)
    sparse = adjacency == "sparse" or (adjacency == "auto" and width >= SPARSE_FROM_NODES)
    feature_dim = graphs[0].features.shape[1]
    x = np.zeros((count, width, feature_dim), dtype=np.float32)
    mask = np.zeros((count, width), dtype=bool)
    batch_ids, rows, cols, weights = [], [], [], []
    for b, g in enumerate(graphs):
        x[b, : g.num_nodes] = g.features
        mask[b, : g.num_nodes] = True
        batch_ids.append(np.full(g.edges.shape[1], b, dtype=np.int64))
        rows.append(g.edges[0])
        cols.append(g.edges[1])
        weights.append(g.weights)
    batch_id, row, col = np.concatenate(batch_ids), np.concatenate(rows), np.concatenate(cols)
    weight = np.concatenate(weights)
    typed = all(g.edge_types is not None for g in graphs)
    type_codes = np.concatenate([g.edge_types for g in graphs]) + 1 if typed else None
    edge_types = None
    if sparse:
        flat_rows, flat_cols = batch_id * width + row, batch_id * width + col
        # One entry per (row, col), as the dense tensor below holds (repeated edges are not summed).
        _, first = np.unique(flat_rows * (count * width) + flat_cols, return_index=True)
        adj = SparseAdjacency(torch.from_numpy(flat_rows[first]), torch.from_numpy(flat_cols[first]),
                              torch.from_numpy(weight[first]), count, width).to(device)
        if typed:
            edge_types = torch.from_numpy(type_codes[first]).to(device)
    else:
        adj = torch.zeros((count, width, width), dtype=torch.float32)
        if len(batch_id):
            index = (torch.from_numpy(batch_id), torch.from_numpy(row), torch.from_numpy(col))
            adj.index_put_(index, torch.from_numpy(weight), accumulate=False)
        adj = adj.to(device)
        if typed:
            codes = torch.zeros((count, width, width), dtype=torch.long)
            if len(batch_id):
                codes.index_put_(index, torch.from_numpy(type_codes), accumulate=False)
            edge_types = codes.to(device)
    fixed = None
    if graphs[0].fixed:
        fixed = []
        for level in range(len(graphs[0].fixed)):
            rows_l = width if level == 0 else graphs[0].fixed[level].shape[0]
            clusters = graphs[0].fixed[level].shape[1]
            tensor = np.zeros((count, rows_l, clusters), dtype=np.float32)
            for b, g in enumerate(graphs):
                tensor[b, : g.fixed[level].shape[0]] = g.fixed[level]
            fixed.append(torch.from_numpy(tensor).to(device))
    return Batch(
        x=torch.from_numpy(x).to(device),
        adj=adj,
        mask=torch.from_numpy(mask).to(device),
        labels=torch.tensor([g.label for g in graphs], dtype=torch.long, device=device),
        num_nodes=[g.num_nodes for g in graphs],
        indices=[g.index for g in graphs],
        fixed=fixed,
        edge_types=edge_types,
    )
