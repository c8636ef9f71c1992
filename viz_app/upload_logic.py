"""Pure helpers of the "Bring your own graph" page (no Streamlit): what can run, what to show.

Everything here takes plain data (model cards, graphs, clustering reports) and returns plain
data (lists of dicts, arrays, strings), so it is unit-tested without a browser.

Example
-------
>>> model_compatibility({"variant": "diffpool", "features": {"kind": "degree"}})
(True, 'structure-only features (degree)')
>>> attribute_labels(["a", "b", "a", None]).tolist()
[0, 1, 0, 2]
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from core.analysis.diagnosis import level_has_edges
from core.model.compat import check_compatibility
from core.analysis.overlap import cover_from_lists, first_group_labels, is_list_valued
from core.data.features import STRUCTURAL_KINDS

#: Upload-able file extensions (``core.io.read_graph``), each also accepted with ``.gz``.
UPLOAD_EXTENSIONS = ("txt", "edgelist", "tsv", "csv", "graphml", "gml", "json", "npy", "gexf", "net", "mtx", "zip", "gz")

#: Feature kinds that need only the graph's structure (so a model applies to any uploaded graph).
STRUCTURE_ONLY_FEATURES = STRUCTURAL_KINDS

#: Beyond this many nodes the input graph is drawn on a sample (``analysis.sample_nodes``).
MAX_DRAWN_NODES = 2000

#: Pretrained models run densely ([N, N] adjacency); beyond this many nodes they are refused.
MAX_DENSE_NODES = 5000

#: Heatmaps of S show at most this many rows (a sample of nodes beyond).
MAX_HEATMAP_ROWS = 400


def file_digest(data: bytes) -> str:
    """SHA-256 hex digest of a file's bytes: the cache key of everything computed from it.

    >>> file_digest(b"")[:8]
    'e3b0c442'
    """
    return hashlib.sha256(bytes(data)).hexdigest()


def example_files(folder: str | Path) -> list[str]:
    """Names of the example graph files in ``folder`` (readable extensions only), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    allowed = {"." + e for e in UPLOAD_EXTENSIONS}
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in allowed)


# ---------------------------------------------------------------------------- models
def model_compatibility(card: dict) -> tuple[bool, str]:
    """(usable, why) for applying a checkpoint to an uploaded graph.

    A model is usable when its node features need only structure (``degree`` or ``constant``)
    and it pools (not the ``graphsage`` variant, which has no clusters to show).

    >>> model_compatibility({"variant": "diffpool", "features": {"kind": "labels"}})[0]
    False
    """
    result = check_compatibility(card, need_pooling=True)  # no dataset: an uploaded graph
    if not result.ok:
        return False, result.problem
    return True, f"structure-only features ({card['features']['kind']})"


def split_compatible(entries: Sequence[dict], cards: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Split checkpoint entries (``state.list_checkpoints`` dicts) by :func:`model_compatibility`.

    Returns (usable entries, refused entries); each refused entry gets a ``reason`` key.
    """
    usable, refused = [], []
    for entry, card in zip(entries, cards):
        ok, why = model_compatibility(card)
        (usable if ok else refused).append({**entry, "reason": why})
    return usable, refused


def default_cluster_counts(num_nodes: int, levels: int = 1, communities: int | None = None) -> list[int]:
    """Suggested clusters per level: the graph's own number of ``communities`` at level 1 when known
    (:func:`community_count`), else about √(N/2); 2..64 and at most N; a quarter of that next.

    >>> default_cluster_counts(34), default_cluster_counts(1000, 2), default_cluster_counts(30, 1, communities=5)
    ([4], [22, 5], [5])
    """
    guess = communities if communities else round(math.sqrt(max(num_nodes, 1) / 2))
    first = int(min(64, max(num_nodes, 2), max(2, guess)))
    counts = [first]
    if levels >= 2:
        counts.append(max(2, first // 4))
    return counts[:levels]


def community_count(adjacency, seed: int = 0) -> int:
    """Louvain's communities of at least 2 nodes (igraph multilevel, as the diagnosis' reference):
    the number of groups the graph itself suggests (isolated nodes are not groups).

    >>> import scipy.sparse as sp
    >>> two_triangles = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 3)) - np.eye(3)))
    >>> community_count(sp.block_diag([two_triangles, sp.csr_matrix((2, 2))]).tocsr())
    2
    """
    from core.analysis.diagnosis import louvain_partition

    return int((np.bincount(louvain_partition(adjacency, seed=seed)) >= 2).sum())


# ---------------------------------------------------------------------------- ground truth
def attribute_labels(values: Sequence) -> np.ndarray:
    """int64 [N] category ids of a node attribute, in first-seen order; missing (None) is its own id.

    Floats that are whole numbers count as the same category as the integer (1.0 == 1).
    """
    ids: dict = {}
    labels = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        key = ("missing",) if value is None else value
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        if isinstance(key, (list, dict)):
            key = repr(key)
        labels[i] = ids.setdefault(key, len(ids))
    return labels


def ground_truth_candidates(node_data: dict, num_nodes: int, max_categories: int = 200) -> list[str]:
    """Node attributes usable as a ground-truth grouping: one value (or, for overlapping groups, a
    list of values) per node, 2..max_categories distinct groups and not one group per node (an id
    column tells nothing)."""
    names = []
    for name, values in node_data.items():
        if len(values) != num_nodes or num_nodes < 2:
            continue
        if is_list_valued(values):
            count = len(cover_from_lists(values))
        else:
            count = int(attribute_labels(values).max()) + 1
        if 2 <= count <= max_categories and count < num_nodes:
            names.append(name)
    return names


def truth_labels(values: Sequence) -> np.ndarray:
    """int64 [N] one group per node for NMI / ARI: the category of a plain attribute, or each node's
    *first* listed group for a list-valued (overlapping) one — :func:`core.analysis.overlap.score_overlapping`
    scores the whole cover beside it."""
    if is_list_valued(values):
        return first_group_labels(values).astype(np.int64)
    return attribute_labels(values)


# ---------------------------------------------------------------------------- comparison table
def comparison_rows(report: dict) -> list[dict]:
    """One row per clustering of ``analysis.clustering_report`` with its quality and its NMI/ARI
    against every other clustering (columns ``NMI vs <name>`` / ``ARI vs <name>``).

    >>> report = {"quality": [{"name": "a", "num_clusters": 2, "modularity": 0.5, "conductance": 0.1},
    ...                       {"name": "b", "num_clusters": 2, "modularity": 0.4, "conductance": 0.2}],
    ...           "agreement": [{"a": "a", "b": "b", "nmi": 1.0, "ari": 1.0}]}
    >>> comparison_rows(report)[1]["NMI vs a"]
    1.0
    """
    names = [row["name"] for row in report["quality"]]
    pair = {}
    for row in report["agreement"]:
        pair[(row["a"], row["b"])] = pair[(row["b"], row["a"])] = row
    rows = []
    for quality in report["quality"]:
        name = quality["name"]
        row = {
            "clustering": name,
            "clusters": int(quality["num_clusters"]),
            "modularity": float(quality["modularity"]),
            "conductance (mean)": float(quality["conductance"]),
        }
        for other in names:
            if other == name:
                row[f"NMI vs {other}"] = 1.0
                row[f"ARI vs {other}"] = 1.0
            elif (name, other) in pair:
                row[f"NMI vs {other}"] = float(pair[(name, other)]["nmi"])
                row[f"ARI vs {other}"] = float(pair[(name, other)]["ari"])
        rows.append(row)
    return rows


def export_cluster_columns(hard_labels: dict[str, np.ndarray], existing: Sequence[str]) -> dict[str, np.ndarray]:
    """GraphML attribute names for clusterings, renamed (``name_1``, …) where a node attribute
    of the file already uses the name (``core.io.graph_to_graphml`` refuses clashes).

    >>> list(export_cluster_columns({"louvain": np.zeros(2)}, ["louvain"]))
    ['louvain_1']
    """
    taken = set(existing)
    result = {}
    for name, labels in hard_labels.items():
        candidate, suffix = name, 1
        while candidate in taken:
            candidate = f"{name}_{suffix}"
            suffix += 1
        taken.add(candidate)
        result[candidate] = np.asarray(labels)
    return result


def drawing_note(num_nodes: int, limit: int = MAX_DRAWN_NODES) -> str | None:
    """What the page says when the input graph is too large to draw in full (None when it is not)."""
    if num_nodes <= limit:
        return None
    return (f"This graph has {num_nodes:,} nodes: pictures of the input graph show a sample of {limit:,} nodes "
            "(hubs and their neighbourhoods, analysis.sample_nodes); the coarsened levels are drawn in full and "
            "every number (clusters, entropy, modularity, NMI/ARI) uses all nodes.")


def heatmap_rows(num_nodes: int, order: np.ndarray, limit: int = MAX_HEATMAP_ROWS) -> np.ndarray:
    """Rows of an assignment heatmap: every node in ``order`` up to ``limit``, else an even sample of
    that order (so every cluster's block stays visible)."""
    order = np.asarray(order, dtype=np.int64)
    if num_nodes <= limit:
        return order
    picks = np.linspace(0, num_nodes - 1, limit).round().astype(np.int64)
    return order[np.unique(picks)]


# ---------------------------------------------------------------------------- fit verdict
#: What to try, per diagnosis verdict of a fitted level (``core.diagnose.VERDICTS``).
FIT_ADVICE = {
    "healthy": "",
    "collapsed": "Try fewer clusters, another seed, or more epochs.",
    "uniform": "Try fewer clusters, more epochs, or another seed.",
    "feature-driven": "Try another seed or a different number of clusters.",
    "fragmented": "Try fewer clusters or another seed; the graph may have little community structure.",
}


def fit_verdict(diagnoses: Sequence[dict], counts: Sequence[int]) -> dict:
    """What the page says about a fit: ``{"healthy": bool, "lines": [str, ...]}``.

    diagnoses: ``core.diagnose.diagnose_trace`` dicts, one per level; counts: clusters asked per
    level. ``healthy`` is True only when every level was diagnosed healthy; each line names the
    level, its verdict in words and, for a failed level, what to try.

    >>> fit_verdict([{"verdict": "uniform", "explanation": "Rows are uniform.",
    ...               "entropy_normalised": 0.97, "clusters_used": 1}], [4])["lines"][0].startswith("Level 1 (4")
    True
    """
    lines = []
    for index, diagnosis in enumerate(diagnoses):
        verdict = str(diagnosis.get("verdict", "?"))
        asked = counts[index] if index < len(counts) else "?"
        numbers = (f"{diagnosis.get('clusters_used', '?')} of {asked} clusters used, normalised entropy "
                   f"{float(diagnosis.get('entropy_normalised', float('nan'))):.2f}")
        advice = FIT_ADVICE.get(verdict, "")
        if verdict != "healthy" and "modularity" in diagnosis and not level_has_edges(diagnosis):
            advice = "Nothing to try: without edges there is no structure to pool by."
        lines.append(f"Level {index + 1} ({asked} clusters): **{verdict}** — {diagnosis.get('explanation', '')} "
                     f"({numbers}).{' ' + advice if advice else ''}")
    healthy = bool(diagnoses) and all(d.get("verdict") == "healthy" for d in diagnoses)
    return {"healthy": healthy, "lines": lines}
