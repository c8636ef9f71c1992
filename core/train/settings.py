"""Training settings: the TrainSettings dataclass (reference-code defaults), its validation, and the
model/feature configuration derived from it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import asdict, dataclass

from core.data.batching import (
    ADJACENCY_FORMATS,
)
from core.data.features import EIGENBASES, FEATURE_KINDS, FeatureSpec, default_feature_spec
from core.data.graphs import GraphDataset
from core.model.config import LEARNED_ASSIGNMENT, NO_POOLING_VARIANTS
from core.model.diffpool import VARIANTS, DiffPoolConfig, sortpool_k_for
from core.model.patchysan import patchysan_width_for

PROTOCOLS = ("honest", "paper", "both")
BATCHINGS = ("size", "bucket", "random")
READOUTS = ("max", "mean", "sum")
# Settings introduced after fold caches were written, with the value those caches used.
ADDED_LATER = {"readout": "max", "dropout": 0.0, "structure_weight": 0.0, "positional": 0, "input_norm": False,
                "positional_assign_only": False}
FEATURE_CHOICES = ("auto",) + FEATURE_KINDS


class TrainingError(ValueError):
    """Settings that cannot work with this dataset (message says what to change)."""


# ---------------------------------------------------------------------------- settings
@dataclass
class TrainSettings:
    """Everything a training run needs; defaults follow the reference code (RexYing/diffpool).

    ``max_clusters`` caps the number of level-1 clusters (``max_nodes × assign_ratio`` gives
    574 for D&D); later levels follow from the capped count. ``subset`` keeps the first N
    graphs of a stratified sample (smoke tests). ``fold_limit`` runs only the first K folds;
    ``only_folds`` runs just those fold indices (parallel workers: one process per fold into the
    same ``out_dir``; such a run writes its fold files but neither ``summary.json`` nor the card's
    cross-validation figures, which a run without ``only_folds`` rebuilds from the cache).
    ``watch_graphs`` are dataset indices (default: the first 3 graphs of the fold's training
    set when ``snapshot_every > 0``). ``out_dir`` None: nothing is written.

    Resumable folds (with ``out_dir``): every ``save_every`` epochs (0: never) the unfinished
    fold's whole state - weights, Adam state, torch and numpy RNG states, history, best epoch and
    its weights (early stopping), snapshots - is saved atomically (safetensors + JSON) under
    ``resume_dir`` (default :func:`resume_root`, outside ``out_dir``); a rerun continues from it
    and ends with the same fold result as an uninterrupted run. The state is deleted when the
    fold finishes. ``write_checkpoint=False`` writes no weights (fold JSON and summary only);
    a run whose ``out_dir`` is inside ``bench/results/`` never writes weights.

    ``batching``: ``"bucket"`` (default) shuffles, then sorts by size within windows of 8
    batches (:func:`core.data.batching.bucket_batches`): batches mix the whole dataset like random
    ones, with little padding, and huge graphs (D&D) still get batches of their own.
    ``"size"`` sorts the whole dataset by size (:func:`core.data.batching.size_batches`, least
    padding) — but its batches hold graphs of one size band, so batch norm's statistics differ
    from batch to batch and from its running ones, and accuracy suffers: ENZYMES, folds 0–1,
    100 epochs: size 55.8 %, bucket 65.0 %, random 69.2 % (honest protocol, 2026-11-27).
    ``"random"`` draws batches uniformly as the reference code does (padding to each batch's
    largest graph; memory-heavy on D&D).
    """

    dataset: str = "ENZYMES"
    variant: str = "diffpool"
    folds: int = 10
    epochs: int = 1000
    batch_size: int = 20
    lr: float = 1e-3
    clip: float = 2.0
    weight_decay: float = 0.0
    hidden_dim: int = 30
    embedding_dim: int = 30
    num_pooling: int = 1
    assign_ratio: float = 0.1
    max_clusters: int | None = None
    readout: str = "max"
    dropout: float = 0.0
    structure_weight: float = 0.0
    positional: int = 0
    positional_assign_only: bool = False
    input_norm: bool = False
    features: str = "auto"
    #: Laplacian eigenvectors' basis where they are not unique: "canonical" (the same on every CPU) or
    #: "solver" (LAPACK's choice, what runs before the canonical basis used; see core.data.features).
    eigenbasis: str = "canonical"
    val_fraction: float = 0.1
    seed: int = 0
    protocol: str = "both"
    fold_limit: int | None = None
    only_folds: list[int] | None = None
    subset: int | None = None
    patience: int | None = None
    snapshot_every: int = 0
    watch_graphs: list[int] | None = None
    batching: str = "bucket"
    adjacency: str = "auto"
    device: str = "auto"
    data_dir: str | None = None
    out_dir: str | None = None
    save_every: int = 5
    resume_dir: str | None = None
    write_checkpoint: bool = True

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise TrainingError(f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.features not in FEATURE_CHOICES:
            raise TrainingError(f"unknown features {self.features!r}; choose one of {', '.join(FEATURE_CHOICES)}")
        if self.batching not in BATCHINGS:
            raise TrainingError(f"unknown batching {self.batching!r}; choose one of {', '.join(BATCHINGS)}")
        if self.readout not in READOUTS:
            raise TrainingError(f"unknown readout {self.readout!r}; choose one of {', '.join(READOUTS)}")
        if self.positional < 0:
            raise TrainingError(f"positional must be >= 0, got {self.positional}")
        if self.eigenbasis not in EIGENBASES:
            raise TrainingError(f"eigenbasis must be one of {', '.join(EIGENBASES)}, got {self.eigenbasis!r}")
        if self.positional_assign_only and not self.positional:
            raise TrainingError("positional_assign_only routes the positional columns to the assignment GNN: "
                                "set positional (--positional K) too")
        if self.positional_assign_only and (self.variant not in LEARNED_ASSIGNMENT or self.num_pooling < 1):
            raise TrainingError(f"positional_assign_only needs a learned assignment (variants "
                                f"{', '.join(LEARNED_ASSIGNMENT)} with pooling levels); {self.variant!r} has none")
        if self.structure_weight < 0:
            raise TrainingError(f"structure_weight must be >= 0, got {self.structure_weight}")
        if not 0.0 <= self.dropout < 1.0:
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.input_norm and self.variant in NO_POOLING_VARIANTS:
            raise TrainingError(f"input_norm is an option of the DiffPool and graphsage models; {self.variant!r} "
                                "has its own input layer (the baseline always normalises its input)")
        if self.adjacency not in ADJACENCY_FORMATS:
            raise TrainingError(
                f"unknown adjacency {self.adjacency!r}; choose one of {', '.join(ADJACENCY_FORMATS)}")
        if self.protocol not in PROTOCOLS:
            raise TrainingError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        if self.folds < 2:
            raise TrainingError(f"folds must be at least 2, got {self.folds}")
        if self.epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {self.epochs}")
        self._check_numbers()
        if not 0.0 <= self.val_fraction < 1.0:
            raise TrainingError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.only_folds is not None:
            if self.fold_limit is not None:
                raise TrainingError("use either fold_limit or only_folds, not both")
            bad = [f for f in self.only_folds if not 0 <= f < self.folds]
            if not self.only_folds or bad:
                raise TrainingError(f"only_folds must be fold indices in 0..{self.folds - 1}, got {self.only_folds}")
            self.only_folds = sorted(set(int(f) for f in self.only_folds))
        if self.protocol != "paper" and self.val_fraction <= 0:
            raise TrainingError("the honest protocol needs a validation set: use val_fraction > 0 or protocol='paper'")
        if self.save_every < 0:
            raise TrainingError(f"save_every must be >= 0 (0: never save mid-fold state), got {self.save_every}")

    def _check_numbers(self) -> None:
        """Sizes, rates and counts in their ranges (else torch or numpy fails later with a bare traceback)."""
        at_least = {"batch_size": 1, "hidden_dim": 1, "embedding_dim": 1, "num_pooling": 0, "snapshot_every": 0}
        at_least.update({name: 1 for name in ("max_clusters", "subset", "fold_limit")
                         if getattr(self, name) is not None})
        if self.patience is not None:
            at_least["patience"] = 0  # 0: no early stopping
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise TrainingError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if self.num_pooling < 1 and self.variant not in ("graphsage", *NO_POOLING_VARIANTS):
            raise TrainingError(f"the {self.variant} variant pools: num_pooling must be at least 1, got "
                                f"{self.num_pooling}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise TrainingError(f"lr must be a positive number, got {self.lr}")
        for name in ("clip", "weight_decay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise TrainingError(f"{name} must be a number >= 0{' (0: off)' if name == 'clip' else ''}, "
                                    f"got {value}")
        if not (math.isfinite(self.assign_ratio) and 0 < self.assign_ratio <= 1):
            raise TrainingError(f"assign_ratio must be in (0, 1] (clusters per level = previous count × ratio), "
                                f"got {self.assign_ratio}")
        if not 0 <= self.seed < 2 ** 32:
            raise TrainingError(f"seed must be in 0 … 2**32 - 1, got {self.seed}")

    @property
    def uses_validation(self) -> bool:
        return self.protocol != "paper"

    def fingerprint(self) -> str:
        """Hash of the settings that change a fold's result (cache key for resumable runs)."""
        # adjacency (dense/sparse) changes how products are computed, not their values.
        # save_every / resume_dir / write_checkpoint decide what is written, not what is computed.
        ignored = {"fold_limit", "only_folds", "adjacency", "device", "data_dir", "out_dir", "save_every",
                   "resume_dir", "write_checkpoint"}
        relevant = {k: v for k, v in asdict(self).items() if k not in ignored}
        # Settings added after tables were cached count only when changed, so old fold caches stay valid.
        for key, default in ADDED_LATER.items():
            if relevant.get(key) == default:
                relevant.pop(key)
        # The eigenbasis counts only where eigenvectors are built, and "solver" is what older caches used.
        if relevant.get("eigenbasis") == "solver" or not (self.positional or self.features == "degree+spectral"):
            relevant.pop("eigenbasis", None)
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def feature_spec_for(dataset: GraphDataset, kind: str = "auto", positional: int = 0,
                     eigenbasis: str = "canonical") -> FeatureSpec:
    """The :class:`FeatureSpec` for ``kind`` on ``dataset`` (``auto`` = :func:`default_feature_spec`),
    with ``positional`` Laplacian eigenvectors appended (0 = none), chosen in ``eigenbasis``."""
    if positional or eigenbasis != "canonical":
        return dataclasses.replace(feature_spec_for(dataset, kind), positional_dim=int(positional),
                                   eigenbasis=eigenbasis)
    if kind == "auto":
        return default_feature_spec(dataset)
    if kind in ("labels", "labels+attributes") and not dataset.num_node_labels:
        raise TrainingError(f"features {kind!r} need node labels, but {dataset.name} has none; try 'degree'")
    if kind in ("attributes", "labels+attributes") and not dataset.node_attribute_dim:
        raise TrainingError(f"features {kind!r} need node attributes, but {dataset.name} has none; try 'degree'")
    return FeatureSpec(kind, num_node_labels=dataset.num_node_labels, attribute_dim=dataset.node_attribute_dim)


def cluster_counts_for(max_nodes: int, settings: TrainSettings) -> list[int]:
    """Clusters per level: ``int(previous × assign_ratio)`` (at least 2), level 1 capped at ``max_clusters``."""
    counts, previous = [], max_nodes
    for level in range(settings.num_pooling):
        previous = max(2, int(previous * settings.assign_ratio))
        if level == 0 and settings.max_clusters:
            previous = min(previous, int(settings.max_clusters))
        counts.append(previous)
    return counts


def model_config_for(dataset: GraphDataset, spec: FeatureSpec, settings: TrainSettings) -> DiffPoolConfig:
    """A :class:`DiffPoolConfig` for ``dataset`` (``max_nodes`` = the dataset's largest graph)."""
    return DiffPoolConfig(
        input_dim=spec.dim,
        num_classes=dataset.num_classes,
        variant=settings.variant,
        hidden_dim=settings.hidden_dim,
        embedding_dim=settings.embedding_dim,
        assign_hidden_dim=settings.hidden_dim,
        num_pooling=0 if settings.variant == "graphsage" else settings.num_pooling,
        readout=settings.readout,
        dropout=settings.dropout,
        input_norm=settings.input_norm,
        assign_only_dim=settings.positional if settings.positional_assign_only else 0,
        structure_loss_weight=settings.structure_weight,
        assign_ratio=settings.assign_ratio,
        max_nodes=dataset.max_nodes,
        cluster_counts=[] if settings.variant == "graphsage" else cluster_counts_for(dataset.max_nodes, settings),
        sortpool_k=sortpool_k_for([g.num_nodes for g in dataset.graphs]) if settings.variant == "sortpool" else 0,
        patchysan_width=(patchysan_width_for([g.num_nodes for g in dataset.graphs])
                         if settings.variant == "patchysan" else 0),
        # ECC's edge features: one-hot edge labels where the dataset has them, else one constant feature.
        num_edge_types=max(1, dataset.num_edge_labels) if settings.variant == "ecc" else 1,
    )
