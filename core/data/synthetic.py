"""Generated graphs with planted structure, so pooling can be checked against a known answer.

:func:`make_synthetic_hierarchy` plants a two-level hierarchy (communities inside groups)
whose number of groups *is* the class, and records the truth per node in
``graph.node_data["community"]`` and ``graph.node_data["group"]``. A DiffPool model that
classifies these graphs well should learn clusters that line up with the planted ones.

:func:`make_sbm_graph` draws one stochastic-block-model graph, for tests.

Example
-------
>>> dataset = make_synthetic_hierarchy(num_graphs=6, seed=0)
>>> dataset.class_names
['2 groups', '3 groups', '4 groups']
>>> sorted(set(dataset[0].node_data["group"])) == list(range(dataset[0].label + 2))
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from core.data.graphs import Graph, GraphDataset

SYNTHETIC_NAME = "synthetic-hierarchy"


def _sample_upper(probability: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int64 [E, 2] pairs i < j drawn independently with ``probability[i, j]`` ([N, N])."""
    n = probability.shape[0]
    draws = rng.random((n, n)) < probability
    rows, cols = np.nonzero(np.triu(draws, k=1))
    return np.stack([rows, cols], axis=1).astype(np.int64)


def _component_count(num_nodes: int, pairs: np.ndarray) -> int:
    """Connected components of an undirected graph (union–find: these graphs have ~10–100 nodes,
    where scipy's per-call overhead costs more than the search)."""
    parent = list(range(num_nodes))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    count = num_nodes
    for i, j in pairs.tolist():
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[ri] = rj
            count -= 1
    return count


def _is_connected(num_nodes: int, pairs: np.ndarray) -> bool:
    return num_nodes <= 1 or _component_count(num_nodes, pairs) == 1


def make_sbm_graph(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    seed: int | np.random.Generator | None = 0,
    shuffle: bool = False,
) -> Graph:
    """One stochastic-block-model graph.

    Blocks of ``sizes`` nodes (contiguous ids unless ``shuffle``); each pair inside a block is
    an edge with probability ``p_in``, across blocks with ``p_out``. ``node_data["block"]``
    holds each node's block index.

    >>> g = make_sbm_graph([3, 3], p_in=1.0, p_out=0.0, seed=0)
    >>> g.num_edges, g.node_data["block"]
    (6, [0, 0, 0, 1, 1, 1])
    """
    rng = np.random.default_rng(seed)
    block = np.repeat(np.arange(len(sizes)), sizes)
    if shuffle:
        block = block[rng.permutation(len(block))]
    probability = np.where(block[:, None] == block[None, :], p_in, p_out)
    pairs = _sample_upper(probability, rng)
    return Graph.from_edge_list(
        len(block),
        pairs,
        node_data={"block": [int(b) for b in block]},
        name=f"sbm {list(sizes)}",
    )


def make_teaching_graph(seed: int = 0) -> Graph:
    """The Teaching page's example: three planted communities of 8 nodes (:func:`make_sbm_graph`,
    p_in 0.6, p_out 0.04), the first seed from ``seed`` on whose graph has no isolated node and
    more than one Louvain community.

    >>> make_teaching_graph().num_nodes
    24
    """
    from core.analysis.clustering import louvain_clusters

    for attempt in range(100):
        graph = make_sbm_graph([8, 8, 8], p_in=0.6, p_out=0.04, seed=seed + attempt)
        if graph.degrees().min() > 0 and louvain_clusters(graph).max() >= 1:
            break
    graph.name = "planted communities (3 × 8 nodes)"
    return graph


def make_large_sbm_graph(
    sizes: Sequence[int],
    p_in: float,
    p_out: float,
    seed: int = 0,
) -> Graph:
    """A stochastic-block-model graph of any size, sampled in O(E) memory (no N×N matrix).

    For every pair of blocks the number of edges is drawn from the binomial of its pair count,
    then that many endpoint pairs are drawn uniformly (duplicates and self-pairs dropped, so the
    realised density is a hair under the nominal one for dense blocks). ``node_data["block"]``
    holds each node's block.

    >>> g = make_large_sbm_graph([50, 50], p_in=0.2, p_out=0.0, seed=0)
    >>> bool(np.all(np.array(g.node_data["block"])[g.edges[:, 0]] == np.array(g.node_data["block"])[g.edges[:, 1]]))
    True
    """
    rng = np.random.default_rng(seed)
    sizes = [int(size) for size in sizes]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    chunks = []
    for a in range(len(sizes)):
        for b in range(a, len(sizes)):
            pairs = sizes[a] * (sizes[a] - 1) // 2 if a == b else sizes[a] * sizes[b]
            count = rng.binomial(pairs, p_in if a == b else p_out)
            if count == 0:
                continue
            left = starts[a] + rng.integers(0, sizes[a], count)
            right = starts[b] + rng.integers(0, sizes[b], count)
            chunks.append(np.stack([left, right], axis=1))
    pairs = np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    block = np.repeat(np.arange(len(sizes)), sizes)
    return Graph.from_edge_list(
        int(starts[-1]), pairs, node_data={"block": block.tolist()}, name=f"sbm {len(sizes)} blocks, {starts[-1]} nodes"
    )


def _community_sizes(
    num_communities: int,
    rng: np.random.Generator,
    community_size: tuple[int, int] | None,
    nodes_per_graph: tuple[int, int],
) -> np.ndarray:
    """Sizes of the communities: drawn from ``community_size`` if given, else an even split of a
    total drawn from ``nodes_per_graph`` (so the node count says nothing about the class)."""
    if community_size is not None:
        return rng.integers(community_size[0], community_size[1] + 1, size=num_communities)
    total = int(rng.integers(nodes_per_graph[0], nodes_per_graph[1] + 1))
    sizes = np.full(num_communities, total // num_communities)
    sizes[rng.permutation(num_communities)[: total % num_communities]] += 1
    return sizes


def _hierarchical_graph(
    num_groups: int,
    rng: np.random.Generator,
    communities_per_group: int,
    community_size: tuple[int, int] | None,
    nodes_per_graph: tuple[int, int],
    p_community: float,
    p_group: float,
    p_between: float,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(N, pairs [E, 2], community [N], group [N]) of one connected graph, nodes in planted order."""
    num_communities = num_groups * communities_per_group
    sizes = _community_sizes(num_communities, rng, community_size, nodes_per_graph)
    community = np.repeat(np.arange(num_communities), sizes)
    group = community // communities_per_group
    num_nodes = len(community)
    same_community = community[:, None] == community[None, :]
    same_group = group[:, None] == group[None, :]
    probability = np.where(same_community, p_community, np.where(same_group, p_group, p_between))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    # Redraw (rarely needed at the default densities) until every community is connected and
    # the communities of each group are linked; one bridge per consecutive pair of groups then
    # makes the whole graph connected.
    for _ in range(100):
        pairs = _sample_upper(probability, rng)
        within = community[pairs[:, 0]] == community[pairs[:, 1]]
        communities_connected = all(
            _is_connected(int(sizes[c]), pairs[within & (community[pairs[:, 0]] == c)] - starts[c])
            for c in range(num_communities)
        )
        if communities_connected and _groups_linked(pairs, community, group, communities_per_group):
            break
    bridges = []
    for first_group in range(num_groups - 1):
        a = rng.integers(first_group * communities_per_group, (first_group + 1) * communities_per_group)
        b = rng.integers((first_group + 1) * communities_per_group, (first_group + 2) * communities_per_group)
        bridges.append((rng.integers(starts[a], starts[a + 1]), rng.integers(starts[b], starts[b + 1])))
    pairs = np.concatenate([pairs, np.array(bridges, dtype=np.int64).reshape(-1, 2)])
    return num_nodes, pairs, community, group


def _groups_linked(pairs: np.ndarray, community: np.ndarray, group: np.ndarray, per_group: int) -> bool:
    """True when the communities of every group are connected to each other by some edge path."""
    if per_group == 1:
        return True
    source_community, target_community = community[pairs[:, 0]], community[pairs[:, 1]]
    inside_group = (group[pairs[:, 0]] == group[pairs[:, 1]]) & (source_community != target_community)
    num_communities = int(community.max()) + 1
    links = np.stack([source_community[inside_group], target_community[inside_group]], axis=1)
    return _component_count(num_communities, links) == num_communities // per_group


def make_synthetic_hierarchy(
    num_graphs: int = 300,
    seed: int = 0,
    num_classes: int = 3,
    communities_per_group: int = 2,
    community_size: tuple[int, int] | None = None,
    nodes_per_graph: tuple[int, int] = (40, 64),
    p_community: float = 0.7,
    p_group: float = 0.15,
    p_between: float = 0.01,
) -> GraphDataset:
    """Graphs whose class is their number of top-level groups (class c has c + 2 groups).

    Each group holds ``communities_per_group`` dense communities. A graph's node count is drawn
    from ``nodes_per_graph`` (inclusive) for every class and split evenly over its communities,
    so size alone does not reveal the class — the structure does; pass ``community_size``
    (inclusive range per community) instead to draw community sizes directly. Edge probability is ``p_community`` inside a community,
    ``p_group`` between communities of one group and ``p_between`` across groups; every
    community is connected, the communities of a group are linked, and one random edge joins
    each pair of consecutive groups, so every graph is connected (redrawing, at most 100
    times, until the probabilities give connected communities and linked groups). Node order is shuffled.

    Classes are balanced (``num_graphs // num_classes`` each, remainder to the first classes)
    in shuffled order; everything is determined by ``seed``. With the defaults a graph has
    40–64 nodes. Node truth: ``node_data["community"]`` (0..groups*communities_per_group-1,
    numbered group by group) and ``node_data["group"]``. There are no node labels or
    attributes: models use degree features.
    """
    if num_classes < 1 or num_graphs < 1:
        raise ValueError(f"num_graphs and num_classes must be >= 1, got {num_graphs} and {num_classes}")
    low, high = community_size if community_size is not None else nodes_per_graph
    if not 1 <= low <= high:
        raise ValueError(
            f"community_size / nodes_per_graph must be (low, high) with 1 <= low <= high, got {(low, high)}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_graphs) % num_classes)
    graphs = []
    for index, label in enumerate(labels):
        num_nodes, pairs, community, group = _hierarchical_graph(
            int(label) + 2, rng, communities_per_group, community_size, nodes_per_graph,
            p_community, p_group, p_between
        )
        order = rng.permutation(num_nodes)  # new node i is planted node order[i]
        position = np.empty(num_nodes, dtype=np.int64)
        position[order] = np.arange(num_nodes)
        graphs.append(
            Graph.from_edge_list(
                num_nodes,
                position[pairs],
                label=int(label),
                node_data={
                    "community": [int(c) for c in community[order]],
                    "group": [int(g) for g in group[order]],
                },
                name=f"{SYNTHETIC_NAME} #{index}",
            )
        )
    return GraphDataset(
        name=SYNTHETIC_NAME,
        graphs=graphs,
        class_names=[f"{c + 2} groups" for c in range(num_classes)],
        source=f"generated (seed={seed})",
    )


__all__ = ["SYNTHETIC_NAME", "make_large_sbm_graph", "make_sbm_graph", "make_synthetic_hierarchy"]
