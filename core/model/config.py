"""What a model is, without torch: the variants and :class:`DiffPoolConfig` (the hyper-parameters a
model card records). Importing this module costs no torch import, so reading cards, checking a model
against a dataset and drawing a stored trace stay light (the app's first page); ``core.model.diffpool``
builds the modules from it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

NO_POOLING_VARIANTS = ("set2set", "sortpool", "ecc", "baseline", "patchysan")
VARIANTS = ("diffpool", "diffpool-nolp", "diffpool-det", "graphsage", "random") + NO_POOLING_VARIANTS
LEARNED_ASSIGNMENT = ("diffpool", "diffpool-nolp")
FIXED_ASSIGNMENT = ("diffpool-det", "random")
ENTROPY_EPS = 1e-15
# One line per variant, for model cards and pickers.
VARIANT_SUMMARY = {
    "diffpool": "DiffPool: learned soft assignments, link-prediction and entropy losses",
    "diffpool-nolp": "DiffPool without the link-prediction loss",
    "diffpool-det": "pooling by a fixed deterministic clustering (Graclus-style matching)",
    "graphsage": "GraphSAGE with a global readout, no pooling",
    "random": "pooling by fixed random assignments (a control)",
    "set2set": "GraphSAGE with a Set2Set readout (LSTM attention over the nodes), no pooling levels",
    "sortpool": "DGCNN: GCN layers, nodes sorted by the last channel, top k kept, 1-D convolutions; "
                "no pooling levels",
    "ecc": "edge-conditioned convolutions (one-hot edge labels where the dataset has them, else one constant "
           "edge feature), mean readout, no pooling levels",
    "baseline": "structure-agnostic baseline (Errica et al. 2020): node-wise MLP, sum over nodes, "
                "never reads the edges",
    "patchysan": "PATCHY-SAN: canonically ordered receptive fields (NAUTY) read by a 1-D CNN; no pooling levels",
}
# Variants whose readout is part of the method (``--readout`` does not apply to them).
FIXED_READOUT = {"set2set": "set2set", "sortpool": "sortpool", "ecc": "mean", "baseline": "sum",
                 "patchysan": "patchysan"}
# DGCNN's reference code: k = the size below which 60 % of the graphs fall, at least 10.
SORTPOOL_PERCENTILE = 0.6
SORTPOOL_MIN_K = 10


@dataclass
class DiffPoolConfig:
    """Hyper-parameters; defaults follow the reference code's ENZYMES settings.

    ``cluster_counts`` is derived from ``max_nodes`` and ``assign_ratio`` when left empty:
    level 1 gets ``int(max_nodes * ratio)`` clusters, each later level ``int(previous * ratio)``,
    never fewer than 2.

    ``structure_loss_weight`` > 0 adds DMoN's modularity objective and collapse regulariser
    (:func:`structure_loss`) at every pooling level, so that learned clusters follow the graph's
    communities rather than node-label buckets (0 = the reference objective).

    ``input_norm`` adds a batch norm of the input node features over real nodes before level 1
    (off in the reference code; the structure-agnostic baseline always has one): raw TU attributes
    reach ~800 on ENZYMES and PROTEINS, and without it they dominate the first layer.

    ``assign_only_dim`` K > 0: the last K input columns (Laplacian eigenvectors, ``--positional``)
    feed level 1's assignment GNN only; its embedding GNN reads the other columns. Where a node
    sits decides its cluster, while the embeddings the classifier reads stay free of sign-ambiguous
    eigenvectors (0 = every column feeds both, as in the reference code).

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
    input_norm: bool = False
    assign_only_dim: int = 0
    readout: str = "max"
    link_loss_weight: float = 1.0
    entropy_loss_weight: float = 1.0
    aux_normalization: str = "real"
    structure_loss_weight: float = 0.0
    set2set_steps: int = 3
    sortpool_k: int = 0
    patchysan_width: int = 0
    patchysan_field_size: int = 10
    num_edge_types: int = 1

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.aux_normalization not in ("real", "pyg"):
            raise ValueError(f"aux_normalization must be 'real' or 'pyg', got {self.aux_normalization!r}")
        if self.variant in FIXED_READOUT:
            # These models read a graph out one way only; record that way in the card.
            self.readout = FIXED_READOUT[self.variant]
        elif self.readout not in ("max", "mean", "sum"):
            raise ValueError(f"readout must be 'max', 'mean' or 'sum', got {self.readout!r}")
        if self.num_layers < 2:
            raise ValueError(f"num_layers must be at least 2, got {self.num_layers}")
        if self.variant == "sortpool" and self.sortpool_k <= 0:
            # No size distribution known here: core.train passes sortpool_k_for(the dataset's sizes).
            self.sortpool_k = max(SORTPOOL_MIN_K, math.ceil(SORTPOOL_PERCENTILE * self.max_nodes))
        if self.variant == "sortpool" and self.sortpool_k < SORTPOOL_MIN_K:
            raise ValueError(f"sortpool_k must be at least {SORTPOOL_MIN_K} (the 1-D convolutions need it), "
                             f"got {self.sortpool_k}")
        if self.variant == "patchysan" and self.patchysan_width <= 0:
            # No size distribution known here: core.train passes the dataset's average graph size.
            self.patchysan_width = max(1, self.max_nodes)
        if self.num_edge_types < 1:
            raise ValueError(f"num_edge_types must be at least 1 (1 = one constant edge feature), got {self.num_edge_types}")
        if self.patchysan_field_size < 1:
            raise ValueError(f"patchysan_field_size must be at least 1, got {self.patchysan_field_size}")
        if self.assign_only_dim:
            if self.variant not in LEARNED_ASSIGNMENT:
                raise ValueError(f"assign_only_dim needs a learned assignment (variants {', '.join(LEARNED_ASSIGNMENT)}), "
                                 f"not {self.variant!r}")
            if not 0 < self.assign_only_dim < self.input_dim:
                raise ValueError(f"assign_only_dim must be in 0..input_dim - 1 = {self.input_dim - 1} (0 = off; the "
                                 f"embedding GNN needs at least one column), got {self.assign_only_dim}")
        if self.set2set_steps < 1:
            raise ValueError(f"set2set_steps must be at least 1, got {self.set2set_steps}")
        if self.variant == "graphsage" or self.variant in NO_POOLING_VARIANTS:
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
    def from_dict(cls, data: dict) -> DiffPoolConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
