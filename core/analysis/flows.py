"""How node mass flows through the levels: composed assignments S₀S₁… and the Sankey flows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    from core.model.trace import LevelTrace
from core.analysis.assignments import _as_assignment


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
