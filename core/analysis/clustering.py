"""Classical clusterings to compare with (Louvain, Leiden, spectral) and their quality (modularity,
conductance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    from core.data.graphs import Graph
from core.analysis.agreement import pairwise_agreement
from core.analysis.assignments import _as_labels, _edge_arrays, _relabel_by_first_occurrence, _weighted_degrees


# ====================================================================== 4. classical clustering
def louvain_clusters(graph: "Graph", seed: int = 0, resolution: float = 1.0) -> np.ndarray:
    """Louvain communities (igraph's multilevel, weighted, seeded: :func:`core.analysis.diagnosis.louvain_partition`).

    graph: a Graph. Returns int64 [N] community ids, numbered by first appearance (node 0 is in
    community 0), so the result depends only on the partition and the seed.

    >>> from core.data.graphs import Graph
    >>> louvain_clusters(Graph.from_edge_list(4, [(0, 1), (2, 3)])).tolist()
    [0, 0, 1, 1]
    """
    from core.analysis.diagnosis import louvain_partition

    return _relabel_by_first_occurrence(louvain_partition(graph.sparse_adjacency(), seed=seed, resolution=resolution))


def leiden_clusters(graph: "Graph", seed: int = 0, resolution: float = 1.0) -> np.ndarray:
    """Leiden communities (leidenalg on python-igraph, modularity with resolution γ, weighted, seeded).

    Much faster than networkx's Louvain on large graphs (100k nodes / 1M edges in seconds).
    Returns int64 [N] community ids numbered by first appearance.

    >>> from core.data.graphs import Graph
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

    >>> from core.data.graphs import Graph
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

    >>> from core.data.graphs import Graph
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

    >>> from core.data.graphs import Graph
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

    >>> from core.data.graphs import Graph
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
