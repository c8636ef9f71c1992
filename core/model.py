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
  (``core.batching.deterministic_assignments``), passed in the batch.
- ``random``: assignments fixed beforehand at random (a control, Mesquita et al. 2020).
- ``graphsage``: no pooling, one block and a global readout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.adjacency import SparseAdjacency
from core.trace import GraphTrace, LevelTrace

VARIANTS = ("diffpool", "diffpool-nolp", "diffpool-det", "graphsage", "random")
LEARNED_ASSIGNMENT = ("diffpool", "diffpool-nolp")
FIXED_ASSIGNMENT = ("diffpool-det", "random")
ENTROPY_EPS = 1e-15


@dataclass
class DiffPoolConfig:
    """Hyper-parameters; defaults follow the reference code's ENZYMES settings.

    ``cluster_counts`` is derived from ``max_nodes`` and ``assign_ratio`` when left empty:
    level 1 gets ``int(max_nodes * ratio)`` clusters, each later level ``int(previous * ratio)``,
    never fewer than 2.

    ``aux_normalization`` sets the scale of the auxiliary losses in training:

    - ``"real"`` (default): link loss = Σ_g ‖Â_g − S_g S_gᵀ‖_F² / Σ_g n_g², the mean squared
      error over the real entries of the batch's graphs with Â_g = A_g / max(1, max A_g) (a
      coarsened A' holds edge counts; S Sᵀ ≤ 1), and the entropy averaged over real nodes — O(1) like the reference code's link loss (a mean over real entries), and
      independent of how much padding a batch has.
    - ``"pyg"``: exactly ``torch_geometric.nn.dense_diff_pool`` (‖·‖_F / numel(A) including
      padding, entropy averaged over padded rows too). Its link term is ~1e-4 on typical
      batches, so it barely shapes the assignments.
    """

    input_dim: int
    num_classes: int
    variant: str = "diffpool"
    hidden_dim: int = 30
    embedding_dim: int = 30
    assign_hidden_dim: int = 30
    num_layers: int = 3
    num_pooling: int = 1
    assign_ratio: float = 0.1
    max_nodes: int = 100
    cluster_counts: list[int] = field(default_factory=list)
    pred_hidden_dims: list[int] = field(default_factory=lambda: [50])
    batch_norm: bool = True
    normalize_embedding: bool = False
    dropout: float = 0.0
    readout: str = "max"
    link_loss_weight: float = 1.0
    entropy_loss_weight: float = 1.0
    aux_normalization: str = "real"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.aux_normalization not in ("real", "pyg"):
            raise ValueError(f"aux_normalization must be 'real' or 'pyg', got {self.aux_normalization!r}")
        if self.readout not in ("max", "mean", "sum"):
            raise ValueError(f"readout must be 'max', 'mean' or 'sum', got {self.readout!r}")
        if self.num_layers < 2:
            raise ValueError(f"num_layers must be at least 2, got {self.num_layers}")
        if self.variant == "graphsage":
            self.num_pooling = 0
            self.cluster_counts = []
        elif not self.cluster_counts:
            counts, previous = [], self.max_nodes
            for _ in range(self.num_pooling):
                previous = max(2, int(previous * self.assign_ratio))
                counts.append(previous)
            self.cluster_counts = counts
        if len(self.cluster_counts) != self.num_pooling:
            raise ValueError(
                f"cluster_counts {self.cluster_counts} must have one entry per pooling level ({self.num_pooling})"
            )
        self.cluster_counts = [int(c) for c in self.cluster_counts]
        self.pred_hidden_dims = [int(h) for h in self.pred_hidden_dims]

    @property
    def block_output_dim(self) -> int:
        """Width D of a block's concatenated output."""
        return self.hidden_dim * (self.num_layers - 1) + self.embedding_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DiffPoolConfig":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------------------- operators
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
    return pool_with_assignment(x, adj, torch.softmax(s, dim=-1), mask, normalize)


def pool_with_assignment(
    x: Tensor, adj: Tensor | SparseAdjacency, assignment: Tensor, mask: Tensor | None = None,
    normalize: bool = True, aux_normalization: str = "pyg",
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`dense_diff_pool` for an assignment that is already row-stochastic ([B, N, C]).

    ``aux_normalization="real"`` instead returns the mean squared link error over real entries
    and the entropy averaged over real nodes (see :class:`DiffPoolConfig`).

    ``adj`` may be a :class:`~core.adjacency.SparseAdjacency`: then ``Sᵀ A S`` is computed as
    ``Sᵀ (A S)`` and the link loss from the expansion
    ``‖Â − S Sᵀ‖_F² = ‖Â‖_F² − 2 tr(Sᵀ Â S) + ‖Sᵀ S‖_F²`` per graph — the same values
    (up to float rounding) without any N×N matrix.
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
        if sparse:
            scale = adj.graph_max().clamp(min=1)
            squared_error = _squared_link_error(adj, assignment, coarsened, scale).sum()
        else:
            scale = adj.amax(dim=(1, 2), keepdim=True).clamp(min=1)
            residual = adj / scale - assignment @ assignment_t
            squared_error = (residual * residual).sum()
        real_nodes = mask.sum(dim=1).to(x.dtype) if mask is not None else x.new_full((x.shape[0],), x.shape[1])
        link_loss = squared_error / (real_nodes * real_nodes).sum().clamp(min=1)
        entropy_loss = row_entropy.sum() / real_nodes.sum().clamp(min=1)
        return pooled, coarsened, link_loss, entropy_loss
    if sparse:
        link_loss = _squared_link_error(adj, assignment, coarsened).sum().clamp(min=0).sqrt()
    else:
        link_loss = torch.linalg.vector_norm(adj - assignment @ assignment_t)
    if normalize:
        batch, size = adj.shape[0], adj.shape[1]
        link_loss = link_loss / (batch * size * size)
    return pooled, coarsened, link_loss, row_entropy.mean()


def _squared_link_error(
    adj: SparseAdjacency, assignment: Tensor, coarsened: Tensor, scale: Tensor | None = None
) -> Tensor:
    """``‖A_b / scale_b − S_b S_bᵀ‖_F²`` per graph ([B]) from ``coarsened = Sᵀ A S``; O(E + N·C²)."""
    gram = assignment.transpose(1, 2) @ assignment
    cross = coarsened.diagonal(dim1=1, dim2=2).sum(dim=-1)
    if scale is not None:
        cross = cross / scale
    return adj.graph_square_sums(scale) - 2 * cross + (gram * gram).sum(dim=(1, 2))


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

    def forward(self, x: Tensor, adj_mean: Tensor) -> Tensor:
        """x: [B, N, F_in], adj_mean: [B, N, N] -> [B, N, F_out]."""
        out = self.lin_rel(adj_mean @ x) + self.lin_root(x)
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

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """x: [B, N, D], mask: bool [B, N] or None."""
        if mask is None:
            return self._normalise(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        out = torch.zeros_like(x)
        out[mask] = self._normalise(x[mask])
        return out


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

    def forward(self, x: Tensor, adj_mean: Tensor, mask: Tensor | None) -> Tensor:
        outputs = []
        weight = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
        for i, conv in enumerate(self.convs):
            x = conv(x, adj_mean)
            if i < len(self.convs) - 1:
                x = F.relu(x)
                norm = self.norms[i]
                x = norm(x, mask) if isinstance(norm, MaskedBatchNorm) else x
                if self.dropout > 0:
                    x = F.dropout(x, self.dropout, self.training)
            if weight is not None:
                x = x * weight
            outputs.append(x)
        return torch.cat(outputs, dim=-1)


def readout(z: Tensor, mask: Tensor | None, how: str) -> Tensor:
    """Graph vector from node embeddings z: [B, N, D] -> [B, D], ignoring padded nodes."""
    if how == "max":
        if mask is not None:
            z = z.masked_fill(~mask.unsqueeze(-1), float("-inf"))
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


class DiffPool(nn.Module):
    """DiffPool graph classifier (see the module docstring)."""

    def __init__(self, config: DiffPoolConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        width = c.block_output_dim
        self.embed_blocks = nn.ModuleList(
            [GNNBlock(c.input_dim if level == 0 else width, c.hidden_dim, c.embedding_dim, c.num_layers, c)
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
    ) -> ForwardOutput:
        """Classify a padded batch.

        Args:
            x: [B, N, F] node features.  adj: [B, N, N] adjacency, dense or a
                :class:`~core.adjacency.SparseAdjacency` (same results, O(E) products).
                mask: bool [B, N] or None.
            fixed_assignments: for ``diffpool-det`` / ``random``, one row-stochastic
                [B, n_l, C_l] tensor per level (padded rows zero).
            keep_levels: also return every level's S, A', X', Z and the pre-softmax scores of S (for traces).
        """
        c = self.config
        if c.variant in FIXED_ASSIGNMENT and (fixed_assignments is None or len(fixed_assignments) < c.num_pooling):
            raise ValueError(f"variant {c.variant!r} needs fixed_assignments for {c.num_pooling} level(s)")
        input_adjacency = adj.to_dense() if keep_levels and isinstance(adj, SparseAdjacency) else adj
        link_total = x.new_zeros(())
        entropy_total = x.new_zeros(())
        adj_mean = mean_adjacency(adj)
        z = self.embed_blocks[0](x, adj_mean, mask)
        graph_vectors = [readout(z, mask, c.readout)]
        levels = []
        assign_input = x
        for level in range(c.num_pooling):
            if c.variant in LEARNED_ASSIGNMENT:
                hidden = self.assign_blocks[level](assign_input, adj_mean, mask)
                scores = self.assign_heads[level](hidden)
                assignment = torch.softmax(scores, dim=-1)
            else:
                scores = None
                assignment = fixed_assignments[level].to(dtype=x.dtype)
            pooled, coarsened, link_loss, entropy_loss = pool_with_assignment(
                z, adj, assignment, mask, aux_normalization=c.aux_normalization
            )
            if c.variant != "diffpool-nolp":
                link_total = link_total + link_loss
            entropy_total = entropy_total + entropy_loss
            if keep_levels:
                masked = assignment if mask is None else assignment * mask.unsqueeze(-1).to(x.dtype)
                levels.append(dict(assignment=masked, coarsened_adjacency=coarsened,
                                   pooled_features=pooled, node_embeddings=z, assignment_scores=scores))
            adj, mask, assign_input = coarsened, None, pooled
            adj_mean = mean_adjacency(adj)
            z = self.embed_blocks[level + 1](pooled, adj_mean, None)
            graph_vectors.append(readout(z, None, c.readout))
        graph_embedding = torch.cat(graph_vectors, dim=-1)
        logits = self.classifier(graph_embedding)
        return ForwardOutput(
            logits, link_total, entropy_total, graph_embedding, levels,
            final_embeddings=z if keep_levels else None,
            input_adjacency=input_adjacency if keep_levels else None,
        )

    def loss(self, output: ForwardOutput, labels: Tensor) -> Tensor:
        """Cross-entropy plus the weighted auxiliary losses of the variant."""
        c = self.config
        total = F.cross_entropy(output.logits, labels)
        if c.variant in LEARNED_ASSIGNMENT:
            total = total + c.link_loss_weight * output.link_loss + c.entropy_loss_weight * output.entropy_loss
        return total

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------------------- traces
def _entropy_rows(assignment: np.ndarray) -> np.ndarray:
    return -(assignment * np.log(assignment + ENTROPY_EPS)).sum(axis=1)


def _scores_of(level: dict, b: int, count: int) -> np.ndarray | None:
    """float32 [count, C] pre-softmax assignment scores of graph ``b`` at one level, or None (fixed S)."""
    scores = level.get("assignment_scores")
    if scores is None:
        return None
    return scores[b, :count].detach().cpu().numpy().astype(np.float32)


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
        input_adjacency = output.input_adjacency[b, :n, :n].detach().cpu().numpy().astype(np.float32)
        a = input_adjacency
        for level in output.levels:
            s = level["assignment"][b, :count].detach().cpu().numpy().astype(np.float32)
            entropy = _entropy_rows(s)
            link = float(np.linalg.norm(a - s @ s.T) / max(count, 1) ** 2)
            level_traces.append(LevelTrace(
                assignment=s,
                coarsened_adjacency=level["coarsened_adjacency"][b].detach().cpu().numpy().astype(np.float32),
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
