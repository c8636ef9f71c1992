"""Small random graphs shared by the model tests."""

from __future__ import annotations

import numpy as np

from core.data.graphs import Graph


def random_graph(num_nodes: int, seed: int, p: float = 0.35, label: int = 0, features: int = 4) -> Graph:
    """A connected Erdős–Rényi-like graph (a path plus edges drawn with probability ``p``) with
    ``features`` standard-normal node attributes, seeded."""
    rng = np.random.default_rng(seed)
    pairs = [(i, i + 1) for i in range(num_nodes - 1)]
    pairs += [(i, j) for i in range(num_nodes) for j in range(i + 1, num_nodes) if rng.random() < p]
    return Graph.from_edge_list(
        num_nodes, np.array(pairs, dtype=np.int64).reshape(-1, 2),
        node_attributes=rng.standard_normal((num_nodes, features)).astype(np.float32),
        label=label, name=f"random-{num_nodes}-{seed}",
    )
