"""PATCHY-SAN receptive fields (Niepert et al., ICML 2016): which nodes a graph's CNN reads, in which order.

For a graph with ``n`` nodes this module returns ``fields: int64 [w, k]``: row ``i`` is the
receptive field of the ``i``-th node of the node sequence, its ``k`` node indices in normalised
order; ``-1`` is a dummy node (the model reads a zero feature vector there). Steps, as in the
paper's Algorithms 1–4:

1. **Labelling** (:func:`graph_labelling`): every node's betweenness centrality (the paper's
   choice). Exact up to :data:`EXACT_BETWEENNESS_MAX_NODES` nodes; larger graphs (only D&D here)
   use the degree instead — cheap, and like betweenness independent of how the nodes are numbered.
   Ties are broken by the node's feature row (playing the part of the paper's 1-WL colour), then
   by a canonical labelling of the whole graph (pynauty / NAUTY), so the labelling is a total,
   canonical order.
2. **Node sequence selection**: the first ``w`` nodes of that order (stride 1); a graph with fewer
   nodes gets all-dummy fields after its last node.
3. **Neighbourhood assembly**: breadth-first from the root, one whole distance layer at a time,
   until at least ``k`` nodes are collected or the component is exhausted.
4. **Graph normalisation**: the assembled nodes are ranked by distance to the root, ties by the
   labelling's value (centrality, then feature row); nodes still tied are ordered by NAUTY's
   canonical labelling of the field's subgraph with those ranks as colour classes; the first
   ``k`` are kept, dummies pad a field with fewer.

Every step depends only on the graph's structure and node features, never on the order in which
the nodes are numbered: permuting a graph's nodes permutes the indices in ``fields`` and leaves
the features they point to unchanged (``tests/test_patchysan.py`` checks it). Betweenness values
are rounded to :data:`CENTRALITY_DECIMALS` decimals before comparison, so float summation order
cannot break a tie differently.

Fields are computed per graph and are independent of the folds; :func:`cached_receptive_fields`
keeps them in memory (one process computes each graph's fields once, in the first epoch, and every
later epoch and fold reuses them). Nothing is written to disk.

Example
-------
>>> fields = receptive_fields(4, np.array([[0, 1], [1, 2], [2, 3]]), width=2, field_size=3)
>>> fields.shape
(2, 3)
>>> sorted(fields[0].tolist()) == [0, 1, 2] or sorted(fields[0].tolist()) == [1, 2, 3]
True
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

#: Graphs up to this many nodes get exact betweenness centrality; larger ones use the degree.
EXACT_BETWEENNESS_MAX_NODES = 1000
#: Decimals kept of the (normalised, ≤ 1) betweenness before values are compared.
CENTRALITY_DECIMALS = 9
#: Most graphs' fields kept in memory by :func:`cached_receptive_fields` (least recently used go first).
CACHE_LIMIT = 200_000


class MissingDependencyError(ImportError):
    """A package an optional model needs is not installed (the message says which and how)."""


def require_pynauty():
    """The ``pynauty`` module, or :class:`MissingDependencyError` naming the package to install."""
    try:
        import pynauty
    except ImportError as error:
        raise MissingDependencyError(
            "the patchysan model needs the package 'pynauty' (NAUTY canonical labellings, for the order of "
            "each receptive field); install it with `python -m pip install pynauty` (it is in requirements.txt; "
            "it builds from source with a C compiler in seconds)"
        ) from error
    return pynauty


def _neighbour_lists(num_nodes: int, edges: np.ndarray) -> list[list[int]]:
    """Sorted neighbour lists (self-loops dropped) from int [M, 2] pairs in either or both directions."""
    neighbours: list[set[int]] = [set() for _ in range(num_nodes)]
    for i, j in np.asarray(edges, dtype=np.int64).reshape(-1, 2).tolist():
        if i != j:
            neighbours[i].add(j)
            neighbours[j].add(i)
    return [sorted(s) for s in neighbours]


def _betweenness(neighbours: list[list[int]]) -> np.ndarray:
    """float64 [n] normalised betweenness centrality (networkx, unweighted, exact), rounded to
    :data:`CENTRALITY_DECIMALS`; the degree for graphs above :data:`EXACT_BETWEENNESS_MAX_NODES` nodes."""
    n = len(neighbours)
    if n > EXACT_BETWEENNESS_MAX_NODES:
        return np.array([len(row) for row in neighbours], dtype=np.float64)
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((v, u) for v, row in enumerate(neighbours) for u in row if v < u)
    values = nx.betweenness_centrality(graph, normalized=True)
    return np.round(np.array([values[v] for v in range(n)], dtype=np.float64), CENTRALITY_DECIMALS)


def _colour_cells(keys: list[tuple]) -> list[set[int]]:
    """Nodes grouped by equal key, groups in increasing key order (NAUTY's ordered colour partition)."""
    cells: dict[tuple, set[int]] = {}
    for node, key in enumerate(keys):
        cells.setdefault(key, set()).add(node)
    return [cells[key] for key in sorted(cells)]


def _canonical_order(neighbours: list[list[int]], keys: list[tuple]) -> list[int]:
    """Nodes in NAUTY's canonical order of the graph coloured by ``keys`` (cells in key order)."""
    n = len(neighbours)
    cells = _colour_cells(keys)
    if len(cells) == n:  # every node its own colour: the key order is already canonical
        return [next(iter(cell)) for cell in cells]
    pynauty = require_pynauty()
    graph = pynauty.Graph(n, directed=False, adjacency_dict={v: row for v, row in enumerate(neighbours) if row},
                          vertex_coloring=cells)
    return list(pynauty.canon_label(graph))


def feature_colours(features: np.ndarray) -> np.ndarray:
    """int64 [n]: equal rows of ``features`` [n, F] share a colour; colours follow the rows' lexicographic order."""
    features = np.asarray(features)
    if features.size == 0:
        return np.zeros(features.shape[0], dtype=np.int64)
    return np.unique(features.reshape(features.shape[0], -1), axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def graph_labelling(neighbours: list[list[int]], colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centrality float64 [n], rank int64 [n]): the labelling of step 1; rank 0 = first in the node sequence.

    Order: centrality descending, then feature colour, then NAUTY's canonical labelling.
    """
    centrality = _betweenness(neighbours)
    keys = [(-float(c), int(colour)) for c, colour in zip(centrality, colours)]
    order = _canonical_order(neighbours, keys)
    rank = np.empty(len(order), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    return centrality, rank


def assemble_neighbourhood(neighbours: list[list[int]], root: int, field_size: int) -> dict[int, int]:
    """Step 3: {node: distance to ``root``}, whole BFS layers until at least ``field_size`` nodes (or the component)."""
    distance = {root: 0}
    layer = [root]
    while layer and len(distance) < field_size:
        following = []
        for v in layer:
            for u in neighbours[v]:
                if u not in distance:
                    distance[u] = distance[v] + 1
                    following.append(u)
        layer = following
    return distance


def normalise_field(neighbours: list[list[int]], distance: dict[int, int], centrality: np.ndarray,
                    colours: np.ndarray, field_size: int) -> np.ndarray:
    """Step 4: int64 [field_size] node indices of one receptive field in normalised order, ``-1`` padding."""
    nodes = sorted(distance)
    local = {v: i for i, v in enumerate(nodes)}
    sub_neighbours = [[local[u] for u in neighbours[v] if u in local] for v in nodes]
    keys = [(distance[v], -float(centrality[v]), int(colours[v])) for v in nodes]
    order = _canonical_order(sub_neighbours, keys)
    field = np.full(field_size, -1, dtype=np.int64)
    kept = [nodes[i] for i in order[:field_size]]
    field[: len(kept)] = kept
    return field


def receptive_fields(num_nodes: int, edges: np.ndarray, width: int, field_size: int,
                     features: np.ndarray | None = None) -> np.ndarray:
    """The receptive fields of one graph: int64 [width, field_size] node indices, ``-1`` = dummy node.

    Args:
        num_nodes: n.  edges: int [M, 2] node pairs (either or both directions; self-loops ignored).
        width: w, the number of fields (nodes in the node sequence).  field_size: k, nodes per field.
        features: float [n, F] node features (ties in the ordering are broken by equal/unequal rows),
            or None (structure only).
    """
    if width < 1 or field_size < 1:
        raise ValueError(f"width and field_size must be at least 1, got {width} and {field_size}")
    fields = np.full((width, field_size), -1, dtype=np.int64)
    if num_nodes == 0:
        return fields
    neighbours = _neighbour_lists(num_nodes, edges)
    colours = np.zeros(num_nodes, dtype=np.int64) if features is None else feature_colours(features)
    centrality, rank = graph_labelling(neighbours, colours)
    sequence = np.argsort(rank)[:width]
    for position, root in enumerate(sequence.tolist()):
        distance = assemble_neighbourhood(neighbours, root, field_size)
        fields[position] = normalise_field(neighbours, distance, centrality, colours, field_size)
    return fields


_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()


def cached_receptive_fields(num_nodes: int, edges: np.ndarray, width: int, field_size: int,
                            features: np.ndarray | None = None) -> np.ndarray:
    """:func:`receptive_fields`, remembered in memory by the graph's content (edges, features, w, k).

    The key hashes the exact bytes of the sorted edge pairs and the features, so the same graph
    reached from a training batch, an evaluation batch or the app hits the same entry.
    """
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    pairs = np.unique(np.sort(pairs, axis=1), axis=0) if len(pairs) else pairs
    digest = hashlib.sha1(f"{num_nodes}/{width}/{field_size}/".encode())
    digest.update(pairs.tobytes())
    if features is not None:
        digest.update(np.ascontiguousarray(features, dtype=np.float32).tobytes())
    key = digest.hexdigest()
    found = _CACHE.get(key)
    if found is None:
        found = receptive_fields(num_nodes, pairs, width, field_size, features)
        _CACHE[key] = found
        if len(_CACHE) > CACHE_LIMIT:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return found


def clear_cache() -> None:
    """Forget every cached field (tests; memory)."""
    _CACHE.clear()
