"""The one graph record used everywhere in the project.

A :class:`Graph` is an undirected graph with optional node labels (categorical), node
attributes (numeric), a graph class label and per-node metadata (for uploaded graphs: any
attribute the file carried, usable as a "ground truth" grouping).

Edges are stored once per unordered pair as ``edges: int64 [E, 2]`` with ``i <= j``; a
self-loop is ``(i, i)``. ``edge_weight: float32 [E]`` is optional (all ones when absent).

Example
-------
>>> g = Graph.from_edge_list(3, [(0, 1), (1, 2)])
>>> g.dense_adjacency().tolist()
[[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import scipy.sparse as sp


@dataclass
class Graph:
    """An undirected graph.

    Attributes
    ----------
    num_nodes: number of nodes N.
    edges: int64 [E, 2], each undirected pair once with ``edges[:, 0] <= edges[:, 1]``.
    edge_weight: float32 [E] or None (unweighted).
    edge_labels: int64 [E] categorical edge labels mapped to 0..t-1, aligned with ``edges``, or None.
    node_labels: int64 [N] categorical node labels mapped to 0..k-1, or None.
    node_attributes: float32 [N, D] numeric node attributes, or None.
    label: graph class index 0..C-1, or None (unlabelled, e.g. an upload).
    node_names: N display names (strings) or None (then names are "0".."N-1").
    node_data: per-node metadata, name -> list of N values (kept from uploaded files).
    name: a display name ("ENZYMES #12", "karate.gml").
    notes: what a reader changed while reading (symmetrised, dropped duplicates, ...), for the user.
    """

    num_nodes: int
    edges: np.ndarray
    edge_weight: np.ndarray | None = None
    edge_labels: np.ndarray | None = None
    node_labels: np.ndarray | None = None
    node_attributes: np.ndarray | None = None
    label: int | None = None
    node_names: list[str] | None = None
    node_data: dict[str, list] = field(default_factory=dict)
    name: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        if self.edge_weight is not None:
            self.edge_weight = np.asarray(self.edge_weight, dtype=np.float32).reshape(-1)
        if self.edge_labels is not None:
            self.edge_labels = np.asarray(self.edge_labels, dtype=np.int64).reshape(-1)
            if len(self.edge_labels) != len(self.edges):
                raise ValueError(f"edge_labels has {len(self.edge_labels)} entries for {len(self.edges)} edges")
        if self.node_labels is not None:
            self.node_labels = np.asarray(self.node_labels, dtype=np.int64).reshape(-1)
        if self.node_attributes is not None:
            attributes = np.asarray(self.node_attributes, dtype=np.float32)
            self.node_attributes = attributes.reshape(self.num_nodes, -1)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_edge_list(
        cls,
        num_nodes: int,
        pairs: Iterable[tuple[int, int]] | np.ndarray,
        weights: Iterable[float] | np.ndarray | None = None,
        **kwargs,
    ) -> "Graph":
        """Build a graph from (possibly directed, duplicated) pairs.

        Pairs are symmetrised and deduplicated (the first weight of a duplicate wins).
        """
        array = np.asarray(list(pairs) if not isinstance(pairs, np.ndarray) else pairs, dtype=np.int64)
        array = array.reshape(-1, 2)
        low = np.minimum(array[:, 0], array[:, 1])
        high = np.maximum(array[:, 0], array[:, 1])
        keys = low * max(num_nodes, 1) + high
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)
        edges = np.stack([low[first], high[first]], axis=1)
        weight = None
        if weights is not None:
            weight = np.asarray(list(weights) if not isinstance(weights, np.ndarray) else weights, dtype=np.float32)[first]
        return cls(num_nodes=int(num_nodes), edges=edges, edge_weight=weight, **kwargs)

    # ------------------------------------------------------------------ views
    @property
    def num_edges(self) -> int:
        """Number of undirected edges (self-loops included)."""
        return int(self.edges.shape[0])

    def weights(self) -> np.ndarray:
        """float32 [E] edge weights (ones when unweighted)."""
        if self.edge_weight is None:
            return np.ones(self.num_edges, dtype=np.float32)
        return self.edge_weight

    def sparse_adjacency(self) -> sp.csr_matrix:
        """Symmetric float32 CSR adjacency [N, N]; a self-loop (i, i) contributes its weight once."""
        rows, cols, weight = self.edges[:, 0], self.edges[:, 1], self.weights()
        off = rows != cols
        all_rows = np.concatenate([rows, cols[off]])
        all_cols = np.concatenate([cols, rows[off]])
        all_weight = np.concatenate([weight, weight[off]])
        return sp.csr_matrix((all_weight, (all_rows, all_cols)), shape=(self.num_nodes, self.num_nodes), dtype=np.float32)

    def content_digest(self) -> str:
        """SHA-256 (hex) of what a model reads from this graph: size, edges, weights, edge labels,
        node labels and attributes (not names or metadata). Equal digests, equal model inputs."""
        digest = hashlib.sha256(f"graph/1 {self.num_nodes}".encode())
        for part in (self.edges, self.edge_weight, self.edge_labels, self.node_labels, self.node_attributes):
            if part is None:
                digest.update(b"|none")
            else:
                array = np.ascontiguousarray(part)
                digest.update(f"|{array.dtype.str}{array.shape}".encode())
                digest.update(array.tobytes())
        return digest.hexdigest()

    def dense_adjacency(self) -> np.ndarray:
        """Symmetric float32 dense adjacency [N, N]."""
        dense = np.zeros((self.num_nodes, self.num_nodes), dtype=np.float32)
        rows, cols, weight = self.edges[:, 0], self.edges[:, 1], self.weights()
        dense[rows, cols] = weight
        dense[cols, rows] = weight
        return dense

    def degrees(self) -> np.ndarray:
        """int64 [N] number of neighbours (a self-loop counts once)."""
        counts = np.bincount(self.edges[:, 0], minlength=self.num_nodes)
        off = self.edges[:, 0] != self.edges[:, 1]
        counts += np.bincount(self.edges[off, 1], minlength=self.num_nodes)
        return counts.astype(np.int64)

    def names(self) -> list[str]:
        """Display names for the N nodes."""
        if self.node_names is not None:
            return list(self.node_names)
        return [str(i) for i in range(self.num_nodes)]

    def to_networkx(self):
        """A ``networkx.Graph`` with integer nodes 0..N-1, ``name`` and ``weight`` attributes."""
        import networkx as nx

        graph = nx.Graph()
        names = self.names()
        graph.add_nodes_from((i, {"name": names[i]}) for i in range(self.num_nodes))
        graph.add_weighted_edges_from(
            (int(i), int(j), float(w)) for (i, j), w in zip(self.edges, self.weights())
        )
        return graph

    def subgraph(self, nodes: np.ndarray) -> "Graph":
        """The induced subgraph on ``nodes`` (int array), renumbered 0..len(nodes)-1 in that order."""
        nodes = np.asarray(nodes, dtype=np.int64)
        index = -np.ones(self.num_nodes, dtype=np.int64)
        index[nodes] = np.arange(len(nodes))
        keep = (index[self.edges[:, 0]] >= 0) & (index[self.edges[:, 1]] >= 0)
        new_edges = index[self.edges[keep]]
        new_edges.sort(axis=1)
        return Graph(
            num_nodes=len(nodes),
            edges=new_edges,
            edge_weight=None if self.edge_weight is None else self.edge_weight[keep],
            edge_labels=None if self.edge_labels is None else self.edge_labels[keep],
            node_labels=None if self.node_labels is None else self.node_labels[nodes],
            node_attributes=None if self.node_attributes is None else self.node_attributes[nodes],
            label=self.label,
            node_names=None if self.node_names is None else [self.node_names[i] for i in nodes],
            node_data={k: [v[i] for i in nodes] for k, v in self.node_data.items()},
            name=self.name,
        )


@dataclass
class GraphDataset:
    """A list of graphs plus what they mean.

    Attributes
    ----------
    name: dataset name ("ENZYMES", "synthetic-hierarchy").
    graphs: the graphs; ``graph.label`` is a class index 0..C-1.
    class_names: C display names, index = class id (e.g. the original TU labels as strings).
    num_node_labels: number of distinct categorical node labels (0 if none).
    node_attribute_dim: number of numeric node attributes (0 if none).
    num_edge_labels: number of distinct categorical edge labels (0 if none; TU: MUTAG has 4).
    source: where it came from (folder, zip, "generated").
    meta: reader facts (e.g. ``a_lines``: adjacency lines read from a TU file).
    """

    name: str
    graphs: list[Graph]
    class_names: list[str]
    num_node_labels: int = 0
    node_attribute_dim: int = 0
    num_edge_labels: int = 0
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int) -> Graph:
        return self.graphs[index]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labels(self) -> np.ndarray:
        """int64 [G] class index per graph."""
        return np.array([g.label for g in self.graphs], dtype=np.int64)

    @property
    def max_nodes(self) -> int:
        return max((g.num_nodes for g in self.graphs), default=0)

    def subset(self, indices) -> "GraphDataset":
        """A dataset holding only ``graphs[i] for i in indices`` (same metadata)."""
        return GraphDataset(
            name=self.name,
            graphs=[self.graphs[int(i)] for i in indices],
            class_names=list(self.class_names),
            num_node_labels=self.num_node_labels,
            node_attribute_dim=self.node_attribute_dim,
            num_edge_labels=self.num_edge_labels,
            source=self.source,
        )
