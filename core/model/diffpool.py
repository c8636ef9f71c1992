"""DiffPool (Ying et al., NeurIPS 2018) and its variants, on padded dense batches.

Shapes used throughout: ``B`` graphs per batch, ``N`` padded nodes, ``F`` input features,
``C`` clusters of a pooling level, ``D`` embedding width. ``mask: bool [B, N]`` marks the
real nodes of the first level; coarsened levels have no padding (every cluster is real).

Architecture (as in the authors' reference code, ``encoders.SoftPoolingGcnEncoder``):

- a *block* is ``num_layers`` GraphSAGE-mean convolutions
  ``h' = W_rel · mean_{j∈N(i)} h_j + W_root · h_i`` (ReLU and batch norm after every layer but
  the last); the block's output is the concatenation of all its layers' outputs;
- level ``l`` runs an embedding block giving ``Z_l`` and (when pooling) an assignment block
  followed by a linear layer and a softmax giving ``S_l: [B, n_l, C_l]``;
- pooling: ``X_{l+1} = S_lᵀ Z_l`` and ``A_{l+1} = S_lᵀ A_l S_l``;
- readout: max over nodes of every level's ``Z``, concatenated, into an MLP classifier;
- auxiliary losses per level: link prediction ``‖A − S Sᵀ‖_F`` and the mean row entropy of
  ``S`` — :func:`dense_diff_pool` computes them exactly as ``torch_geometric.nn.dense_diff_pool``;
  training scales them per real node/entry by default (``DiffPoolConfig.aux_normalization``).

Variants (``DiffPoolConfig.variant``):

- ``diffpool``: learned assignments, link + entropy losses.
- ``diffpool-nolp``: learned assignments, no link prediction loss.
- ``diffpool-det``: assignments fixed beforehand by a deterministic graph clustering
  (``core.data.batching.deterministic_assignments``), passed in the batch.
- ``random``: assignments fixed beforehand at random (a control, Mesquita et al. 2020).
- ``graphsage``: no pooling, one block and a global readout.

The other rows of the paper's table, and Errica et al.'s structure-agnostic baseline, share the
same forward signature, training loop, checkpoints and traces, but have **no pooling levels**
(their traces have ``levels == []``, like ``graphsage``); ``DiffPool(config)`` builds them from
``config.variant`` (see :class:`NoPoolingModel` and the classes below it):

- ``set2set``: the GraphSAGE block, then a Set2Set readout (Vinyals et al. 2016): an LSTM
  attends over the nodes ``set2set_steps`` times.
- ``sortpool``: DGCNN (Zhang et al. 2018): four GCN layers ``tanh(D̃⁻¹ Ã H W)``
  (``Ã = A + I``; widths 32, 32, 32, 1), nodes sorted by the last channel, the top
  ``sortpool_k`` kept (zero rows below a smaller graph), then 1-D convolutions and an MLP.
- ``ecc``: edge-conditioned convolutions (Simonovsky & Komodakis 2017): the weight applied
  to a neighbour is generated from the edge's features by a filter network. The edge features
  are the dataset's edge labels one-hot over ``num_edge_types`` types (MUTAG: 4 bond types), so
  the filter network outputs one matrix per type. ENZYMES, PROTEINS, D&D, IMDB-BINARY, COLLAB
  and REDDIT-MULTI-12K have no edge labels: there every edge carries one constant feature, the
  filter network yields a single matrix and ECC reduces to a mean-aggregation graph convolution.
  Global mean readout (as ECC's classifier).
- ``baseline``: Errica et al. 2020's structure-agnostic baseline: a node-wise MLP, a sum over
  the nodes, an MLP classifier. It never reads the edges.
- ``patchysan``: PATCHY-SAN (Niepert et al. 2016): ``patchysan_width`` receptive fields of
  ``patchysan_field_size`` nodes in a canonical order (NAUTY, via pynauty), read by a 1-D CNN;
  in :mod:`core.model.patchysan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.data.adjacency import SparseAdjacency
from core.model.config import (  # noqa: F401  (re-exported: their historical home)
    ENTROPY_EPS,
    FIXED_ASSIGNMENT,
    FIXED_READOUT,
    LEARNED_ASSIGNMENT,
    NO_POOLING_VARIANTS,
    SORTPOOL_MIN_K,
    SORTPOOL_PERCENTILE,
    VARIANT_SUMMARY,
    VARIANTS,
    DiffPoolConfig,
)
from core.model.trace import DENSE_TRACE_MAX_NODES, GraphTrace, LevelTrace


def mean_adjacency(adj: Tensor | SparseAdjacency) -> Tensor | SparseAdjacency:
    """Row-normalised adjacency ``A / max(rowsum, 1)`` (GraphSAGE mean aggregation); [B, N, N]."""
    if isinstance(adj, SparseAdjacency):
        return adj.mean()
    return adj / adj.sum(dim=-1, keepdim=True).clamp(min=1)


def dense_diff_pool(
    x: Tensor, adj: Tensor, s: Tensor, mask: Tensor | None = None, normalize: bool = True
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pool with soft assignment logits ``s``, matching ``torch_geometric.nn.dense_diff_pool``.

    Args:
        x: [B, N, D] node embeddings Z.  adj: [B, N, N].  s: [B, N, C] assignment *logits*.
        mask: bool [B, N] real nodes, or None.
    Returns:
        ``(Sᵀ Z [B, C, D], Sᵀ A S [B, C, C], link_loss, entropy_loss)`` with
        ``link_loss = ‖A − S Sᵀ‖_F / numel(A)`` (unnormalised if ``normalize`` is False) and
        ``entropy_loss`` the mean over all B·N rows of ``H(S_i)``.
    """
    return pool_with_assignment(x, adj, row_softmax(s), mask, normalize)


#: torch's CPU softmax over a last dimension narrower than this takes a slow path: at 12 clusters
#: it is ~4× slower (forward and backward) than the same softmax along dimension 1 of the
#: transposed view (bench/results/train_throughput-cpu-single-experiments.md).
NARROW_SOFTMAX = 16


def row_softmax(scores: Tensor) -> Tensor:
    """``torch.softmax(scores, dim=-1)`` of [B, N, C] assignment scores, by the faster CPU kernel
    when C is narrow (the same values up to float rounding)."""
    if scores.dim() == 3 and scores.shape[-1] < NARROW_SOFTMAX and scores.device.type == "cpu":
        return torch.softmax(scores.transpose(1, 2), dim=1).transpose(1, 2)
    return torch.softmax(scores, dim=-1)


def pool_with_assignment(
    x: Tensor, adj: Tensor | SparseAdjacency, assignment: Tensor, mask: Tensor | None = None,
    normalize: bool = True, aux_normalization: str = "pyg",
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`dense_diff_pool` for an assignment that is already row-stochastic ([B, N, C]).

    ``aux_normalization="real"`` instead returns the mean squared link error over real entries
    and the entropy averaged over real nodes (see :class:`DiffPoolConfig`).

    The link loss is computed from the expansion
    ``‖Â − S Sᵀ‖_F² = ‖Â‖_F² − 2 tr(Sᵀ Â S) + ‖Sᵀ S‖_F²`` per graph, with ``Sᵀ Â S`` the coarsened
    adjacency the pooling computes anyway: the same values (up to float rounding) without the
    N×N matrix ``S Sᵀ`` — cheaper for a dense batch, and what makes a
    :class:`~core.data.adjacency.SparseAdjacency` ``adj`` (then ``Sᵀ A S = Sᵀ (A S)``) O(E).
    """
    if mask is not None:
        weight = mask.unsqueeze(-1).to(x.dtype)
        x, assignment = x * weight, assignment * weight
    assignment_t = assignment.transpose(1, 2)
    pooled = assignment_t @ x
    sparse = isinstance(adj, SparseAdjacency)
    coarsened = assignment_t @ (adj @ assignment) if sparse else assignment_t @ adj @ assignment
    row_entropy = (-assignment * torch.log(assignment + ENTROPY_EPS)).sum(dim=-1)
    if aux_normalization == "real":
        # A coarsened A' holds edge *counts* (≫ 1) while S Sᵀ ≤ 1: compare S Sᵀ with A scaled
        # into [0, 1] per graph, or the loss would pull every node into one cluster.
        scale = adj.graph_max().clamp(min=1) if sparse else adj.amax(dim=(1, 2)).clamp(min=1)
        squared_error = _squared_link_error(adj, assignment, coarsened, scale).sum()
        real_nodes = mask.sum(dim=1).to(x.dtype) if mask is not None else x.new_full((x.shape[0],), x.shape[1])
        link_loss = squared_error / (real_nodes * real_nodes).sum().clamp(min=1)
        entropy_loss = row_entropy.sum() / real_nodes.sum().clamp(min=1)
        return pooled, coarsened, link_loss, entropy_loss
    link_loss = _squared_link_error(adj, assignment, coarsened).sum().clamp(min=0).sqrt()
    if normalize:
        batch, size = adj.shape[0], adj.shape[1]
        link_loss = link_loss / (batch * size * size)
    return pooled, coarsened, link_loss, row_entropy.mean()


def structure_loss(adj: Tensor | SparseAdjacency, assignment: Tensor, coarsened: Tensor,
                   mask: Tensor | None = None) -> Tensor:
    """DMoN's objective for a batch: the mean over graphs of :func:`structure_loss_per_graph`."""
    return structure_loss_per_graph(adj, assignment, coarsened, mask).mean()


def structure_loss_per_graph(adj: Tensor | SparseAdjacency, assignment: Tensor, coarsened: Tensor,
                             mask: Tensor | None = None) -> Tensor:
    """DMoN's objective (Tsitsulin et al., JMLR 2023) per graph: −modularity + collapse regulariser.

    For each graph b with adjacency A (degrees d, 2m = Σd) and assignment S:
    ``Q_b = (tr(Sᵀ A S) − ‖Sᵀ d‖² / 2m) / 2m`` is the soft modularity of S (the matrix
    convention: a self-loop weight counts once), and ``R_b = ‖Σᵢ Sᵢ‖ √C / n_b − 1`` is 0 when the
    n_b real nodes are spread evenly over the C clusters and √C − 1 when all sit in one. Returns
    ``−Q_b + R_b`` per graph, [B]. Graphs without edges give ``R_b`` only.

    adj: [B, N, N] dense or SparseAdjacency; assignment: [B, N, C] (padded rows are ignored);
    coarsened: [B, C, C] = Sᵀ A S of the masked assignment; mask: bool [B, N] or None.
    """
    if mask is not None:
        assignment = assignment * mask.unsqueeze(-1).to(assignment.dtype)
        real = mask.sum(dim=1).to(assignment.dtype).clamp(min=1)
    else:
        real = assignment.new_full((assignment.shape[0],), assignment.shape[1])
    if isinstance(adj, SparseAdjacency):
        degrees = (adj @ assignment.new_ones(assignment.shape[0], assignment.shape[1], 1)).squeeze(-1)
    else:
        degrees = adj.sum(dim=-1)
    two_m = degrees.sum(dim=-1)
    safe = two_m.clamp(min=1e-9)
    inside = coarsened.diagonal(dim1=1, dim2=2).sum(dim=-1)
    expected = ((assignment.transpose(1, 2) @ degrees.unsqueeze(-1)).squeeze(-1) ** 2).sum(dim=-1) / safe
    modularity = torch.where(two_m > 0, (inside - expected) / safe, torch.zeros_like(two_m))
    clusters = assignment.shape[-1]
    collapse = torch.linalg.vector_norm(assignment.sum(dim=1), dim=-1) * clusters ** 0.5 / real - 1
    return collapse - modularity


def _squared_link_error(
    adj: Tensor | SparseAdjacency, assignment: Tensor, coarsened: Tensor, scale: Tensor | None = None
) -> Tensor:
    """``‖A_b / scale_b − S_b S_bᵀ‖_F²`` per graph ([B]) from ``coarsened = Sᵀ A S``; O(E + N·C²).

    ``adj``: dense [B, N, N] or sparse; ``scale``: [B] or None (1)."""
    gram = assignment.transpose(1, 2) @ assignment
    cross = coarsened.diagonal(dim1=1, dim2=2).sum(dim=-1)
    if isinstance(adj, SparseAdjacency):
        squares = adj.graph_square_sums(scale)
    else:
        squares = (adj * adj).sum(dim=(1, 2))
        if scale is not None:
            squares = squares / (scale * scale)
    if scale is not None:
        cross = cross / scale
    return squares - 2 * cross + (gram * gram).sum(dim=(1, 2))


# ---------------------------------------------------------------------------- layers
class SAGEConv(nn.Module):
    """Dense GraphSAGE-mean convolution: ``h'_i = W_rel · mean_{j∈N(i)} h_j + W_root · h_i + b``.

    Same maths as PyG's ``DenseSAGEConv``; takes the row-normalised adjacency so a block
    computes it once.
    """

    def __init__(self, in_dim: int, out_dim: int, normalize: bool = False) -> None:
        super().__init__()
        self.lin_rel = nn.Linear(in_dim, out_dim, bias=True)
        self.lin_root = nn.Linear(in_dim, out_dim, bias=False)
        self.normalize = normalize

    def forward(self, x: Tensor, adj_mean: Tensor, aggregated: Tensor | None = None) -> Tensor:
        """x: [B, N, F_in], adj_mean: [B, N, N] -> [B, N, F_out]; ``aggregated``: ``adj_mean @ x`` when
        the caller has it (the embedding and assignment blocks of a level share their input).

        As two ``addmm`` calls, ``b + (Â·x) W_relᵀ`` and then ``+ x W_rootᵀ`` in the same call: the
        function of two linears and an add (same logits and gradients), with fewer operations —
        a training step on small graphs is bound by their count (bench/train_throughput.py).
        """
        batch, nodes, width = x.shape
        if aggregated is None:
            aggregated = adj_mean @ x
        out = torch.addmm(self.lin_rel.bias, aggregated.reshape(-1, width), self.lin_rel.weight.t())
        out = torch.addmm(out, x.reshape(-1, width), self.lin_root.weight.t()).reshape(batch, nodes, -1)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out


class MaskedBatchNorm(nn.Module):
    """Batch norm over feature channels using real nodes only, so padding never changes statistics."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(dim)

    def _normalise(self, rows: Tensor) -> Tensor:
        if self.training and rows.shape[0] < 2:
            # One real node has no batch variance: use the running statistics instead of failing.
            norm = self.norm
            return F.batch_norm(rows, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                training=False, eps=norm.eps)
        return self.norm(rows)

    def forward(self, x: Tensor, mask: Tensor | None, index: Tensor | None = None) -> Tensor:
        """x: [B, N, D], mask: bool [B, N] or None; ``index``: the flat positions of ``mask``'s real
        nodes when the caller has them (a block computes them once for its norms). Padded rows of
        the output are exactly zero."""
        width = x.shape[-1]
        if mask is None:
            return self._normalise(x.reshape(-1, width)).reshape(x.shape)
        if index is None:
            index = real_node_index(mask)
        rows = self._normalise(x.reshape(-1, width).index_select(0, index))
        return x.new_zeros(x.shape[0] * x.shape[1], width).index_copy(0, index, rows).reshape(x.shape)


def real_node_index(mask: Tensor) -> Tensor:
    """int64 flat positions (``b · N + i``) of the real nodes of a bool [B, N] mask."""
    return mask.reshape(-1).nonzero().squeeze(1)


class GNNBlock(nn.Module):
    """``num_layers`` SAGE convolutions; returns all layers' outputs concatenated ([B, N, D])."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, config: DiffPoolConfig) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(
            SAGEConv(dims[i], dims[i + 1], normalize=config.normalize_embedding) for i in range(num_layers)
        )
        self.norms = nn.ModuleList(
            MaskedBatchNorm(hidden_dim) if config.batch_norm else nn.Identity() for _ in range(num_layers - 1)
        )
        self.dropout = config.dropout

    def forward(self, x: Tensor, adj_mean: Tensor, mask: Tensor | None, aggregated: Tensor | None = None) -> Tensor:
        """Padded rows of every layer's output are zero: a masked batch norm leaves them so, and the
        other layers' outputs are multiplied by the mask. ``aggregated``: ``adj_mean @ x`` if known."""
        outputs = []
        weight = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
        index = None if mask is None or not any(isinstance(n, MaskedBatchNorm) for n in self.norms) \
            else real_node_index(mask)
        for i, conv in enumerate(self.convs):
            x = conv(x, adj_mean, aggregated if i == 0 else None)
            zeroed = False
            if i < len(self.convs) - 1:
                x = F.relu(x)
                norm = self.norms[i]
                if isinstance(norm, MaskedBatchNorm):
                    x, zeroed = norm(x, mask, index), mask is not None
                if self.dropout > 0:
                    x = F.dropout(x, self.dropout, self.training)
            if weight is not None and not zeroed:
                x = x * weight
            outputs.append(x)
        return torch.cat(outputs, dim=-1)


def padding_bias(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """[..., N, 1]: 0 on real rows, −∞ on padded ones, to add before a max over nodes (one op on
    the embeddings, where a masked fill is a copy and a fill)."""
    return torch.where(mask.unsqueeze(-1), 0.0, float("-inf")).to(dtype)


def readout(z: Tensor, mask: Tensor | None, how: str) -> Tensor:
    """Graph vector from node embeddings z: [B, N, D] -> [B, D], ignoring padded nodes."""
    if how == "max":
        if mask is not None:
            z = z + padding_bias(mask, z.dtype)
        return z.max(dim=1).values
    if mask is not None:
        z = z * mask.unsqueeze(-1).to(z.dtype)
    total = z.sum(dim=1)
    if how == "sum":
        return total
    count = z.shape[1] if mask is None else mask.sum(dim=1, keepdim=True).clamp(min=1).to(z.dtype)
    return total / count


# ---------------------------------------------------------------------------- model
@dataclass
class ForwardOutput:
    """What :meth:`DiffPool.forward` returns.

    logits: [B, C_classes].  link_loss / entropy_loss: scalars summed over levels.
    graph_embedding: [B, G] readout vector.
    levels: per level, a dict of batch tensors ``assignment [B, n_l, C_l]``,
    ``coarsened_adjacency [B, C_l, C_l]``, ``pooled_features [B, C_l, D]``,
    ``node_embeddings [B, n_l, D]``; and ``final_embeddings [B, n_L, D]``.
    """

    logits: Tensor
    link_loss: Tensor
    entropy_loss: Tensor
    graph_embedding: Tensor
    levels: list[dict] = field(default_factory=list)
    final_embeddings: Tensor | None = None
    input_adjacency: Tensor | None = None
    structure_loss: Tensor | None = None


class DiffPool(nn.Module):
    """DiffPool graph classifier (see the module docstring).

    ``DiffPool(config)`` with a variant in :data:`NO_POOLING_VARIANTS` returns the matching
    :class:`NoPoolingModel` subclass instead, so training, inference and checkpoints build every
    variant the same way.
    """

    def __new__(cls, config: DiffPoolConfig | None = None, *args, **kwargs):
        # config is None when copy/pickle rebuild an instance (copy.deepcopy): keep the class as is.
        if cls is DiffPool and config is not None and config.variant in NO_POOLING_VARIANTS:
            cls = NO_POOLING_MODELS[config.variant]
        return super().__new__(cls)

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        width = c.block_output_dim
        # Optional batch norm of the raw input features (real nodes only), as the baseline has.
        self.input_norm = MaskedBatchNorm(c.input_dim) if c.input_norm else None
        self.embed_blocks = nn.ModuleList(
            [GNNBlock(c.input_dim - c.assign_only_dim if level == 0 else width, c.hidden_dim, c.embedding_dim,
                      c.num_layers, c)
             for level in range(c.num_pooling + 1)]
        )
        self.assign_blocks = nn.ModuleList()
        self.assign_heads = nn.ModuleList()
        if c.variant in LEARNED_ASSIGNMENT:
            assign_width = c.assign_hidden_dim * (c.num_layers - 1) + c.cluster_counts[0]
            for level, clusters in enumerate(c.cluster_counts):
                block = GNNBlock(c.input_dim if level == 0 else width, c.assign_hidden_dim, clusters, c.num_layers, c)
                self.assign_blocks.append(block)
                assign_width = c.assign_hidden_dim * (c.num_layers - 1) + clusters
                self.assign_heads.append(nn.Linear(assign_width, clusters))
        layers, previous = [], width * (c.num_pooling + 1)
        for hidden in c.pred_hidden_dims:
            layers += [nn.Linear(previous, hidden), nn.ReLU()]
            previous = hidden
        layers.append(nn.Linear(previous, c.num_classes))
        self.classifier = nn.Sequential(*layers)
        self._init_weights()

    def _init_weights(self) -> None:
        # Xavier with the ReLU gain and zero bias, as in the reference code.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, gain=nn.init.calculate_gain("relu"))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(
        self,
        x: Tensor,
        adj: Tensor,
        mask: Tensor | None = None,
        fixed_assignments: list[Tensor] | None = None,
        keep_levels: bool = False,
        edge_types: Tensor | None = None,
    ) -> ForwardOutput:
        """Classify a padded batch.

        Args:
            x: [B, N, F] node features.  adj: [B, N, N] adjacency, dense or a
                :class:`~core.data.adjacency.SparseAdjacency` (same results, O(E) products).
                mask: bool [B, N] or None.
            fixed_assignments: for ``diffpool-det`` / ``random``, one row-stochastic
                [B, n_l, C_l] tensor per level (padded rows zero).
            keep_levels: also return every level's S, A', X', Z and the pre-softmax scores of S (for traces).
            edge_types: the batch's edge labels (``core.data.batching.Batch.edge_types``); only ``ecc``
                reads them.
        """
        c = self.config
        if c.variant in FIXED_ASSIGNMENT and (fixed_assignments is None or len(fixed_assignments) < c.num_pooling):
            raise ValueError(f"variant {c.variant!r} needs fixed_assignments for {c.num_pooling} level(s)")
        input_adjacency = adj  # dense or sparse, as batched: traces cut each graph's block out
        link_total = x.new_zeros(())
        entropy_total = x.new_zeros(())
        structure_total = x.new_zeros(()) if c.structure_loss_weight > 0 else None
        learned = c.variant in LEARNED_ASSIGNMENT
        if self.input_norm is not None:
            x = self.input_norm(x, mask)
        adj_mean = mean_adjacency(adj)
        # A level's embedding and assignment blocks read the same input: aggregate it once.
        aggregated = adj_mean @ x if learned and c.num_pooling > 0 else None
        # The last assign_only_dim columns (positional) feed the level-1 assignment block only.
        keep = c.input_dim - c.assign_only_dim
        z = self.embed_blocks[0](x[..., :keep], adj_mean, mask, None if aggregated is None else aggregated[..., :keep])
        graph_vectors = [readout(z, mask, c.readout)]
        levels = []
        assign_input = x
        for level in range(c.num_pooling):
            if learned:
                hidden = self.assign_blocks[level](assign_input, adj_mean, mask, aggregated)
                scores = self.assign_heads[level](hidden)
                assignment = row_softmax(scores)
            else:
                scores = None
                assignment = fixed_assignments[level].to(dtype=x.dtype)
            pooled, coarsened, link_loss, entropy_loss = pool_with_assignment(
                z, adj, assignment, mask, aux_normalization=c.aux_normalization
            )
            if c.variant != "diffpool-nolp":
                link_total = link_total + link_loss
            entropy_total = entropy_total + entropy_loss
            if structure_total is not None:
                structure_total = structure_total + structure_loss(adj, assignment, coarsened, mask)
            if keep_levels:
                masked = assignment if mask is None else assignment * mask.unsqueeze(-1).to(x.dtype)
                levels.append(dict(assignment=masked, coarsened_adjacency=coarsened,
                                   pooled_features=pooled, node_embeddings=z, assignment_scores=scores))
            adj, mask, assign_input = coarsened, None, pooled
            adj_mean = mean_adjacency(adj)
            aggregated = adj_mean @ pooled if learned and level + 1 < c.num_pooling else None
            z = self.embed_blocks[level + 1](pooled, adj_mean, None, aggregated)
            graph_vectors.append(readout(z, None, c.readout))
        graph_embedding = torch.cat(graph_vectors, dim=-1)
        logits = self.classifier(graph_embedding)
        return ForwardOutput(
            logits, link_total, entropy_total, graph_embedding, levels,
            final_embeddings=z if keep_levels else None,
            input_adjacency=input_adjacency if keep_levels else None,
            structure_loss=structure_total,
        )

    def loss(self, output: ForwardOutput, labels: Tensor) -> Tensor:
        """Cross-entropy plus the weighted auxiliary losses of the variant."""
        c = self.config
        total = F.cross_entropy(output.logits, labels)
        if c.variant in LEARNED_ASSIGNMENT:
            total = total + c.link_loss_weight * output.link_loss + c.entropy_loss_weight * output.entropy_loss
            if output.structure_loss is not None:
                total = total + c.structure_loss_weight * output.structure_loss
        return total

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------------------- variants without pooling
def sortpool_k_for(sizes, percentile: float = SORTPOOL_PERCENTILE, minimum: int = SORTPOOL_MIN_K) -> int:
    """DGCNN's ``k``: the graph size at rank ``ceil(percentile · G)`` of the G sorted sizes, at least ``minimum``.

    With ``percentile = 0.6`` (the reference code's default) 60 % of the graphs have at most k
    nodes and lose none of them to the sort pooling.

    >>> sortpool_k_for([5, 12, 20, 30, 41])
    20
    >>> sortpool_k_for([3, 4, 5])
    10
    """
    ordered = sorted(int(n) for n in sizes)
    if not ordered:
        raise ValueError("sortpool_k_for needs the size of at least one graph")
    return max(int(minimum), ordered[max(0, math.ceil(percentile * len(ordered)) - 1)])


def _classifier_mlp(in_dim: int, hidden_dims: list[int], num_classes: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear + ReLU (+ dropout) per hidden width, then a linear layer to the classes."""
    layers: list[nn.Module] = []
    for hidden in hidden_dims:
        layers += [nn.Linear(in_dim, hidden), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = hidden
    layers.append(nn.Linear(in_dim, num_classes))
    return nn.Sequential(*layers)


def _real_node_weight(x: Tensor, mask: Tensor) -> Tensor:
    """float [B, N, 1]: 1 on real nodes, 0 on padding."""
    return mask.unsqueeze(-1).to(x.dtype)


class NoPoolingModel(DiffPool):
    """Base of the variants without pooling levels: node embeddings -> graph vector -> logits.

    A subclass builds its layers and ``self.classifier`` and defines
    ``embed_nodes(x [B, N, F], adj, mask [B, N], edge_types) -> z [B, N, D]`` (zero on padded rows) and
    ``read_out(z, mask) -> [B, G]``. The forward pass has DiffPool's signature; it returns zero
    auxiliary losses, no levels, and ``z`` as the final node embeddings (for traces), so
    training, checkpoints and views treat these models like ``graphsage``.
    """

    def __init__(self, config: DiffPoolConfig) -> None:
        nn.Module.__init__(self)  # DiffPool.__init__ would build the pooling blocks
        self.config = config

    def embed_nodes(self, x: Tensor, adj: Tensor | SparseAdjacency, mask: Tensor,
                    edge_types: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def read_out(self, z: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self,
        x: Tensor,
        adj: Tensor | SparseAdjacency,
        mask: Tensor | None = None,
        fixed_assignments: list[Tensor] | None = None,
        keep_levels: bool = False,
        edge_types: Tensor | None = None,
    ) -> ForwardOutput:
        """x: [B, N, F], adj: [B, N, N] (dense or sparse), mask: bool [B, N] or None (all real);
        edge_types: ``Batch.edge_types`` or None.

        ``fixed_assignments`` is ignored (no pooling levels). Subclasses define :meth:`encode` (or
        :meth:`embed_nodes` and :meth:`read_out`).
        """
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        graph_embedding, final = self.encode(x, adj, mask, edge_types, keep_levels)
        logits = self.classifier(graph_embedding)
        zero = x.new_zeros(())
        return ForwardOutput(logits, zero, zero, graph_embedding, [], final_embeddings=final,
                             input_adjacency=adj if keep_levels else None)

    def encode(self, x: Tensor, adj: Tensor | SparseAdjacency, mask: Tensor, edge_types: Tensor | None,
               keep_levels: bool) -> tuple[Tensor, Tensor | None]:
        """(graph embedding [B, G], per-node embeddings [B, N, D] when ``keep_levels`` else None)."""
        z = self.embed_nodes(x, adj, mask, edge_types)
        return self.read_out(z, mask), (z if keep_levels else None)


class Set2Set(nn.Module):
    """Set2Set readout (Vinyals et al. 2016), over the real nodes of a padded batch.

    ``steps`` times: ``q = LSTM(q*)``, ``a = softmax_i(⟨z_i, q⟩)`` over real nodes,
    ``r = Σ_i a_i z_i``, ``q* = [q, r]``. Input z: [B, N, D]; output q*: [B, 2D].
    """

    def __init__(self, dim: int, steps: int) -> None:
        super().__init__()
        self.dim, self.steps = dim, steps
        self.lstm = nn.LSTMCell(2 * dim, dim)

    def forward(self, z: Tensor, mask: Tensor) -> Tensor:
        batch = z.shape[0]
        hidden = z.new_zeros(batch, self.dim)
        cell = z.new_zeros(batch, self.dim)
        q_star = z.new_zeros(batch, 2 * self.dim)
        for _ in range(self.steps):
            hidden, cell = self.lstm(q_star, (hidden, cell))
            scores = (z * hidden.unsqueeze(1)).sum(dim=-1).masked_fill(~mask, float("-inf"))
            attention = torch.softmax(scores, dim=1)
            attended = (attention.unsqueeze(-1) * z).sum(dim=1)
            q_star = torch.cat([hidden, attended], dim=-1)
        return q_star


class Set2SetModel(NoPoolingModel):
    """``set2set``: the GraphSAGE block of ``graphsage`` (concatenated layers, width D), then
    :class:`Set2Set` ([B, 2D]) and the MLP classifier."""

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__(config)
        c = config
        self.block = GNNBlock(c.input_dim, c.hidden_dim, c.embedding_dim, c.num_layers, c)
        self.set2set = Set2Set(c.block_output_dim, c.set2set_steps)
        self.classifier = _classifier_mlp(2 * c.block_output_dim, c.pred_hidden_dims, c.num_classes)
        self._init_weights()

    def embed_nodes(self, x, adj, mask, edge_types=None):
        return self.block(x, mean_adjacency(adj), mask)

    def read_out(self, z, mask):
        return self.set2set(z, mask)


DGCNN_CHANNELS = (32, 32, 32, 1)
DGCNN_CONV_CHANNELS = (16, 32)
DGCNN_CONV2_KERNEL = 5
DGCNN_HIDDEN = 128
DGCNN_DROPOUT = 0.5


class SortPoolModel(NoPoolingModel):
    """``sortpool``: DGCNN (Zhang et al. 2018), with the reference code's widths.

    - graph convolutions ``H' = tanh(D̃⁻¹ Ã H W + b)``, ``Ã = A + I``, widths 32, 32, 32, 1;
      their outputs concatenated: z [B, N, 97];
    - sort pooling: real nodes sorted by the last channel (descending), the first
      ``k = config.sortpool_k`` rows kept, zero rows below a graph with fewer nodes: [B, k, 97];
    - Conv1d(1→16, kernel = stride = 97) (one step per node), ReLU, MaxPool1d(2),
      Conv1d(16→32, kernel 5), ReLU, flattened: the graph embedding [B, 32·(⌊k/2⌋ − 4)];
    - MLP 128 with ReLU and dropout 0.5, then the classes.
    """

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__(config)
        c = config
        dims = [c.input_dim, *DGCNN_CHANNELS]
        self.convs = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(len(DGCNN_CHANNELS)))
        width = sum(DGCNN_CHANNELS)
        first, second = DGCNN_CONV_CHANNELS
        self.node_conv = nn.Conv1d(1, first, kernel_size=width, stride=width)
        self.pool = nn.MaxPool1d(2, 2)
        self.sequence_conv = nn.Conv1d(first, second, kernel_size=DGCNN_CONV2_KERNEL, stride=1)
        length = c.sortpool_k // 2 - DGCNN_CONV2_KERNEL + 1
        self.classifier = _classifier_mlp(second * length, [DGCNN_HIDDEN], c.num_classes, dropout=DGCNN_DROPOUT)
        self._init_weights()

    def embed_nodes(self, x, adj, mask, edge_types=None):
        weight = _real_node_weight(x, mask)
        degree = adj.row_sums() if isinstance(adj, SparseAdjacency) else adj.sum(dim=-1)
        scale = (degree + 1).unsqueeze(-1).to(x.dtype)
        outputs, h = [], x
        for linear in self.convs:
            h = torch.tanh(linear((adj @ h + h) / scale)) * weight
            outputs.append(h)
        return torch.cat(outputs, dim=-1)

    def read_out(self, z, mask):
        k = self.config.sortpool_k
        batch, nodes, width = z.shape
        key = z[..., -1].masked_fill(~mask, float("-inf"))
        order = torch.sort(key, dim=1, descending=True, stable=True).indices
        ranked = torch.gather(z, 1, order.unsqueeze(-1).expand(-1, -1, width))
        if nodes < k:
            ranked = torch.cat([ranked, z.new_zeros(batch, k - nodes, width)], dim=1)
        sequence = ranked[:, :k].reshape(batch, 1, k * width)
        out = self.pool(F.relu(self.node_conv(sequence)))
        out = F.relu(self.sequence_conv(out))
        return out.reshape(batch, -1)


class EdgeConditionedConv(nn.Module):
    """Edge-conditioned convolution (Simonovsky & Komodakis 2017) for categorical edge features.

    ``h'_i = W_root h_i + b + (1/deg_i) Σ_j Θ(e_ij) h_j``, with ``Θ(e) = FGN(e)`` reshaped to
    [in, out] by the filter-generating network FGN (Linear–ReLU–Linear). Edge features are
    one-hot over ``edge_types`` types, so FGN yields one matrix per type and the sum runs as
    ``Σ_t (Ā_t H) Θ_t`` with ``Ā_t`` the type-t part of the row-normalised adjacency.
    """

    def __init__(self, in_dim: int, out_dim: int, edge_types: int = 1, filter_hidden: int = 16) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.edge_types = in_dim, out_dim, edge_types
        self.filter_net = nn.Sequential(
            nn.Linear(edge_types, filter_hidden), nn.ReLU(), nn.Linear(filter_hidden, in_dim * out_dim))
        self.lin_root = nn.Linear(in_dim, out_dim, bias=True)

    def filters(self) -> Tensor:
        """Θ_t for every edge type: [T, in, out]."""
        one_hot = torch.eye(self.edge_types, device=self.lin_root.weight.device, dtype=self.lin_root.weight.dtype)
        return self.filter_net(one_hot).reshape(self.edge_types, self.in_dim, self.out_dim)

    def forward(self, x: Tensor, typed_mean_adjacency: list) -> Tensor:
        """x: [B, N, in]; typed_mean_adjacency: T row-normalised [B, N, N] parts (dense or sparse)."""
        if len(typed_mean_adjacency) != self.edge_types:
            raise ValueError(f"expected {self.edge_types} edge-type adjacencies, got {len(typed_mean_adjacency)}")
        out = self.lin_root(x)
        for adjacency, theta in zip(typed_mean_adjacency, self.filters()):
            out = out + (adjacency @ x) @ theta
        return out


def typed_mean_adjacency(adj: Tensor | SparseAdjacency, edge_types: Tensor | None, num_types: int) -> list:
    """The row-normalised adjacency split by edge type: ``num_types`` parts summing to ``A / max(rowsum, 1)``.

    ``edge_types`` is ``Batch.edge_types`` (type + 1 per entry, [B, N, N] dense or [E] aligned with a
    sparse adjacency's entries). One type needs none: the whole mean adjacency is returned.
    """
    mean = mean_adjacency(adj)
    if num_types == 1:
        return [mean]
    if edge_types is None:
        raise ValueError(f"this model reads {num_types} edge types (its dataset's edge labels), but the batch "
                         "carries none: the graphs have no edge labels; use a model trained without them")
    if isinstance(mean, SparseAdjacency):
        parts = []
        for t in range(num_types):
            keep = edge_types == t + 1
            parts.append(SparseAdjacency(mean.rows[keep], mean.cols[keep], mean.weights[keep],
                                         mean.batch_size, mean.num_nodes))
        return parts
    return [mean * (edge_types == t + 1).to(mean.dtype) for t in range(num_types)]


class ECCModel(NoPoolingModel):
    """``ecc``: ``num_layers`` edge-conditioned convolutions (ReLU and masked batch norm after all
    but the last, outputs concatenated as in the GraphSAGE block), global mean readout, MLP.

    Edge features: one-hot edge labels over ``config.num_edge_types`` types where the dataset has
    edge labels (:func:`typed_mean_adjacency`), else one constant feature (``num_edge_types = 1``).
    """

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__(config)
        c = config
        dims = [c.input_dim] + [c.hidden_dim] * (c.num_layers - 1) + [c.embedding_dim]
        self.convs = nn.ModuleList(EdgeConditionedConv(dims[i], dims[i + 1], edge_types=c.num_edge_types)
                                   for i in range(c.num_layers))
        self.norms = nn.ModuleList(
            MaskedBatchNorm(c.hidden_dim) if c.batch_norm else nn.Identity() for _ in range(c.num_layers - 1))
        self.classifier = _classifier_mlp(c.block_output_dim, c.pred_hidden_dims, c.num_classes)
        self._init_weights()

    def embed_nodes(self, x, adj, mask, edge_types=None):
        weight = _real_node_weight(x, mask)
        typed = typed_mean_adjacency(adj, edge_types, self.config.num_edge_types)
        outputs = []
        for i, conv in enumerate(self.convs):
            x = conv(x, typed)
            if i < len(self.convs) - 1:
                x = F.relu(x)
                norm = self.norms[i]
                x = norm(x, mask) if isinstance(norm, MaskedBatchNorm) else x
                if self.config.dropout > 0:
                    x = F.dropout(x, self.config.dropout, self.training)
            x = x * weight
            outputs.append(x)
        return torch.cat(outputs, dim=-1)

    def read_out(self, z, mask):
        return readout(z, mask, "mean")


class StructureAgnosticBaseline(NoPoolingModel):
    """``baseline`` (Errica et al. 2020): ``logits = MLP(Σ_i ReLU(W norm(x_i) + b))`` — never reads the edges.

    A node-wise layer of ``hidden_dim`` units, a sum over the real nodes (so the model sees how
    many nodes of each kind a graph has), and the MLP classifier. ``norm`` is a batch norm of the
    input features over real nodes (with ``batch_norm``, the default): raw TU attributes reach
    ~800 (PROTEINS) and, summed over hundreds of nodes, would start training far off scale.
    Errica et al. fed one-hot labels only, which need no such scaling.
    """

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__(config)
        c = config
        self.input_norm = MaskedBatchNorm(c.input_dim) if c.batch_norm else None
        self.node_mlp = nn.Sequential(nn.Linear(c.input_dim, c.hidden_dim), nn.ReLU())
        self.classifier = _classifier_mlp(c.hidden_dim, c.pred_hidden_dims, c.num_classes)
        self._init_weights()

    def embed_nodes(self, x, adj, mask, edge_types=None):
        if self.input_norm is not None:
            x = self.input_norm(x, mask)
        return self.node_mlp(x) * _real_node_weight(x, mask)

    def read_out(self, z, mask):
        return readout(z, mask, "sum")


NO_POOLING_MODELS: dict[str, type[NoPoolingModel]] = {
    "set2set": Set2SetModel,
    "sortpool": SortPoolModel,
    "ecc": ECCModel,
    "baseline": StructureAgnosticBaseline,
}


# ---------------------------------------------------------------------------- traces
def _entropy_rows(assignment: np.ndarray) -> np.ndarray:
    return -(assignment * np.log(assignment + ENTROPY_EPS)).sum(axis=1)


def _scores_of(level: dict, b: int, count: int) -> np.ndarray | None:
    """float32 [count, C] pre-softmax assignment scores of graph ``b`` at one level, or None (fixed S)."""
    scores = level.get("assignment_scores")
    if scores is None:
        return None
    return scores[b, :count].detach().cpu().numpy().astype(np.float32)


def _link_residual(adjacency, assignment: np.ndarray, coarsened: np.ndarray) -> float:
    """``‖A − S Sᵀ‖_F`` without the N × N product: ‖A‖² − 2 tr(Sᵀ A S) + ‖Sᵀ S‖² (``coarsened`` = Sᵀ A S).

    O(N² + N C²) instead of O(N² C) (O(E + N C²) for a scipy sparse A); on D&D's 5,748-node graph
    ~10× faster than forming S Sᵀ.
    """
    flat = adjacency.data if sp.issparse(adjacency) else adjacency.ravel()
    s = assignment.astype(np.float64)
    squared = float(flat @ flat) - 2.0 * float(np.trace(coarsened.astype(np.float64))) + float(np.square(s.T @ s).sum())
    return math.sqrt(max(squared, 0.0))


def _graph_adjacency(adjacency: Tensor | SparseAdjacency, b: int, n: int):
    """Graph ``b``'s [n, n] input adjacency out of a batch's: float32 numpy, or scipy CSR above
    :data:`~core.model.trace.DENSE_TRACE_MAX_NODES` nodes when the batch is sparse (D&D's largest
    graph: 0.2 MB instead of a 130 MB dense copy, and ~0.3 s less per trace)."""
    if not isinstance(adjacency, SparseAdjacency):
        return adjacency[b, :n, :n].detach().cpu().numpy().astype(np.float32)
    size = adjacency.num_nodes
    chosen = adjacency.graph_of_entry == b
    rows = (adjacency.rows[chosen] - b * size).cpu().numpy()
    cols = (adjacency.cols[chosen] - b * size).cpu().numpy()
    weights = adjacency.weights[chosen].detach().cpu().numpy().astype(np.float32)
    matrix = sp.csr_matrix((weights, (rows, cols)), shape=(n, n), dtype=np.float32)  # duplicates add up
    return matrix if n > DENSE_TRACE_MAX_NODES else matrix.toarray()


def traces_from_output(
    output: ForwardOutput,
    num_nodes: list[int],
    labels: list[int | None] | None = None,
    graph_indices: list[int | None] | None = None,
    meta: dict | None = None,
) -> list[GraphTrace]:
    """Split a batch's :class:`ForwardOutput` (computed with ``keep_levels=True``) into per-graph traces.

    ``num_nodes[b]`` is graph b's real node count; padding is cut away so every array is
    sized to real nodes. Per-graph losses: ``‖A − S Sᵀ‖_F / n²`` and the mean row entropy.
    """
    traces = []
    for b, n in enumerate(num_nodes):
        level_traces = []
        count = n
        input_adjacency = _graph_adjacency(output.input_adjacency, b, n)
        a = input_adjacency
        for level in output.levels:
            s = level["assignment"][b, :count].detach().cpu().numpy().astype(np.float32)
            coarsened = level["coarsened_adjacency"][b].detach().cpu().numpy().astype(np.float32)
            entropy = _entropy_rows(s)
            link = _link_residual(a, s, coarsened) / max(count, 1) ** 2
            level_traces.append(LevelTrace(
                assignment=s,
                coarsened_adjacency=coarsened,
                pooled_features=level["pooled_features"][b].detach().cpu().numpy().astype(np.float32),
                node_embeddings=level["node_embeddings"][b, :count].detach().cpu().numpy().astype(np.float32),
                node_entropy=entropy.astype(np.float32),
                link_loss=link,
                entropy_loss=float(entropy.mean()) if count else 0.0,
                assignment_scores=_scores_of(level, b, count),
            ))
            count = s.shape[1]
            a = level_traces[-1].coarsened_adjacency
        final = output.final_embeddings[b, :count] if output.final_embeddings is not None else None
        traces.append(GraphTrace(
            levels=level_traces,
            adjacency=input_adjacency,
            final_embeddings=None if final is None else final.detach().cpu().numpy().astype(np.float32),
            graph_embedding=output.graph_embedding[b].detach().cpu().numpy().astype(np.float32),
            logits=output.logits[b].detach().cpu().numpy().astype(np.float32),
            label=None if labels is None else labels[b],
            graph_index=None if graph_indices is None else graph_indices[b],
            meta=dict(meta or {}),
        ))
    return traces


def entropy_upper_bound(num_clusters: int) -> float:
    """log C, the entropy of a uniform assignment row over C clusters (nats)."""
    return math.log(max(num_clusters, 1))


# Registered last: core.model.patchysan builds on NoPoolingModel above.
from core.model.patchysan import PatchySanModel

NO_POOLING_MODELS["patchysan"] = PatchySanModel
