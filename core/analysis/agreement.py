"""Agreement of hard clusterings of the same nodes: NMI / ARI, clusters matched by the Hungarian
algorithm, stability over seeds."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    pass
from core.analysis.assignments import _as_labels


# ====================================================================== 3. agreement
def agreement(labels_a, labels_b) -> dict:
    """How much two hard clusterings of the same nodes agree.

    labels_a, labels_b: int [n]. Returns {"nmi": normalized mutual information (arithmetic
    mean normalisation, sklearn's default), "ari": adjusted Rand index}; both symmetric,
    1.0 for identical partitions whatever the ids, NMI in [0, 1], ARI ≈ 0 for chance.

    >>> agreement([0, 0, 1, 1], [5, 5, 3, 3])
    {'nmi': 1.0, 'ari': 1.0}
    """
    a = _as_labels(labels_a, name="labels_a")
    b = _as_labels(labels_b, a.shape[0], name="labels_b")
    nmi, ari = partition_scores(a, b)
    return {"nmi": nmi, "ari": ari}


def partition_scores(labels_a, labels_b) -> tuple[float, float]:
    """(NMI, ARI) of two labellings of the same n items, from their contingency table; any
    hashable labels, no argument checks. The values of scikit-learn's
    ``normalized_mutual_info_score`` (arithmetic-mean normalisation) and ``adjusted_rand_score``,
    special cases included (tests/core/test_analysis.py compares them on random and degenerate
    labellings).

    Written with NumPy because importing ``sklearn.metrics`` costs ~0.9 s on a busy 2-core
    machine, and the first diagnosis of the app's first page paid it while the browser drew the
    page's first network.

    >>> partition_scores([0, 0, 1, 1], [1, 1, 0, 0])
    (1.0, 1.0)
    """
    _, a = np.unique(np.asarray(labels_a), return_inverse=True)
    _, b = np.unique(np.asarray(labels_b), return_inverse=True)
    a, b = a.ravel(), b.ravel()
    if a.shape != b.shape:
        raise ValueError(f"the labellings have {a.size} and {b.size} items")
    n = a.size
    table = np.zeros((int(a.max(initial=-1)) + 1, int(b.max(initial=-1)) + 1), dtype=np.int64)
    np.add.at(table, (a, b), 1)
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    # NMI: 1 when neither labelling splits the items (both entropies 0), else I / mean(H_a, H_b)
    if rows.size == cols.size and rows.size <= 1:
        nmi = 1.0
    else:
        # the same arithmetic as scikit-learn's mutual_info_score and entropy (same rounding)
        i, j = np.nonzero(table)
        joint = table[i, j].astype(np.float64)
        share = joint / n
        outer = rows[i].astype(np.float64) * cols[j].astype(np.float64)
        log_outer = -np.log(outer) + np.log(float(rows.sum())) + np.log(float(cols.sum()))
        terms = share * (np.log(joint) - np.log(float(n))) + share * log_outer
        mutual = float(np.clip(np.where(np.abs(terms) < np.finfo(np.float64).eps, 0.0, terms).sum(), 0.0, None))

        def entropy(counts: np.ndarray) -> float:
            counts = counts[counts > 0].astype(np.float64)
            return float(-np.sum((counts / n) * (np.log(counts) - np.log(float(n)))))

        if mutual == 0.0:
            nmi = 0.0
        else:
            nmi = mutual / max((entropy(rows) + entropy(cols)) / 2, np.finfo(np.float64).eps)
    # ARI from the pair-confusion counts (pairs together in both, in one only, in neither)
    squares = int(np.sum(table * table))
    both = squares - n
    only_b = int(np.sum(table @ cols)) - squares
    only_a = int(np.sum(table.T @ rows)) - squares
    neither = n * n - only_a - only_b - squares
    if only_a == 0 and only_b == 0:
        ari = 1.0
    else:
        ari = 2.0 * (both * neither - only_a * only_b) / (
            (both + only_a) * (only_a + neither) + (both + only_b) * (only_b + neither))
    return float(nmi), float(ari)


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
