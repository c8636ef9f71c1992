"""The trace: the plain record of what each pooling level did to one graph.

This is the contract between the model and every view. Views read traces (and analysis
functions over traces); they never reach into a model's layers. All arrays are numpy
(float32 unless stated), detached and on the CPU, sized to the graph's *real* nodes (no
padding).

Shapes, for a graph with ``n_0 = N`` nodes and pooling levels ``l = 0 .. L-1`` mapping
``n_l`` nodes to ``n_{l+1}`` clusters:

=======================  ======================  ==================================================
field                    shape                   meaning
=======================  ======================  ==================================================
assignment               [n_l, n_{l+1}]          S, soft assignment; rows sum to 1
coarsened_adjacency      [n_{l+1}, n_{l+1}]      A' = Sᵀ A S (diagonal = intra-cluster weight)
pooled_features          [n_{l+1}, d]            X' = Sᵀ Z
node_embeddings          [n_l, d]                Z, embeddings of the level's nodes before pooling
node_entropy             [n_l]                   H(S_i) = -Σ_k S_ik log S_ik, in nats (max log n_{l+1})
link_loss                scalar                  ‖A - S Sᵀ‖_F / (n_l²) for this graph
entropy_loss             scalar                  mean_i H(S_i)
assignment_scores        [n_l, n_{l+1}] or None  s, the pre-softmax assignment scores (S = softmax(s)
                                                 row-wise); None where S is not a softmax of scores
                                                 (fixed assignments) or the producer did not record them
=======================  ======================  ==================================================

For the sparse first level of very large uploaded graphs ``adjacency`` may be a scipy sparse
matrix; everything else stays dense (n_{l+1} is small).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LevelTrace:
    """What one pooling level did to one graph (see the module docstring for shapes)."""

    assignment: np.ndarray
    coarsened_adjacency: np.ndarray
    pooled_features: np.ndarray
    node_embeddings: np.ndarray
    node_entropy: np.ndarray
    link_loss: float
    entropy_loss: float
    assignment_scores: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.assignment.shape[0])

    @property
    def num_clusters(self) -> int:
        return int(self.assignment.shape[1])

    @property
    def hard_assignment(self) -> np.ndarray:
        """int64 [n_l] most likely cluster of each node."""
        return self.assignment.argmax(axis=1).astype(np.int64)

    @property
    def cluster_mass(self) -> np.ndarray:
        """float32 [n_{l+1}] Σ_i S_ik, the soft number of nodes in each cluster."""
        return self.assignment.sum(axis=0)


@dataclass
class GraphTrace:
    """Everything one forward pass knows about one graph.

    Attributes
    ----------
    levels: one :class:`LevelTrace` per pooling level (empty for the ``graphsage`` variant).
    adjacency: [N, N] input adjacency A (dense numpy, or scipy sparse for huge graphs).
    final_embeddings: [n_L, d] node embeddings after the last pooling level.
    graph_embedding: [g] the readout vector fed to the prediction MLP.
    logits: [C] class scores, or None for a self-supervised fit (no classifier).
    label: true class index, or None.
    graph_index: index of the graph in its dataset, or None.
    meta: free-form extras (variant name, graph name, ...).
    """

    levels: list[LevelTrace]
    adjacency: object
    final_embeddings: np.ndarray
    graph_embedding: np.ndarray
    logits: np.ndarray | None = None
    label: int | None = None
    graph_index: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def probabilities(self) -> np.ndarray | None:
        """[C] softmax of the logits."""
        if self.logits is None:
            return None
        shifted = self.logits - self.logits.max()
        exp = np.exp(shifted)
        return exp / exp.sum()

    @property
    def predicted(self) -> int | None:
        """Predicted class index, or None without logits."""
        return None if self.logits is None else int(np.argmax(self.logits))

    @property
    def num_levels(self) -> int:
        return len(self.levels)
