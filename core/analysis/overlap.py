"""Scoring a clustering against ground truth that allows several groups per node.

An uploaded file can give a node several groups: GML repeats the key
(``community 1 community 4``), GEXF has ``liststring`` attributes, node-link JSON uses arrays.
:func:`core.io.read_graph` keeps such an attribute as a list per node. This module scores a
hard clustering against it, two ways:

- **overlapping NMI** (:func:`overlapping_nmi`): the truth is a *cover* - one set of nodes per
  distinct value (:func:`cover_from_lists`) - and the clustering a cover of disjoint sets.
  The score is the NMI of Lancichinetti, Fortunato and Kertész (2009) with the ``max``
  normalisation of McDaid, Greene and Hurley (2011), the one overlapping-community tools
  usually report: 1 for identical covers, about 0 for unrelated ones, symmetric. For two
  partitions it is close to (not equal to) the classical NMI.
- **first-group NMI**: each node's truth is its first listed value (nodes without one form a
  group of their own), scored with the classical NMI (scikit-learn, arithmetic mean).

Identical member sets are counted once, so the reading does not depend on whether the
values name groups (``[1, 4]``: the node is in groups 1 and 4) or list members (networkx's LFR
generator stores each node's whole community as its value): both give the same cover.

Example
-------
>>> truth = [[0], [0], [0, 1], [1], [1]]          # node 2 is in both groups
>>> overlapping_nmi(cover_from_lists(truth), cover_from_lists(truth))
1.0
>>> round(overlapping_nmi(cover_from_lists(truth), cover_from_labels([0, 0, 0, 1, 1])), 3)
0.716
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from core.analysis.agreement import partition_scores

__all__ = [
    "is_list_valued",
    "cover_from_lists",
    "cover_from_labels",
    "first_group_labels",
    "overlapping_nmi",
    "score_overlapping",
]


def is_list_valued(values: Sequence) -> bool:
    """True when some node's value is a list (several groups per node).

    >>> is_list_valued([[1, 2], [3], None]), is_list_valued([1, 2])
    (True, False)
    """
    return any(isinstance(v, (list, tuple)) for v in values)


def _members(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if v is not None]
    return [value]


def _key(value):
    """Hashable form of one group value; whole-number floats equal their int (1.0 == 1)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, dict, set)):
        return repr(value)
    return value


def cover_from_lists(values: Sequence) -> list[frozenset[int]]:
    """One node set per distinct value of a (list-)valued attribute; identical sets kept once.

    values: length N; each entry a value, a list of values, or None (the node is in no group).
    Returns the groups in first-seen order, each a frozenset of node indices 0..N-1.

    >>> cover_from_lists([[1, 2], [2], None])
    [frozenset({0}), frozenset({0, 1})]
    """
    groups: dict = {}
    for node, value in enumerate(values):
        for member in _members(value):
            groups.setdefault(_key(member), set()).add(node)
    unique: dict[frozenset, None] = {}
    for members in groups.values():
        unique.setdefault(frozenset(members), None)
    return list(unique)


def cover_from_labels(labels: Sequence[int] | np.ndarray) -> list[frozenset[int]]:
    """The disjoint cover of a hard clustering: int [N] labels -> one node set per label.

    >>> cover_from_labels([1, 0, 1])
    [frozenset({0, 2}), frozenset({1})]
    """
    return cover_from_lists([int(x) for x in np.asarray(labels).ravel()])


def first_group_labels(values: Sequence) -> np.ndarray:
    """int64 [N]: each node's first listed group, numbered in first-seen order; nodes without
    any group share one extra label.

    >>> first_group_labels([[5, 2], [2], None, 5]).tolist()
    [0, 1, 2, 0]
    """
    ids: dict = {}
    labels = np.empty(len(values), dtype=np.int64)
    for node, value in enumerate(values):
        members = _members(value)
        key = _key(members[0]) if members else ("no group",)
        labels[node] = ids.setdefault(key, len(ids))
    return labels


def _h(count: int, total: int) -> float:
    """-p log2 p for p = count / total (0 for p = 0)."""
    if count <= 0:
        return 0.0
    p = count / total
    return -p * math.log2(p)


def _entropy(size: int, n: int) -> float:
    return _h(size, n) + _h(n - size, n)


def _conditional(covers_x: list[frozenset], covers_y: list[frozenset], n: int) -> tuple[float, float]:
    """(H(X), H(X|Y)) in bits, summed over X's groups, with the LFK rule: a group of Y counts
    as information about X_i only when it agrees with X_i more than it disagrees."""
    total_h = total_conditional = 0.0
    for x in covers_x:
        h_x = _entropy(len(x), n)
        best = h_x
        for y in covers_y:
            both = len(x & y)
            only_x = len(x) - both
            only_y = len(y) - both
            neither = n - both - only_x - only_y
            if _h(both, n) + _h(neither, n) < _h(only_x, n) + _h(only_y, n):
                continue
            joint = _h(both, n) + _h(only_x, n) + _h(only_y, n) + _h(neither, n)
            best = min(best, joint - _entropy(len(y), n))
        total_h += h_x
        total_conditional += best
    return total_h, total_conditional


def overlapping_nmi(cover_a: list[frozenset[int]], cover_b: list[frozenset[int]], num_nodes: int | None = None) -> float:
    """NMI_max of two covers (LFK 2009, normalised as McDaid et al. 2011), in [0, 1].

    cover_a, cover_b: lists of node-index sets (groups may overlap; nodes may be in none).
    num_nodes: N; defaults to 1 + the largest node index in either cover.
    Returns 1.0 when both covers are trivial in the same way (e.g. both one group of all nodes).
    """
    if num_nodes is None:
        num_nodes = 1 + max((max(group) for group in (*cover_a, *cover_b) if group), default=-1)
    if num_nodes <= 0:
        raise ValueError("overlapping_nmi needs at least one node")
    h_a, h_a_given_b = _conditional(cover_a, cover_b, num_nodes)
    h_b, h_b_given_a = _conditional(cover_b, cover_a, num_nodes)
    if max(h_a, h_b) == 0.0:
        return 1.0 if set(cover_a) == set(cover_b) else 0.0
    mutual = 0.5 * (h_a - h_a_given_b + h_b - h_b_given_a)
    return float(min(1.0, max(0.0, mutual / max(h_a, h_b))))


def score_overlapping(truth_values: Sequence, predicted: Sequence[int] | np.ndarray) -> dict:
    """Both scores of a hard clustering against a (list-)valued ground-truth attribute.

    truth_values: length N attribute values (lists, scalars or None).
    predicted: int [N] hard cluster per node.
    Returns {"overlapping_nmi", "first_group_nmi", "truth_groups", "nodes_in_several_groups",
    "nodes_in_no_group"}.
    """
    predicted = np.asarray(predicted).ravel()
    if len(truth_values) != predicted.shape[0]:
        raise ValueError(f"truth has {len(truth_values)} nodes but the clustering {predicted.shape[0]}")
    truth_cover = cover_from_lists(truth_values)
    counts = [len({_key(m) for m in _members(v)}) for v in truth_values]
    return {
        "overlapping_nmi": overlapping_nmi(truth_cover, cover_from_labels(predicted), len(truth_values)),
        "first_group_nmi": partition_scores(first_group_labels(truth_values), predicted)[0],
        "truth_groups": len(truth_cover),
        "nodes_in_several_groups": sum(c > 1 for c in counts),
        "nodes_in_no_group": sum(c == 0 for c in counts),
    }
