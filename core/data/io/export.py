"""Writing results: assignments as CSV, the graph with cluster attributes as GraphML."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

import numpy as np

from core.data.graphs import Graph

if TYPE_CHECKING:
    pass
from core.data.io.base import _is_finite_number


# ---------------------------------------------------------------------------- exports
def assignments_to_csv(node_names: list[str], assignment: np.ndarray) -> str:
    """CSV text of a soft cluster assignment.

    assignment: float [N, K], row i = node i's cluster probabilities.
    Columns: node, hard_cluster (argmax), confidence (max probability), p_0 .. p_{K-1}.

    >>> print(assignments_to_csv(["a"], np.array([[0.25, 0.75]])), end="")
    node,hard_cluster,confidence,p_0,p_1
    a,1,0.75,0.25,0.75
    """
    assignment = np.asarray(assignment, dtype=np.float64)
    if assignment.ndim != 2 or assignment.shape[0] != len(node_names):
        raise ValueError(
            f"assignment must be [N, K] with N = len(node_names) = {len(node_names)}, got shape {assignment.shape}"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["node", "hard_cluster", "confidence", *[f"p_{k}" for k in range(assignment.shape[1])]])
    hard = assignment.argmax(axis=1) if assignment.shape[1] else np.zeros(len(node_names), dtype=int)
    for name, cluster, row in zip(node_names, hard, assignment):
        confidence = row.max() if row.size else 0.0
        writer.writerow([name, int(cluster), f"{confidence:.6g}", *[f"{p:.6g}" for p in row]])
    return out.getvalue()


def _column_for_graphml(values: list) -> list:
    """One GraphML-writable type per attribute (bool, int, float or str); None stays missing."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return [None if v is None else bool(v) for v in values]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return [None if v is None else int(v) for v in values]
    if all(_is_finite_number(v) or isinstance(v, (float, np.floating)) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str)) for v in values]


def graph_to_graphml(graph: Graph, clusters: dict[str, np.ndarray]) -> bytes:
    """GraphML bytes of ``graph`` with each clustering as an integer node attribute.

    clusters: attribute name -> int [N] hard clusters, or float [N, K] assignment (stored as its
    argmax). Node ids are the node names (when unique; otherwise "0".."N-1" plus a ``name``
    attribute); ``graph.node_data`` attributes and edge weights are written too.
    """
    import networkx as nx

    names = graph.names()
    unique = len(set(names)) == len(names)
    ids = names if unique else [str(i) for i in range(graph.num_nodes)]
    columns = {key: _column_for_graphml(values) for key, values in graph.node_data.items() if len(values) == graph.num_nodes}
    for key, values in clusters.items():
        values = np.asarray(values)
        if values.ndim == 2:
            values = values.argmax(axis=1)
        if values.shape != (graph.num_nodes,):
            raise ValueError(f"clustering {key!r} must be [N] or [N, K] with N={graph.num_nodes}, got shape {np.shape(values)}")
        if key in columns:
            raise ValueError(f"clustering {key!r} has the name of an existing node attribute; rename it")
        columns[key] = [int(v) for v in values]
    if not unique:
        columns["name"] = list(names)

    nx_graph = nx.Graph()
    for i, node_id in enumerate(ids):
        nx_graph.add_node(node_id, **{k: col[i] for k, col in columns.items() if col[i] is not None})
    weighted = graph.edge_weight is not None
    for (i, j), weight in zip(graph.edges, graph.weights()):
        attributes = {"weight": float(weight)} if weighted else {}
        nx_graph.add_edge(ids[int(i)], ids[int(j)], **attributes)
    buffer = io.BytesIO()
    nx.write_graphml(nx_graph, buffer)
    return buffer.getvalue()
