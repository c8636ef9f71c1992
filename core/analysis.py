"""Pure functions over traces and graphs: what the views and the upload page compute.

numpy in, numpy / dicts / lists out; no streamlit, plotly or torch. Shapes follow
:mod:`core.trace`: an ``assignment`` S is ``[n, k]`` (n nodes of a level, k clusters, rows sum
to 1); ``labels`` are ``int [n]`` hard cluster ids.

Sections
--------
1. assignment statistics    hard_clusters, cluster_order, node_entropy, assignment_stats,
                            top_clusters, dataset_level_entropy
2. cross-level flows        sankey_flows, composed_assignment
3. agreement                agreement, pairwise_agreement
4. classical clustering     louvain_clusters, spectral_clusters, modularity, conductance,
                            clustering_report
5. layout                   layout_positions, sample_nodes, cluster_positions
6. embeddings               project_2d (UMAP imported lazily, PCA fallback)
7. matching and colours     match_clusters (Hungarian), clustering_stability, srgb_to_lab,
                            ciede2000, distinct_palette, used_cluster_colors

Example
-------
>>> import numpy as np
>>> S = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
>>> hard_clusters(S).tolist()
[0, 1, 0]
>>> assignment_stats(S)["clusters_used"]
2
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    from core.graphs import Graph
    from core.trace import GraphTrace, LevelTrace

#: Tolerance on row sums of an assignment (float32 softmax rows sum to 1 within ~1e-6).
ROW_SUM_TOLERANCE = 1e-3

#: Layouts up to this many nodes use networkx's spring layout; larger ones a spectral layout.
SPRING_LAYOUT_MAX_NODES = 2000

#: project_2d uses UMAP from this many points on (fewer points: PCA).
UMAP_MIN_POINTS = 15


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
    from core.diagnose import is_collapsed

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
    row = matrix[i]
    order = np.argsort(-row, kind="stable")[: min(top, row.size)]
    return [(int(c), float(row[c])) for c in order]


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


# ====================================================================== 2. cross-level flows
def _level_assignments(levels: Sequence["LevelTrace"]) -> list[np.ndarray]:
    """Validated assignments of consecutive levels (level l's clusters are level l+1's nodes)."""
    if len(levels) == 0:
        raise ValueError("no pooling levels: this trace has no assignments (graphsage variant?)")
    matrices = [_as_assignment(level.assignment, f"levels[{l}].assignment") for l, level in enumerate(levels)]
    for l in range(len(matrices) - 1):
        if matrices[l].shape[1] != matrices[l + 1].shape[0]:
            raise ValueError(
                f"levels[{l}] has {matrices[l].shape[1]} clusters but levels[{l + 1}] pools "
                f"{matrices[l + 1].shape[0]} nodes; the levels do not chain"
            )
    return matrices


def composed_assignment(levels: Sequence["LevelTrace"]) -> np.ndarray:
    """Soft map from input nodes to the top-level clusters, S_1 S_2 … S_L.

    levels: the L LevelTrace of one graph. Returns float64 [n_0, n_L], rows sum to 1.

    >>> from types import SimpleNamespace as L
    >>> composed_assignment([L(assignment=np.eye(2)), L(assignment=[[0.5, 0.5], [1.0, 0.0]])]).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    matrices = _level_assignments(levels)
    result = matrices[0]
    for matrix in matrices[1:]:
        result = result @ matrix
    return result


def _representative_nodes(matrix: np.ndarray, count: int) -> np.ndarray:
    """``count`` input nodes picked round-robin over hard clusters, most confident first."""
    hard = matrix.argmax(axis=1)
    order = np.lexsort((-matrix.max(axis=1), hard))  # grouped by cluster, confident first
    sorted_hard = hard[order]
    group_start = np.searchsorted(sorted_hard, sorted_hard, side="left")
    rank_in_cluster = np.arange(order.size) - group_start
    # take rank 0 of every cluster, then rank 1, ...: every cluster keeps representatives
    picked = order[np.lexsort((sorted_hard, rank_in_cluster))][:count]
    return np.sort(picked)


def sankey_flows(
    levels: Sequence["LevelTrace"],
    min_flow: float = 1e-3,
    max_input_nodes: int | None = None,
    node_names: Sequence[str] | None = None,
) -> dict:
    """Flows for a Sankey diagram: input nodes → level-1 clusters → level-2 clusters → …

    levels: the L LevelTrace of one graph (S_1 [n_0, n_1], S_2 [n_1, n_2], ...).
    Flow from input node i to level-1 cluster k is S_1[i, k]. Flow from cluster k of level l to
    cluster m of level l+1 is mass_k · S_{l+1}[k, m] with mass_k = Σ_i S_l[i, k] (the soft number
    of input nodes in k), so each cluster's inflow equals its outflow: the diagram conserves the
    n_0 input nodes.
    min_flow: flows below this are dropped (keeps the diagram light; with min_flow = 0
      conservation is exact).
    max_input_nodes: when n_0 is larger, keep this many input nodes (picked round-robin over
      hard clusters, most confident first, so every cluster keeps examples) and merge the rest
      into one "other nodes" source.
    node_names: display names of the n_0 input nodes (default "node i").

    Returns dict with plotly-Sankey-ready lists:
      labels [V] str, sources [F] int, targets [F] int, values [F] float,
      level_of_node [V] int (0 = input nodes, l = clusters of level l).

    >>> from types import SimpleNamespace as L
    >>> flows = sankey_flows([L(assignment=[[1.0, 0.0], [0.0, 1.0]])])
    >>> flows["labels"], flows["sources"], flows["targets"], flows["values"]
    (['node 0', 'node 1', 'L1 c0', 'L1 c1'], [0, 1], [2, 3], [1.0, 1.0])
    """
    matrices = _level_assignments(levels)
    first = matrices[0]
    n0 = first.shape[0]
    if node_names is None:
        node_names = [f"node {i}" for i in range(n0)]
    elif len(node_names) != n0:
        raise ValueError(f"node_names has {len(node_names)} entries for {n0} input nodes")

    labels: list[str] = []
    level_of_node: list[int] = []
    sources: list[int] = []
    targets: list[int] = []
    values: list[float] = []

    def add_flows(source_ids: np.ndarray, target_ids: np.ndarray, flow: np.ndarray) -> None:
        rows, cols = np.nonzero(flow >= max(min_flow, np.finfo(float).tiny))
        sources.extend(source_ids[rows].tolist())
        targets.extend(target_ids[cols].tolist())
        values.extend(flow[rows, cols].astype(float).tolist())

    # input nodes (possibly a sample plus "other nodes")
    if max_input_nodes is not None and max_input_nodes < 1:
        raise ValueError(f"max_input_nodes must be >= 1 or None, got {max_input_nodes}")
    if max_input_nodes is None or n0 <= max_input_nodes:
        kept = np.arange(n0)
    else:
        kept = _representative_nodes(first, max_input_nodes)
    labels.extend(str(node_names[i]) for i in kept)
    level_of_node.extend([0] * kept.size)
    input_flow = first[kept]
    input_ids = np.arange(kept.size)
    if kept.size < n0:
        rest = np.ones(n0, dtype=bool)
        rest[kept] = False
        labels.append(f"other nodes ({int(rest.sum())})")
        level_of_node.append(0)
        input_flow = np.vstack([input_flow, first[rest].sum(axis=0, keepdims=True)])
        input_ids = np.arange(kept.size + 1)

    # clusters of every level
    cluster_ids = []
    for l, matrix in enumerate(matrices, start=1):
        start = len(labels)
        labels.extend(f"L{l} c{k}" for k in range(matrix.shape[1]))
        level_of_node.extend([l] * matrix.shape[1])
        cluster_ids.append(np.arange(start, start + matrix.shape[1]))

    add_flows(input_ids, cluster_ids[0], input_flow)
    mass = first.sum(axis=0)
    for l in range(1, len(matrices)):
        add_flows(cluster_ids[l - 1], cluster_ids[l], mass[:, None] * matrices[l])
        mass = mass @ matrices[l]
    return {
        "labels": labels,
        "sources": sources,
        "targets": targets,
        "values": values,
        "level_of_node": level_of_node,
    }


# ====================================================================== 3. agreement
def agreement(labels_a, labels_b) -> dict:
    """How much two hard clusterings of the same nodes agree.

    labels_a, labels_b: int [n]. Returns {"nmi": normalized mutual information (arithmetic
    mean normalisation, sklearn's default), "ari": adjusted Rand index}; both symmetric,
    1.0 for identical partitions whatever the ids, NMI in [0, 1], ARI ≈ 0 for chance.

    >>> agreement([0, 0, 1, 1], [5, 5, 3, 3])
    {'nmi': 1.0, 'ari': 1.0}
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    a = _as_labels(labels_a, name="labels_a")
    b = _as_labels(labels_b, a.shape[0], name="labels_b")
    return {
        "nmi": float(normalized_mutual_info_score(a, b)),
        "ari": float(adjusted_rand_score(a, b)),
    }


def pairwise_agreement(clusterings: dict[str, np.ndarray]) -> list[dict]:
    """Agreement of every pair of named clusterings, in the dict's order.

    clusterings: name -> int [n] (all the same n). Returns rows {"a", "b", "nmi", "ari"},
    one per unordered pair (a before b in the dict).

    >>> pairwise_agreement({"x": [0, 1], "y": [1, 0]})
    [{'a': 'x', 'b': 'y', 'nmi': 1.0, 'ari': 1.0}]
    """
    rows = []
    for (name_a, labels_a), (name_b, labels_b) in itertools.combinations(clusterings.items(), 2):
        scores = agreement(labels_a, labels_b)
        rows.append({"a": name_a, "b": name_b, **scores})
    return rows


# ====================================================================== 4. classical clustering
def louvain_clusters(graph: "Graph", seed: int = 0, resolution: float = 1.0) -> np.ndarray:
    """Louvain communities (networkx ``louvain_communities``, weighted, seeded).

    graph: a Graph. Returns int64 [N] community ids, numbered by first appearance (node 0 is in
    community 0), so the result depends only on the partition and the seed.

    >>> from core.graphs import Graph
    >>> louvain_clusters(Graph.from_edge_list(4, [(0, 1), (2, 3)])).tolist()
    [0, 0, 1, 1]
    """
    import networkx as nx

    communities = nx.community.louvain_communities(
        graph.to_networkx(), weight="weight", resolution=resolution, seed=seed
    )
    labels = np.empty(graph.num_nodes, dtype=np.int64)
    for index, members in enumerate(communities):
        labels[list(members)] = index
    return _relabel_by_first_occurrence(labels)


def leiden_clusters(graph: "Graph", seed: int = 0, resolution: float = 1.0) -> np.ndarray:
    """Leiden communities (leidenalg on python-igraph, modularity with resolution γ, weighted, seeded).

    Much faster than networkx's Louvain on large graphs (100k nodes / 1M edges in seconds).
    Returns int64 [N] community ids numbered by first appearance.

    >>> from core.graphs import Graph
    >>> leiden_clusters(Graph.from_edge_list(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    import igraph as ig
    import leidenalg

    g = ig.Graph(n=graph.num_nodes, edges=graph.edges)
    partition = leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition, weights=graph.weights().tolist(),
                                         resolution_parameter=resolution, seed=seed)
    return _relabel_by_first_occurrence(np.asarray(partition.membership, dtype=np.int64))


def _regularized_normalized_adjacency(adjacency: sp.csr_matrix, regularization: float):
    """LinearOperator for D_τ^{-1/2} (A + τ/N 11ᵀ) D_τ^{-1/2} and the vector D_τ^{-1/2}.

    τ = regularization × mean degree (Qin & Rohe 2013). The τ/N 11ᵀ term links every node weakly
    to every other, so isolated nodes and small components get a defined, well-conditioned
    spectrum instead of a pile of degenerate eigenvalues 1; the operator is never formed densely.
    """
    from scipy.sparse.linalg import LinearOperator

    n = adjacency.shape[0]
    degree = np.asarray(adjacency.sum(axis=1)).reshape(-1)
    tau = regularization * float(degree.mean()) if n else 0.0
    if tau <= 0:
        tau = 0.0
    regularized_degree = degree + tau
    inv_sqrt = np.zeros(n)
    positive = regularized_degree > 0
    inv_sqrt[positive] = 1.0 / np.sqrt(regularized_degree[positive])

    def matmat(x: np.ndarray) -> np.ndarray:
        x2 = x.reshape(n, -1)
        scaled = inv_sqrt[:, None] * x2
        out = adjacency @ scaled
        if tau:
            out = out + (tau / n) * scaled.sum(axis=0, keepdims=True)
        return (inv_sqrt[:, None] * out).reshape(x.shape)

    operator = LinearOperator((n, n), matvec=matmat, matmat=matmat, dtype=np.float64)
    return operator, inv_sqrt


def _top_eigenvectors(operator, n: int, count: int, seed: int) -> np.ndarray:
    """float64 [n, count] eigenvectors of a symmetric operator, largest eigenvalues first."""
    if n <= 400 or count >= n - 1:
        dense = operator @ np.eye(n)
        _, vectors = np.linalg.eigh((dense + dense.T) / 2)
        vectors = vectors[:, ::-1][:, :count]
    else:
        from scipy.sparse.linalg import eigsh

        start = np.random.default_rng(seed).random(n) + 0.5  # fixed start vector: deterministic
        values, vectors = eigsh(operator, k=count, which="LA", v0=start, tol=1e-6, maxiter=max(1000, 20 * n))
        vectors = vectors[:, np.argsort(-values)]
    # fix each eigenvector's sign (largest-magnitude entry positive) so results are reproducible
    pivot = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[pivot, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def spectral_clusters(graph: "Graph", k: int, seed: int = 0, regularization: float = 1.0) -> np.ndarray:
    """Normalized spectral clustering (Ng, Jordan & Weiss 2001) with degree regularisation.

    The k leading eigenvectors of D_τ^{-1/2}(A + τ/N 11ᵀ)D_τ^{-1/2} (equivalently the k smallest
    of the regularized normalized Laplacian), rows normalised to unit length, then k-means
    (``sklearn.cluster.KMeans``, ``random_state=seed``). τ = regularization × mean degree
    (0 gives the plain normalized Laplacian); the regularisation gives isolated nodes and
    disconnected graphs a well-defined embedding. Sparse throughout (``eigsh`` on a
    LinearOperator): about a second for 100k nodes.

    graph: a Graph with N nodes; k: number of clusters (1 <= k <= N).
    Returns int64 [N] cluster ids numbered by first appearance.

    >>> from core.graphs import Graph
    >>> spectral_clusters(Graph.from_edge_list(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]), 2).tolist()
    [0, 0, 0, 1, 1, 1]
    """
    from sklearn.cluster import KMeans

    n = graph.num_nodes
    if not 1 <= k <= max(n, 1):
        raise ValueError(f"k must be between 1 and the number of nodes ({n}), got {k}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    adjacency = graph.sparse_adjacency().astype(np.float64)
    operator, _ = _regularized_normalized_adjacency(adjacency, regularization)
    vectors = _top_eigenvectors(operator, n, k, seed)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    embedding = vectors / np.where(norms > 0, norms, 1.0)
    labels = KMeans(n_clusters=k, random_state=seed, n_init=4).fit_predict(embedding)
    return _relabel_by_first_occurrence(labels)


def modularity(graph: "Graph", labels, resolution: float = 1.0) -> float:
    """Weighted Newman modularity of a hard partition, in O(E).

    Q = Σ_c [ L_c / m − γ (vol_c / 2m)² ] with m the total edge weight, L_c the weight of edges
    inside c and vol_c the weighted degree sum of c (a self-loop counts twice in a degree and
    once in L_c and m, as networkx does). Equals ``networkx.community.modularity``.
    Returns 0.0 for a graph without edge weight (modularity is undefined there).

    graph: a Graph with N nodes; labels: int [N]; resolution: γ.

    >>> from core.graphs import Graph
    >>> round(modularity(Graph.from_edge_list(4, [(0, 1), (2, 3)]), [0, 0, 1, 1]), 3)
    0.5
    """
    labels = _as_labels(labels, graph.num_nodes)
    rows, cols, weight = _edge_arrays(graph)
    total = weight.sum()
    if total <= 0:
        return 0.0
    _, community = np.unique(labels, return_inverse=True)
    community = community.reshape(-1)
    inside = community[rows] == community[cols]
    internal = np.bincount(community[rows[inside]], weight[inside], minlength=community.max() + 1)
    volume = np.bincount(community, _weighted_degrees(graph), minlength=community.max() + 1)
    return float((internal / total - resolution * (volume / (2 * total)) ** 2).sum())


def conductance(graph: "Graph", labels) -> dict:
    """Conductance of every cluster, φ(c) = cut(c) / min(vol(c), vol(V) − vol(c)), in O(E).

    cut(c) is the weight of edges with exactly one end in c; vol is the weighted degree sum.
    Lower is better (0 = a cluster with no outgoing edge). φ is NaN where the denominator is 0
    (a cluster of isolated nodes, or one that holds all the volume); ``mean`` averages the
    defined values (NaN if none).

    graph: a Graph with N nodes; labels: int [N].
    Returns {"mean": float, "per_cluster": {cluster id: φ}}.

    >>> from core.graphs import Graph
    >>> conductance(Graph.from_edge_list(4, [(0, 1), (1, 2), (2, 3)]), [0, 0, 1, 1])
    {'mean': 0.3333333333333333, 'per_cluster': {0: 0.3333333333333333, 1: 0.3333333333333333}}
    """
    labels = _as_labels(labels, graph.num_nodes)
    clusters, community = np.unique(labels, return_inverse=True)
    community = community.reshape(-1)
    rows, cols, weight = _edge_arrays(graph)
    crossing = community[rows] != community[cols]
    cut = np.bincount(community[rows[crossing]], weight[crossing], minlength=clusters.size) + np.bincount(
        community[cols[crossing]], weight[crossing], minlength=clusters.size
    )
    volume = np.bincount(community, _weighted_degrees(graph), minlength=clusters.size)
    denominator = np.minimum(volume, volume.sum() - volume)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(denominator > 0, cut / np.where(denominator > 0, denominator, 1.0), np.nan)
    defined = phi[np.isfinite(phi)]
    return {
        "mean": float(defined.mean()) if defined.size else float("nan"),
        "per_cluster": {int(c): float(p) for c, p in zip(clusters, phi)},
    }


def clustering_report(graph: "Graph", clusterings: dict[str, np.ndarray], ground_truth=None) -> dict:
    """Quality and agreement of several clusterings of one graph (the upload page's table).

    graph: a Graph with N nodes; clusterings: name -> int [N]; ground_truth: int [N] or None
    (e.g. a node attribute from the uploaded file), included as "ground truth".
    Returns {"quality": rows {name, num_clusters, modularity, conductance (mean)},
             "agreement": pairwise_agreement rows over all clusterings and the ground truth}.

    >>> from core.graphs import Graph
    >>> report = clustering_report(Graph.from_edge_list(4, [(0, 1), (2, 3)]), {"a": [0, 0, 1, 1]}, [1, 1, 0, 0])
    >>> report["agreement"][0]["nmi"]
    1.0
    """
    named = {name: _as_labels(labels, graph.num_nodes, name=f"clusterings[{name!r}]") for name, labels in clusterings.items()}
    if ground_truth is not None:
        named["ground truth"] = _as_labels(ground_truth, graph.num_nodes, name="ground_truth")
    quality = [
        {
            "name": name,
            "num_clusters": int(np.unique(labels).size),
            "modularity": modularity(graph, labels),
            "conductance": conductance(graph, labels)["mean"],
        }
        for name, labels in named.items()
    ]
    return {"quality": quality, "agreement": pairwise_agreement(named)}


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

    >>> from core.graphs import Graph
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


# ====================================================================== 6. embeddings
def _pca_2d(points: np.ndarray) -> np.ndarray:
    """float32 [n, 2] principal-component scores (zeros where there is no variance)."""
    n = points.shape[0]
    coords = np.zeros((n, 2))
    if n >= 2:
        centred = points - points.mean(axis=0)
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        rank = min(2, s.size)
        scores = u[:, :rank] * s[:rank]
        # deterministic sign: the largest-magnitude score of each component is positive
        pivot = np.abs(scores).argmax(axis=0)
        signs = np.sign(scores[pivot, np.arange(rank)])
        signs[signs == 0] = 1.0
        coords[:, :rank] = scores * signs
        coords[:, (s[:2] <= 1e-12 * max(s[0], 1e-300)).nonzero()[0]] = 0.0
    return coords.astype(np.float32)


def project_2d(points, seed: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
    """2-D projection of embeddings for a scatter plot.

    points: [n, d]. method: "auto" (UMAP when n >= 15 and the data is not constant, else PCA),
    "umap" (the same; the fallback still applies since UMAP needs neighbours), or "pca".
    UMAP runs with ``n_neighbors=min(15, n-1)`` and ``random_state=seed`` (deterministic,
    single-threaded). ``umap`` is imported here, not at module import (it takes seconds and its
    first fit in a process JIT-compiles for ~20 s); cache results in the app.

    Returns (float32 [n, 2], method_used) with method_used "umap" or "pca".

    >>> coords, used = project_2d(np.arange(6.0).reshape(3, 2))
    >>> coords.shape, used
    ((3, 2), 'pca')
    """
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"method must be 'auto', 'umap' or 'pca', got {method!r}")
    array = np.asarray(points, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"points must be [n, d], got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("points contain NaN or inf")
    n = array.shape[0]
    constant = n == 0 or float(np.ptp(array, axis=0).max(initial=0.0)) == 0.0
    if method == "pca" or n < UMAP_MIN_POINTS or constant:
        return _pca_2d(array), "pca"

    import umap  # lazy: slow import, see PITFALLS.md

    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
    with warnings.catch_warnings():
        # a seeded fit is single-threaded on purpose; the warning says so
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        warnings.filterwarnings("ignore", message=".*(Spectral initialisation|not connected).*")
        coords = reducer.fit_transform(array)
    return np.asarray(coords, dtype=np.float32), "umap"


# ====================================================================== 7. matching, stability, colours
def match_clusters(reference, labels) -> np.ndarray:
    """Relabel ``labels`` so that its clusters take the ids of the ``reference`` clusters they overlap most.

    reference, labels: int [n], two hard clusterings of the same nodes. The one-to-one matching
    maximises the number of nodes whose two ids agree (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment`` on the contingency table). Clusters of ``labels``
    left without a partner get fresh ids above ``reference.max()``, in order of first use.
    Returns int64 [n]; the partition itself is unchanged (only ids move).

    >>> match_clusters([0, 0, 1, 1, 2], [7, 7, 4, 4, 4]).tolist()
    [0, 0, 1, 1, 1]
    """
    from scipy.optimize import linear_sum_assignment

    a = _as_labels(reference, name="reference")
    b = _as_labels(labels, a.shape[0], name="labels")
    if a.size == 0:
        return b.copy()
    a_ids, a_codes = np.unique(a, return_inverse=True)
    b_ids, b_codes = np.unique(b, return_inverse=True)
    table = np.zeros((b_ids.size, a_ids.size), dtype=np.int64)
    np.add.at(table, (b_codes.reshape(-1), a_codes.reshape(-1)), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    new_id = np.full(b_ids.size, -1, dtype=np.int64)
    new_id[rows] = a_ids[cols]
    fresh = int(a.max()) + 1
    for code in np.unique(b_codes.reshape(-1)[np.argsort(np.arange(b.size))]):
        if new_id[code] < 0:
            new_id[code] = fresh
            fresh += 1
    return new_id[b_codes.reshape(-1)]


def clustering_stability(clusterings: Sequence) -> dict:
    """How stable a node's cluster is across several runs (seeds, folds) on the same graph.

    clusterings: R ≥ 2 hard clusterings int [n] of the same nodes. Every run is matched to the
    first with :func:`match_clusters`; a node's agreement is the share of runs that give it the
    same (matched) cluster as the most common one among the runs. Returns:
      node_agreement   float64 [n] in [1/R, 1]: 1 = every run puts the node in the same cluster
      matched          int64 [R, n] the runs relabelled to the first run's ids
      mean_nmi, mean_ari  mean over all R(R−1)/2 pairs of :func:`agreement`
      pairs            number of pairs

    >>> result = clustering_stability([[0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 1, 0]])
    >>> result["node_agreement"].round(2).tolist(), round(result["mean_ari"], 3)
    ([1.0, 1.0, 1.0, 0.67], 0.333)
    """
    runs = [_as_labels(c, name=f"clusterings[{i}]") for i, c in enumerate(clusterings)]
    if len(runs) < 2:
        raise ValueError(f"stability needs at least 2 clusterings, got {len(runs)}")
    n = runs[0].shape[0]
    for i, run in enumerate(runs):
        if run.shape[0] != n:
            raise ValueError(f"clusterings[{i}] has {run.shape[0]} nodes, clusterings[0] has {n}")
    matched = np.stack([runs[0]] + [match_clusters(runs[0], run) for run in runs[1:]])
    agreement_share = np.zeros(n)
    for node in range(n):
        agreement_share[node] = np.bincount(matched[:, node] - matched[:, node].min()).max() / len(runs)
    scores = [agreement(runs[i], runs[j]) for i, j in itertools.combinations(range(len(runs)), 2)]
    return {
        "node_agreement": agreement_share,
        "matched": matched,
        "mean_nmi": float(np.mean([s["nmi"] for s in scores])),
        "mean_ari": float(np.mean([s["ari"] for s in scores])),
        "pairs": len(scores),
    }


def srgb_to_lab(colors) -> np.ndarray:
    """CIELAB (D65) of sRGB colours: float64 [n, 3] (L*, a*, b*) from hex strings or [n, 3] in 0..1.

    >>> (srgb_to_lab(["#ffffff", "#000000"]).round(1) + 0.0).tolist()
    [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    if len(colors) and isinstance(colors[0], str):
        rgb = np.array([[int(c.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)] for c in colors])
    else:
        rgb = np.asarray(colors, dtype=np.float64).reshape(-1, 3)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1) + 0.0


def ciede2000(lab_1, lab_2) -> np.ndarray:
    """CIEDE2000 colour difference ΔE₀₀ between CIELAB colours (broadcasting [..., 3] arrays).

    ΔE₀₀ ≈ 1 is a just-noticeable difference; ≥ 10 reads as clearly different colours. Follows
    Sharma, Wu & Dalal (2005), including their test pair:

    >>> float(ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485]).round(4))
    2.0425
    """
    lab_1, lab_2 = np.asarray(lab_1, dtype=np.float64), np.asarray(lab_2, dtype=np.float64)
    l1, a1, b1 = lab_1[..., 0], lab_1[..., 1], lab_1[..., 2]
    l2, a2, b2 = lab_2[..., 0], lab_2[..., 1], lab_2[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(np.abs(h1p - h2p) > 180, np.where(h_sum < 360, h_sum + 360, h_sum - 360), h_sum) / 2
    h_mean = np.where(c1p * c2p == 0, h_sum, h_mean)
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean ** 7 / (cp_mean ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dhh / s_h) ** 2 + r_t * (dc / s_c) * (dhh / s_h))


#: Lightness band of generated cluster colours: dark enough to see on white, light enough to
#: tell apart from black edges and text.
PALETTE_LIGHTNESS = (30.0, 82.0)


@functools.lru_cache(maxsize=4)
def _palette_sequence(length: int) -> tuple[str, ...]:
    levels = np.linspace(0, 1, 18)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = srgb_to_lab(grid)
    keep = (lab[:, 0] >= PALETTE_LIGHTNESS[0]) & (lab[:, 0] <= PALETTE_LIGHTNESS[1])
    grid, lab = grid[keep], lab[keep]
    # Start from a saturated blue, then repeatedly take the candidate farthest (CIEDE2000) from
    # every colour picked so far, and from white (the page background).
    start = int(np.argmin(ciede2000(lab, srgb_to_lab(["#1f77b4"])[0])))
    picked = [start]
    nearest = np.minimum(ciede2000(lab, lab[start]), ciede2000(lab, np.array([100.0, 0.0, 0.0])))
    while len(picked) < length:
        choice = int(np.argmax(nearest))
        picked.append(choice)
        nearest = np.minimum(nearest, ciede2000(lab, lab[choice]))
    return tuple("#" + "".join(f"{round(v * 255):02x}" for v in grid[i]) for i in picked)


def distinct_palette(count: int) -> list[str]:
    """``count`` hex colours, each as far (CIEDE2000) as possible from the ones before it.

    Greedy farthest-point sampling over an 18³ sRGB grid limited to :data:`PALETTE_LIGHTNESS`;
    the sequence is fixed, so ``distinct_palette(k)`` is the first k of ``distinct_palette(k + 1)``.
    For up to 20 colours every pair differs by ΔE₀₀ > 10 (tested). Colour only the clusters in
    use (:func:`used_cluster_colors`) so a level with 100 clusters but 5 used gets 5 far-apart colours.

    >>> distinct_palette(3)
    ['#1e78b4', '#5a5a00', '#d2003c']
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count == 0:
        return []
    return list(_palette_sequence(max(64, 1 << (count - 1).bit_length()))[:count])


def used_cluster_colors(used_ids) -> dict[int, str]:
    """Cluster id → colour for the clusters in use: the i-th smallest used id gets ``distinct_palette``'s i-th colour.

    >>> used_cluster_colors([42, 7]) == {7: distinct_palette(2)[0], 42: distinct_palette(2)[1]}
    True
    """
    ids = sorted({int(i) for i in np.asarray(used_ids).reshape(-1)})
    return dict(zip(ids, distinct_palette(len(ids))))
