"""PATCHY-SAN (Niepert, Ahmed & Kutzkov, ICML 2016, *Learning Convolutional Neural Networks for Graphs*).

A graph becomes a sequence of ``w`` receptive fields of ``k`` nodes each, in a canonical order
(:mod:`core.data.receptive_fields`: node sequence by betweenness centrality, breadth-first
neighbourhoods, normalisation by distance to the root and NAUTY's canonical labelling), and a 1-D
CNN reads that sequence like an image row. Shapes: ``B`` graphs, ``N`` padded nodes, ``F`` input
features.

- fields: int64 [B, w, k] node indices (``-1`` = dummy node, read as a zero feature vector);
- the node features along the fields: [B, F, w·k] (F channels);
- Conv1d(F → 16, kernel k, stride k): one step per field, ReLU: [B, 16, w] — the *field
  embeddings*, one per node of the node sequence (the trace's final node embeddings: the field's
  vector on its root node, zero on nodes outside the sequence);
- Conv1d(16 → 8, kernel min(10, w), stride 1), ReLU, flattened: the graph embedding [B, 8·(w − 10 + 1)];
- dense layer of 128 with ReLU and dropout 0.5, then a linear layer to the classes (the softmax is
  in the cross-entropy loss).

Hyper-parameters, as the paper sets them for its graph-classification experiments (as recalled,
not checked against the paper here): ``w`` = the dataset's average graph size (rounded; ENZYMES
33, PROTEINS 39, D&D 284), ``k = 10``, 16 and 8 channels, second kernel 10, 128 hidden units,
dropout 0.5. Differences: every variant here shares ``core.train``'s loop (Adam, learning rate
1e-3, the table's epochs, honest model selection) rather than the paper's own optimiser and
schedule; the node features are batch-normalised over real nodes first (``batch_norm``,
the default: PROTEINS' raw attribute reaches ~800); edge attributes, which the paper can read as
extra channels, are not used.

The fields depend only on the graph (structure and features), never on the fold, so they are
computed on the CPU once per graph and cached in memory
(:func:`core.data.receptive_fields.cached_receptive_fields`); the model takes the same
``(x, adj, mask)`` batches as every variant, so training, evaluation, checkpoints and the app need
nothing else. pynauty is imported when the first field needs a canonical labelling; without it
:class:`~core.data.receptive_fields.MissingDependencyError` names the package.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.data.adjacency import SparseAdjacency
from core.data.receptive_fields import cached_receptive_fields
from core.model.diffpool import (
    DiffPoolConfig,
    MaskedBatchNorm,
    NoPoolingModel,
    _classifier_mlp,
)

PATCHYSAN_FIELD_SIZE = 10
PATCHYSAN_CHANNELS = (16, 8)
PATCHYSAN_CONV2_KERNEL = 10
PATCHYSAN_HIDDEN = 128
PATCHYSAN_DROPOUT = 0.5


def patchysan_width_for(sizes) -> int:
    """The paper's ``w``: the average graph size, rounded (at least 1).

    >>> patchysan_width_for([30, 35, 40])
    35
    """
    sizes = [int(n) for n in sizes]
    if not sizes:
        raise ValueError("patchysan_width_for needs the size of at least one graph")
    return max(1, round(sum(sizes) / len(sizes)))


def batch_graph_edges(adj: Tensor | SparseAdjacency, num_nodes: list[int]) -> list[np.ndarray]:
    """Per graph of the batch, its int64 [M, 2] directed node pairs (on the CPU)."""
    if isinstance(adj, SparseAdjacency):
        size = adj.num_nodes
        rows, cols = adj.rows.cpu().numpy(), adj.cols.cpu().numpy()
        keep = adj.weights.cpu().numpy() != 0
        graph, i, j = rows[keep] // size, rows[keep] % size, cols[keep] % size
        order = np.argsort(graph, kind="stable")
        graph, i, j = graph[order], i[order], j[order]
        bounds = np.searchsorted(graph, np.arange(len(num_nodes) + 1))
        return [np.stack([i[bounds[b]:bounds[b + 1]], j[bounds[b]:bounds[b + 1]]], axis=1)
                for b in range(len(num_nodes))]
    dense = adj.detach().cpu()
    return [dense[b, :n, :n].nonzero().numpy() for b, n in enumerate(num_nodes)]


class PatchySanModel(NoPoolingModel):
    """``patchysan``: receptive fields (``config.patchysan_width`` × ``config.patchysan_field_size``)
    read by a 1-D CNN; see the module docstring."""

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__(config)
        c = config
        width, field = c.patchysan_width, c.patchysan_field_size
        first, second = PATCHYSAN_CHANNELS
        self.second_kernel = min(PATCHYSAN_CONV2_KERNEL, width)
        self.input_norm = MaskedBatchNorm(c.input_dim) if c.batch_norm else None
        self.field_conv = nn.Conv1d(c.input_dim, first, kernel_size=field, stride=field)
        self.sequence_conv = nn.Conv1d(first, second, kernel_size=self.second_kernel, stride=1)
        length = width - self.second_kernel + 1
        self.classifier = _classifier_mlp(second * length, [PATCHYSAN_HIDDEN], c.num_classes,
                                          dropout=PATCHYSAN_DROPOUT)
        self._init_weights()

    def receptive_fields(self, x: Tensor, adj: Tensor | SparseAdjacency, mask: Tensor) -> Tensor:
        """int64 [B, w, k] node indices of every graph's fields (``-1`` = dummy), from the cache."""
        c = self.config
        num_nodes = mask.sum(dim=1).tolist()
        features = x.detach().cpu().numpy()
        fields = [cached_receptive_fields(n, edges, c.patchysan_width, c.patchysan_field_size, features[b, :n])
                  for b, (n, edges) in enumerate(zip(num_nodes, batch_graph_edges(adj, num_nodes)))]
        return torch.from_numpy(np.stack(fields)).to(x.device)

    def encode(self, x: Tensor, adj: Tensor | SparseAdjacency, mask: Tensor, edge_types: Tensor | None,
               keep_levels: bool) -> tuple[Tensor, Tensor | None]:
        """The fields' CNN: (graph embedding, per-node field embeddings at each field's root node when
        ``keep_levels``). ``edge_types`` is ignored (edge labels unused)."""
        batch, nodes, _ = x.shape
        c = self.config
        width, field = c.patchysan_width, c.patchysan_field_size
        fields = self.receptive_fields(x, adj, mask)
        h = self.input_norm(x, mask) if self.input_norm is not None else x
        h = h * mask.unsqueeze(-1).to(h.dtype)
        padded = torch.cat([h, h.new_zeros(batch, 1, h.shape[-1])], dim=1)  # row N: the dummy node
        index = fields.masked_fill(fields < 0, nodes).reshape(batch, width * field)
        sequence = padded[torch.arange(batch, device=x.device).unsqueeze(1), index]  # [B, w·k, F]
        field_embeddings = F.relu(self.field_conv(sequence.transpose(1, 2)))  # [B, 16, w]
        out = F.relu(self.sequence_conv(field_embeddings))
        graph_embedding = out.reshape(batch, -1)
        final = None
        if keep_levels:
            roots = fields[:, :, 0].masked_fill(fields[:, :, 0] < 0, nodes)
            channels = field_embeddings.shape[1]
            per_node = x.new_zeros(batch, nodes + 1, channels)
            per_node.scatter_(1, roots.unsqueeze(-1).expand(-1, -1, channels), field_embeddings.transpose(1, 2))
            final = per_node[:, :nodes]
        return graph_embedding, final
