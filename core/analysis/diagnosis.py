"""What a pooling level learned, in numbers and in one word: the diagnosis.

A soft assignment S can look busy and still mean nothing. This module judges one level of one
graph from four angles and names the result:

* **mass** — how many clusters receive nodes (``clusters_used``), the largest cluster's share of
  the mass ΣᵢSᵢₖ, and the effective count exp(H(mass)). Mass alone cannot see uniform rows
  (every node spread evenly over every cluster has perfectly even mass).
* **sharpness** — the mean normalised row entropy H(Sᵢ)/log C: 0 = every node decided, 1 = every
  row uniform.
* **structure** — the modularity of the hard partition argmaxₖ Sᵢₖ against the modularity of
  Louvain's partition of the same graph (their ratio), the mean conductance of the clusters,
  and ``connected_share``: the fraction of nodes that sit in the largest connected piece of
  their own cluster (1 = every cluster is one connected piece; low = clusters are scattered).
* **features / truth** — NMI of the clusters with the node labels (when the graph has them) and
  NMI / ARI with known groups (planted, or an attribute the user picks).

Verdicts, checked in this order (thresholds are module constants, quoted in the README):

``uniform``         mean normalised entropy ≥ ``UNIFORM_ENTROPY`` (0.8): rows are close to uniform,
                    the level does not decide anything.
``collapsed``       one cluster holds ≥ ``COLLAPSE_SHARE`` (90 %) of the mass, or every node picks
                    the same cluster: the level pools the whole graph into one node. A confident
                    two-way split (27 / 35 nodes at C = 2) is *not* a collapse.
``feature-driven``  label NMI ≥ ``LABEL_NMI`` (0.5) while the clusters are scattered or weak on
                    structure: clusters are buckets of node labels, not regions of the graph.
``fragmented``      connected share < ``CONNECTED_SHARE`` (0.6) or modularity ratio <
                    ``MODULARITY_RATIO`` (0.3): clusters are not connected regions of the graph.
                    On a graph where Louvain finds no community structure (no ratio), a
                    partition with negative modularity (below ``-NEGATIVE_MODULARITY``) is
                    fragmented too: its clusters cut more edges than chance would (e.g. every
                    node of a 4-node path alone in its own cluster).
``healthy``         none of the above: decided rows, mass spread over several clusters, connected
                    clusters with at least 0.3 of Louvain's modularity; a level's sentence
                    (:func:`explain`) says "about as modular as Louvain's" only from
                    ``CLOSE_TO_LOUVAIN`` (0.8), "less modular" below it.

Every measure here is a pure function (numpy / scipy in, plain dicts out). On top of them:
:func:`diagnose_trace` (every level of a :class:`core.model.trace.GraphTrace`), :func:`diagnose_dataset`
(run a model over a dataset and diagnose every graph; the app's atlas and the CLI both call it,
so they print the same numbers), :func:`verdict_shares`, and the command line::

    python -m core.diagnose --model NAME_OR_PATH --dataset NAME [--graphs 0,5,9 | --all] [--json]

:func:`is_collapsed` is the one collapse rule; ``core.analysis.assignment_stats`` uses it too."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Sequence

import numpy as np
import scipy.sparse as sp

from core.analysis.agreement import partition_scores

if TYPE_CHECKING:  # pragma: no cover
    from core.model.trace import GraphTrace


#: Mean normalised row entropy from which a level counts as ``uniform``.
UNIFORM_ENTROPY = 0.8
#: Share of the total mass in one cluster from which a level counts as ``collapsed``.
COLLAPSE_SHARE = 0.9
#: NMI between clusters and node labels from which clusters may be ``feature-driven``.
LABEL_NMI = 0.5
#: Below this fraction of nodes in their cluster's largest connected piece: ``fragmented``.
CONNECTED_SHARE = 0.6
#: Below this ratio of the partition's modularity to Louvain's: ``fragmented`` (weak structure).
MODULARITY_RATIO = 0.3
#: Louvain modularity under which a graph has no community structure worth a ratio.
MIN_LOUVAIN_MODULARITY = 0.05
#: Without a ratio, partition modularity below minus this counts as ``fragmented``.
NEGATIVE_MODULARITY = 0.05

VERDICTS = ("healthy", "collapsed", "uniform", "feature-driven", "fragmented")

#: From this ratio to Louvain's modularity a healthy level's clusters are "about as modular" as Louvain's.
CLOSE_TO_LOUVAIN = 0.8
#: Below this connected share a healthy level's clusters are "mostly connected regions", with the share.
MOSTLY_CONNECTED = 0.95

#: One plain sentence per verdict, shown beside it in the app and the CLI (a level's own sentence,
#: :func:`explain`, adds how modular a healthy level is).
EXPLANATIONS = {
    "healthy": "Nodes are decided, several clusters are used, and the clusters are connected regions "
    "of the graph.",
    "collapsed": "Almost every node is pooled into one cluster, so this level squeezes the whole graph into "
    "a single node.",
    "uniform": "Every node is spread almost evenly over the clusters: the level has not decided anything.",
    "feature-driven": "Clusters follow the node labels, not the graph: they are buckets of label values "
    "scattered over the graph.",
    "fragmented": "Clusters are not connected regions of the graph (their nodes are scattered), or they "
    "follow its structure far less than Louvain's communities do.",
}


def explain(verdict: str, modularity_ratio: float | None, connected_share: float | None = None,
            modularity: float | None = None, alone: bool = False) -> str:
    """The verdict's sentence for one level, saying what decided it where the verdict has several causes.

    A healthy level also says how its modularity compares with Louvain's (healthy only needs
    MODULARITY_RATIO, so 0.3 and 1.0 must not read alike). A fragmented or feature-driven level
    names what is weak: scattered clusters (``connected_share``), a low ratio to Louvain's
    modularity, or, where Louvain finds no structure, a partition that cuts more edges than chance
    (``modularity``: None for a graph without edges), or ``alone``: every node in a cluster of its own
    (the level pools nothing). Without ``connected_share`` (older callers) the general sentence of
    ``EXPLANATIONS``.

    >>> explain("healthy", 0.46).endswith("less modular than Louvain's communities (0.46 of their modularity): "
    ...                                   "their number or borders differ from the graph's own communities.")
    True
    >>> explain("fragmented", None, 1.0, -0.11)   # a triangle split in two: connected, worse than chance
    'The clusters are connected but cut more edges than chance would: the graph has no community structure for them to follow (Louvain finds none either).'
    """
    text = EXPLANATIONS[verdict]
    if verdict in ("fragmented", "feature-driven") and connected_share is not None:
        return _weak_sentence(verdict, modularity_ratio, connected_share, modularity, alone)
    if verdict == "healthy" and connected_share is not None and connected_share < MOSTLY_CONNECTED:
        text = text.removesuffix("connected regions of the graph.") + (
            f"mostly connected regions of the graph ({connected_share:.0%} of the nodes lie in their cluster's "
            "largest connected piece).")
    if verdict != "healthy" or modularity_ratio is None:
        return text
    if modularity_ratio >= CLOSE_TO_LOUVAIN:
        return text + f" They are about as modular as Louvain's communities ({modularity_ratio:.2f} of their modularity)."
    return text + (f" They are less modular than Louvain's communities ({modularity_ratio:.2f} of their modularity): "
                   "their number or borders differ from the graph's own communities.")


def _weak_sentence(verdict: str, ratio: float | None, connected: float, modularity: float | None,
                   alone: bool) -> str:
    """What is weak about a fragmented or feature-driven level, in the order :func:`_verdict` checks it."""
    scattered = connected < CONNECTED_SHARE
    weak_ratio = ratio is not None and ratio < MODULARITY_RATIO
    if modularity is None:
        what = "the graph has no edges, so clusters of several nodes cannot be connected regions of it"
    elif alone:
        what = ("every node is alone in a cluster of its own: the level pools nothing, and every edge runs "
                "between clusters")
    elif scattered and weak_ratio:
        what = "the clusters' nodes are scattered over the graph, and the partition is " + (
            "no more modular than a random split" if ratio < 0.005
            else f"far less modular than Louvain's communities ({ratio:.2f} of their modularity)")
    elif scattered:
        what = "the clusters' nodes are scattered over the graph: they are not connected regions of it"
    elif weak_ratio and ratio < 0.005:
        what = ("the clusters are connected but no more modular than a random split, on a graph that has "
                "communities (Louvain's): they cut across them")
    elif weak_ratio:
        what = (f"the clusters are connected but far less modular than Louvain's communities ({ratio:.2f} of their "
                "modularity): they cut across the graph's own communities")
    else:
        what = ("the clusters are connected but cut more edges than chance would: the graph has no community "
                "structure for them to follow (Louvain finds none either)")
    if verdict == "feature-driven":
        return f"Clusters follow the node labels, not the graph: {what}."
    return what[0].upper() + what[1:] + "."


def level_has_edges(level: dict) -> bool:
    """Whether the graph a :func:`diagnose_level` dict judged had edges (without edges its modularities
    are 0 and its conductance undefined)."""
    return level.get("conductance") is not None or bool(level.get("modularity_louvain")) or bool(level.get("modularity"))


def level_explanation(level: dict) -> str:
    """:func:`explain` for a level dict of :func:`diagnose_level` (also one stored before this wording)."""
    edges = level_has_edges(level)
    alone = level.get("num_nodes", 0) > 1 and level.get("clusters_used") == level.get("num_nodes")
    return explain(level["verdict"], level.get("modularity_ratio"), level.get("connected_share"),
                   level.get("modularity") if edges else None, alone)


# ====================================================================== inputs
def _as_adjacency(adjacency) -> sp.csr_matrix:
    """float64 symmetric CSR matrix from a dense array or scipy sparse matrix."""
    if sp.issparse(adjacency):
        matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    else:
        array = np.asarray(adjacency, dtype=np.float64)
        if array.ndim != 2 or array.shape[0] != array.shape[1]:
            raise ValueError(f"adjacency must be a square [N, N] matrix, got shape {array.shape}")
        matrix = sp.csr_matrix(array)
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"adjacency must be a square [N, N] matrix, got shape {matrix.shape}")
    if matrix.nnz and not np.all(np.isfinite(matrix.data)):
        raise ValueError("adjacency contains NaN or inf")
    if matrix.nnz and matrix.data.min() < 0:
        raise ValueError("adjacency has negative weights; modularity needs non-negative weights")
    return matrix


def _as_assignment(assignment, num_nodes: int) -> np.ndarray:
    array = np.asarray(assignment, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"assignment must be a 2-D [N, C] array with C >= 1, got shape {array.shape}")
    if array.shape[0] != num_nodes:
        raise ValueError(f"assignment has {array.shape[0]} rows but the adjacency has {num_nodes} nodes")
    if not np.all(np.isfinite(array)):
        raise ValueError("assignment contains NaN or inf")
    sums = array.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-3)
    if bad.size:
        raise ValueError(f"assignment rows must sum to 1; row {bad[0]} sums to {sums[bad[0]]:.4g}")
    return np.clip(array, 0.0, None)


def _as_node_array(values, num_nodes: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != num_nodes:
        raise ValueError(f"{name} must be a length-{num_nodes} 1-D array, got shape {array.shape}")
    _, codes = np.unique(array, return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


# ====================================================================== measures
def row_entropy(assignment: np.ndarray) -> np.ndarray:
    """float64 [N] H(Sᵢ) = −Σₖ Sᵢₖ log Sᵢₖ in nats (0 log 0 = 0).

    >>> row_entropy(np.array([[1.0, 0.0], [0.5, 0.5]])).round(4).tolist()
    [0.0, 0.6931]
    """
    safe = np.where(assignment > 0, assignment, 1.0)
    return 0.0 - (assignment * np.log(safe)).sum(axis=1)


def partition_modularity(adjacency: sp.csr_matrix, labels: np.ndarray) -> float:
    """Newman modularity Q = Σ_c [e_c / 2m − (vol_c / 2m)²] of a hard partition of a weighted graph.

    adjacency: symmetric [N, N] (a self-loop weight w on the diagonal counts once in 2m and in
    the degree, the matrix convention); labels: int [N]. 0.0 for a graph without edges.

    >>> A = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0.]]))
    >>> partition_modularity(A, np.array([0, 0, 1, 1]))
    0.5
    """
    total = adjacency.sum()
    if total <= 0:
        return 0.0
    coo = adjacency.tocoo()
    inside = labels[coo.row] == labels[coo.col]
    count = int(labels.max()) + 1 if labels.size else 0
    internal = np.bincount(labels[coo.row[inside]], coo.data[inside], minlength=count)
    volume = np.bincount(labels, np.asarray(adjacency.sum(axis=1)).ravel(), minlength=count)
    return float((internal / total - (volume / total) ** 2).sum())


def louvain_partition(adjacency: sp.csr_matrix, seed: int = 0, resolution: float = 1.0) -> np.ndarray:
    """int64 [N] Louvain communities of a weighted graph (igraph's multilevel, seeded): the project's one
    Louvain (the diagnosis' reference, the upload page's row and default cluster count)."""
    import igraph as ig

    n = adjacency.shape[0]
    upper = sp.triu(adjacency, k=0).tocoo()
    graph = ig.Graph(n=n, edges=np.column_stack([upper.row, upper.col]).tolist(), directed=False)
    # igraph draws from one global generator: seed it for this call, then give back Python's.
    ig.set_random_number_generator(random.Random(seed))
    try:
        clustering = graph.community_multilevel(weights=upper.data.tolist() if upper.nnz else None,
                                                resolution=resolution)
    finally:
        ig.set_random_number_generator(random)
    return np.asarray(clustering.membership, dtype=np.int64)


def mean_conductance(adjacency: sp.csr_matrix, labels: np.ndarray) -> float | None:
    """Mean over clusters of cut(c) / min(vol(c), vol(V) − vol(c)); None when no cluster has one."""
    coo = adjacency.tocoo()
    count = int(labels.max()) + 1
    crossing = labels[coo.row] != labels[coo.col]
    cut = np.bincount(labels[coo.row[crossing]], coo.data[crossing], minlength=count)
    volume = np.bincount(labels, np.asarray(adjacency.sum(axis=1)).ravel(), minlength=count)
    used = np.bincount(labels, minlength=count) > 0
    denominator = np.minimum(volume, volume.sum() - volume)
    defined = used & (denominator > 0)
    if not defined.any():
        return None
    return float((cut[defined] / denominator[defined]).mean())


def connected_share(adjacency: sp.csr_matrix, labels: np.ndarray) -> float:
    """Fraction of nodes lying in the largest connected piece of their own cluster.

    Only edges inside a cluster are kept; each connected component then lies in one cluster, and
    each cluster contributes its largest component. 1.0 when every cluster is connected.

    >>> A = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0.]]))
    >>> connected_share(A, np.array([0, 0, 1, 1])), connected_share(A, np.array([0, 1, 0, 1]))
    (1.0, 0.5)
    """
    n = adjacency.shape[0]
    if n == 0:
        return 1.0
    coo = adjacency.tocoo()
    keep = (labels[coo.row] == labels[coo.col]) & (coo.row != coo.col)
    inside = sp.csr_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=(n, n))
    _, component = sp.csgraph.connected_components(inside, directed=False)
    sizes = np.bincount(component)
    # each component sits in one cluster; keep the largest per cluster
    cluster_of_component = np.zeros(sizes.size, dtype=np.int64)
    cluster_of_component[component] = labels
    largest = np.zeros(int(labels.max()) + 1)
    np.maximum.at(largest, cluster_of_component, sizes)
    return float(largest.sum() / n)


# ====================================================================== the diagnosis
def diagnose_level(adjacency, assignment, node_labels=None, truth=None, seed: int = 0) -> dict:
    """Diagnose one pooling level of one graph.

    adjacency: [N, N] numpy array or scipy sparse matrix (symmetric, non-negative weights; for a
    coarsened level, A' with intra-cluster weight on the diagonal). assignment: [N, C]
    row-stochastic numpy array S. node_labels, truth: optional length-N integer arrays (node
    label codes; known groups). seed: Louvain's seed.

    Returns a dict with:
      verdict, explanation          one of VERDICTS and its plain sentence
      reasons                       list of short strings: which thresholds decided the verdict
      num_nodes, num_clusters       N, C
      clusters_used                 clusters that are the argmax of at least one node
      largest_share                 max_k ΣᵢSᵢₖ / N
      effective_clusters            exp(H(mass / N)), from the mass alone
      mean_entropy                  mean_i H(Sᵢ) in nats
      entropy_normalised            mean_i H(Sᵢ) / log C (0 when C = 1)
      modularity                    modularity of the hard partition argmax_k Sᵢₖ
      modularity_louvain            modularity of Louvain's partition of the same graph
      modularity_ratio              modularity / modularity_louvain, None when Louvain finds no
                                    structure (< MIN_LOUVAIN_MODULARITY) or the graph has no edges
      conductance                   mean conductance of the hard clusters (None if undefined)
      connected_share               see :func:`connected_share` (without edges: clusters in use / N)
      label_nmi                     NMI(clusters, node_labels), None without labels
      truth_nmi, truth_ari          agreement with ``truth``, None without truth

    >>> A = np.kron(np.eye(2), np.ones((4, 4))) - np.eye(8)
    >>> diagnose_level(A, np.kron(np.eye(2), np.ones((4, 1))))["verdict"]
    'healthy'
    """
    matrix = _as_adjacency(adjacency)
    n = matrix.shape[0]
    if n == 0:
        raise ValueError("cannot diagnose a level with no nodes")
    s = _as_assignment(assignment, n)
    labels = _as_node_array(node_labels, n, "node_labels")
    groups = _as_node_array(truth, n, "truth")
    c = s.shape[1]

    hard = s.argmax(axis=1).astype(np.int64)
    mass = s.sum(axis=0)
    share = mass / mass.sum()
    safe = np.where(share > 0, share, 1.0)
    effective = float(np.exp(-(share * np.log(safe)).sum()))
    mean_entropy = float(row_entropy(s).mean())
    entropy_normalised = mean_entropy / math.log(c) if c > 1 else 0.0
    clusters_used = int(np.unique(hard).size)
    largest_share = float(share.max())

    has_edges = matrix.nnz > 0 and matrix.sum() > 0
    if has_edges:
        modularity = partition_modularity(matrix, hard)
        louvain = louvain_partition(matrix, seed)
        modularity_louvain = partition_modularity(matrix, louvain)
        ratio = modularity / modularity_louvain if modularity_louvain >= MIN_LOUVAIN_MODULARITY else None
        conductance_mean = mean_conductance(matrix, hard)
        connected = connected_share(matrix, hard)
    else:
        modularity = modularity_louvain = 0.0
        ratio = conductance_mean = None
        # Without edges every node is its own connected piece: a cluster of several nodes is scattered.
        connected = connected_share(matrix, hard)

    label_nmi = partition_scores(hard, labels)[0] if labels is not None else None
    truth_nmi, truth_ari = partition_scores(hard, groups) if groups is not None else (None, None)

    verdict, reasons = _verdict(
        entropy_normalised, largest_share, clusters_used, n, c, label_nmi, connected, ratio,
        modularity if has_edges else None,
    )
    return {
        "verdict": verdict,
        "explanation": explain(verdict, ratio, connected, modularity if has_edges else None, 1 < n == clusters_used),
        "reasons": reasons,
        "num_nodes": n,
        "num_clusters": c,
        "clusters_used": clusters_used,
        "largest_share": largest_share,
        "effective_clusters": effective,
        "mean_entropy": mean_entropy,
        "entropy_normalised": entropy_normalised,
        "modularity": modularity,
        "modularity_louvain": modularity_louvain,
        "modularity_ratio": ratio,
        "conductance": conductance_mean,
        "connected_share": connected,
        "label_nmi": label_nmi,
        "truth_nmi": truth_nmi,
        "truth_ari": truth_ari,
    }


def is_collapsed(entropy_normalised: float, largest_share: float, clusters_used: int, n: int, c: int) -> bool:
    """The mass-and-sharpness part of the verdict: would this level be called ``collapsed``?

    True for a single-cluster level, and for a level that is not ``uniform`` (mean normalised
    entropy < UNIFORM_ENTROPY) whose nodes all pick one cluster or whose largest cluster holds
    ≥ COLLAPSE_SHARE of the mass. :func:`core.analysis.assignment_stats` uses this same rule, so
    no view can call a level collapsed that the diagnosis calls something else.

    >>> is_collapsed(0.05, 27 / 62, 2, 62, 2)   # confident 27 / 35 split: not a collapse
    False
    >>> is_collapsed(1.0, 0.125, 1, 100, 8)    # uniform rows are "uniform", not "collapsed"
    False
    """
    if c <= 1:
        return True
    if entropy_normalised >= UNIFORM_ENTROPY or n <= 1:
        return False
    return clusters_used <= 1 or largest_share >= COLLAPSE_SHARE


def _verdict(entropy_normalised, largest_share, clusters_used, n, c, label_nmi, connected, ratio,
             modularity=None):
    """(verdict, reasons) from the measures, in the order the module docstring gives."""
    if c > 1 and entropy_normalised >= UNIFORM_ENTROPY:
        return "uniform", [f"mean normalised entropy {entropy_normalised:.2f} ≥ {UNIFORM_ENTROPY}"]
    if is_collapsed(entropy_normalised, largest_share, clusters_used, n, c):
        if c == 1:
            return "collapsed", ["the level has a single cluster"]
        reason = (
            "every node picks the same cluster"
            if clusters_used <= 1
            else f"largest cluster holds {largest_share:.0%} of the mass (≥ {COLLAPSE_SHARE:.0%})"
        )
        return "collapsed", [reason]
    weak = []
    if connected is not None and connected < CONNECTED_SHARE:
        weak.append(f"only {connected:.0%} of nodes lie in their cluster's largest connected piece"
                    + (" (the graph has no edges)" if modularity is None else ""))
    if ratio is not None and ratio < MODULARITY_RATIO:
        weak.append(f"modularity is {ratio:.2f}× Louvain's (< {MODULARITY_RATIO})")
    if ratio is None and modularity is not None and modularity < -NEGATIVE_MODULARITY:
        weak.append(f"partition modularity {modularity:.2f} < 0: the clusters cut more edges than chance "
                    "would (Louvain finds no community structure here either)")
    if weak and label_nmi is not None and label_nmi >= LABEL_NMI:
        return "feature-driven", [f"NMI with node labels {label_nmi:.2f} ≥ {LABEL_NMI}", *weak]
    if weak:
        return "fragmented", weak
    return "healthy", []


def diagnose_trace(trace: "GraphTrace", node_labels=None, truth=None, seed: int = 0) -> list[dict]:
    """One :func:`diagnose_level` dict per pooling level of ``trace``.

    Level 0 is judged on the input adjacency, level l > 0 on the coarsened adjacency of level
    l − 1. ``node_labels`` (int [N]) are compared at level 0 only. ``truth`` (int [N], groups of
    the input nodes) is compared at every level through the composed assignment S₀ S₁ … S_l, so
    a level-2 cluster is scored by the input nodes it ends up holding (keys ``truth_nmi`` and
    ``truth_ari`` of level l > 0 refer to that composition).
    """
    results = []
    adjacency = trace.adjacency
    composed = None
    for index, level in enumerate(trace.levels):
        assignment = np.asarray(level.assignment, dtype=np.float64)
        result = diagnose_level(adjacency, assignment, node_labels if index == 0 else None,
                                truth if index == 0 else None, seed)
        composed = assignment if composed is None else composed @ assignment
        if index > 0 and truth is not None:
            groups = _as_node_array(truth, composed.shape[0], "truth")
            result["truth_nmi"], result["truth_ari"] = partition_scores(composed.argmax(axis=1), groups)
        result["level"] = index
        results.append(result)
        adjacency = np.asarray(level.coarsened_adjacency, dtype=np.float64)
    return results


def verdict_shares(diagnoses: Sequence[Sequence[dict]]) -> list[dict]:
    """Per level, the share of graphs with each verdict.

    diagnoses: one list of level dicts (from :func:`diagnose_trace`) per graph. Returns one dict
    per level: ``{"level": l, "graphs": G, "shares": {verdict: fraction}}`` (every verdict listed).
    """
    levels = max((len(d) for d in diagnoses), default=0)
    rows = []
    for level in range(levels):
        verdicts = [d[level]["verdict"] for d in diagnoses if len(d) > level]
        rows.append({
            "level": level,
            "graphs": len(verdicts),
            "shares": {v: verdicts.count(v) / len(verdicts) for v in VERDICTS},
        })
    return rows
