"""Training: one fit, stratified cross-validation with two reporting protocols, checkpoints, CLI.

Command line (``python -m core.train --help`` lists every option)::

    python -m core.train --dataset ENZYMES --model diffpool --folds 10 --epochs 100 --out runs/enzymes
    torchrun --nproc_per_node=2 -m core.train ...        # data-parallel (see core.distributed)

Protocol
--------
Stratified K-fold over graphs (shuffled, seeded). Inside each training fold ``val_fraction``
of the graphs (stratified) is held out for validation. Every epoch records train loss and
accuracy, validation accuracy and the held-out test fold's accuracy.

- **honest** (reported first): per fold, the test-fold accuracy at the epoch of best
  validation accuracy (ties go to the earlier epoch); mean ± std (population std, ``ddof=0``)
  over folds.
- **paper** (the reference code's ``benchmark_task_val``; optimistic): for every epoch the
  mean over folds of the test-fold accuracy, then the maximum over epochs. No model
  selection: the epoch is picked by looking at the test folds. Computed from the same runs.
  With ``protocol="paper"`` no validation set is held out (as in the reference code) and the
  model of the last epoch is kept.

Epoch 0 is the untrained model; epochs 1..E are trained. One checkpoint is written: the model
of fold 0 at its best-validation epoch, with the fold's test-graph indices in its card so the
test accuracy can be reproduced. Finished folds are cached as ``<out>/folds/fold-<k>.json``;
rerunning the same command skips them and rebuilds the summary.

Snapshots ("pooling as it is learned"): with ``snapshot_every = K > 0`` the eval-mode soft
assignments S of a few watched graphs are recorded at epoch 0, every K epochs and at the last
epoch, stored in the checkpoint as extra tensors ``snapshot/e{epoch:04d}/g{graph}/l{level}``
(float32 [n_l, C_l]) with metadata in the card's ``"snapshots"``. They show the model *at those
epochs*, while the checkpoint's weights are the best-validation model.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from core import distributed
from core.batching import (
    ADJACENCY_FORMATS, SPARSE_FROM_NODES, PreparedGraph, bucket_batches, collate, prepare_graphs, size_batches,
)
from core.checkpoint import checkpoint_paths, read_card, save_checkpoint, write_pair_atomically
from core.features import FEATURE_KINDS, FeatureSpec, default_feature_spec
from core.graphs import Graph, GraphDataset
from core.inference import resolve_device, trace_graphs
from core.model import VARIANTS, DiffPool, DiffPoolConfig, sortpool_k_for

PROTOCOLS = ("honest", "paper", "both")
BATCHINGS = ("size", "bucket", "random")
READOUTS = ("max", "mean", "sum")
# Settings introduced after fold caches were written, with the value those caches used.
ADDED_LATER = {"readout": "max", "dropout": 0.0, "structure_weight": 0.0, "positional": 0}
FEATURE_CHOICES = ("auto",) + FEATURE_KINDS
HONEST_TEXT = (
    "honest: stratified {folds}-fold CV (shuffle, seed {seed}); {val:.0%} of each training fold held out "
    "(stratified) for validation; test-fold accuracy at the epoch of best validation accuracy "
    "(ties -> earlier epoch); mean ± std (ddof=0) over folds"
)
PAPER_TEXT = (
    "paper protocol: max over epochs of mean test-fold accuracy, no model selection "
    "(reference code benchmark_task_val; optimistic)"
)
FOLD_CACHE_VERSION = 1


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
    batches (:func:`core.batching.bucket_batches`): batches mix the whole dataset like random
    ones, with little padding, and huge graphs (D&D) still get batches of their own.
    ``"size"`` sorts the whole dataset by size (:func:`core.batching.size_batches`, least
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
    features: str = "auto"
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
        if self.structure_weight < 0:
            raise TrainingError(f"structure_weight must be >= 0, got {self.structure_weight}")
        if not 0.0 <= self.dropout < 1.0:
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.adjacency not in ADJACENCY_FORMATS:
            raise TrainingError(
                f"unknown adjacency {self.adjacency!r}; choose one of {', '.join(ADJACENCY_FORMATS)}")
        if self.protocol not in PROTOCOLS:
            raise TrainingError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        if self.folds < 2:
            raise TrainingError(f"folds must be at least 2, got {self.folds}")
        if self.epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {self.epochs}")
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
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def feature_spec_for(dataset: GraphDataset, kind: str = "auto", positional: int = 0) -> FeatureSpec:
    """The :class:`FeatureSpec` for ``kind`` on ``dataset`` (``auto`` = :func:`default_feature_spec`),
    with ``positional`` Laplacian eigenvectors appended (0 = none)."""
    if positional:
        return dataclasses.replace(feature_spec_for(dataset, kind), positional_dim=int(positional))
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
        structure_loss_weight=settings.structure_weight,
        assign_ratio=settings.assign_ratio,
        max_nodes=dataset.max_nodes,
        cluster_counts=[] if settings.variant == "graphsage" else cluster_counts_for(dataset.max_nodes, settings),
        sortpool_k=sortpool_k_for([g.num_nodes for g in dataset.graphs]) if settings.variant == "sortpool" else 0,
    )


# ---------------------------------------------------------------------------- splits
def stratified_subset(labels: np.ndarray, size: int) -> np.ndarray:
    """Dataset indices of ``size`` graphs with the class proportions of ``labels``: the first graphs of each class.

    Per-class counts by largest remainder; returned sorted. ``size >= len(labels)`` keeps all.

    >>> stratified_subset(np.array([0, 0, 1, 1, 0, 1]), 4).tolist()
    [0, 1, 2, 3]
    """
    labels = np.asarray(labels)
    if size >= len(labels):
        return np.arange(len(labels))
    counts = _proportional_counts(labels, size)
    chosen = [np.flatnonzero(labels == c)[:k] for c, k in counts.items()]
    return np.sort(np.concatenate(chosen))


def _proportional_counts(labels: np.ndarray, total: int) -> dict[int, int]:
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * total / sizes.sum()
    counts = np.floor(exact).astype(int)
    # Largest remainder; ties to the larger class, then the lower class id.
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - counts[i]), -sizes[i], i))
    for i in order[: total - counts.sum()]:
        counts[i] += 1
    return {int(c): int(k) for c, k in zip(classes, counts)}


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train positions, test positions) pairs from sklearn's shuffled StratifiedKFold."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    present = np.bincount(labels)
    smallest = int(present[present > 0].min()) if len(labels) else 0
    if smallest < folds:
        raise TrainingError(
            f"{folds}-fold stratified CV needs at least {folds} graphs of every class, the smallest class has "
            f"{smallest}; use fewer folds or a larger subset"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(labels)), labels)]


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(labels)-1`` into (kept, held out) with ``round(fraction · n)`` held out.

    Per-class counts by largest remainder (so tiny classes may contribute none), random within
    each class; both results sorted. Unlike sklearn's splitter this works when the held-out set
    is smaller than the number of classes.
    """
    labels = np.asarray(labels)
    total = int(round(fraction * len(labels)))
    if fraction > 0:
        total = max(1, total)
    rng = np.random.default_rng(seed)
    held = []
    for c, k in _proportional_counts(labels, total).items():
        members = np.flatnonzero(labels == c)
        held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out


# ---------------------------------------------------------------------------- protocols
def select_epoch(history: list[dict]) -> int:
    """Position in ``history`` of the best ``val_acc`` (ties -> earlier); the last epoch without validation."""
    best, best_position = -math.inf, len(history) - 1
    for position, row in enumerate(history):
        value = row.get("val_acc")
        if value is not None and value > best:
            best, best_position = value, position
    return best_position


def aggregate_protocols(histories: list[list[dict]]) -> dict:
    """Both accuracy protocols from per-fold histories (rows with ``epoch``, ``val_acc``, ``test_acc``).

    Returns ``{"honest": {...} or None, "paper": {...}}``:

    - honest: per fold the ``test_acc`` at :func:`select_epoch`; ``mean``, ``std`` (ddof=0),
      ``per_fold``, ``epochs`` (the selected epoch per fold). None when no fold has validation.
    - paper: ``curve`` = mean over folds of ``test_acc`` for each epoch that every fold reached
      (early stopping can shorten histories), ``accuracy`` = its max, ``epoch`` = its first argmax.

    >>> h = [[{"epoch": 1, "val_acc": .5, "test_acc": .4}, {"epoch": 2, "val_acc": .5, "test_acc": .8}],
    ...      [{"epoch": 1, "val_acc": .4, "test_acc": .6}, {"epoch": 2, "val_acc": .6, "test_acc": .6}]]
    >>> r = aggregate_protocols(h); r["honest"]["per_fold"], r["paper"]["accuracy"], r["paper"]["epoch"]
    ([0.4, 0.6], 0.7, 2)
    """
    honest = None
    if histories and all(any(row.get("val_acc") is not None for row in h) for h in histories):
        chosen = [h[select_epoch(h)] for h in histories]
        per_fold = [float(row["test_acc"]) for row in chosen]
        honest = {
            "mean": float(np.mean(per_fold)),
            "std": float(np.std(per_fold)),
            "per_fold": per_fold,
            "epochs": [int(row["epoch"]) for row in chosen],
        }
    paper = None
    common = min((len(h) for h in histories), default=0)
    if common:
        curve = [float(np.mean([h[i]["test_acc"] for h in histories])) for i in range(common)]
        best = int(np.argmax(curve))
        paper = {
            "accuracy": curve[best],
            "epoch": int(histories[0][best]["epoch"]),
            "curve": curve,
            "epochs_compared": common,
        }
    return {"honest": honest, "paper": paper}


# ---------------------------------------------------------------------------- one fit
@dataclass
class FitResult:
    """What :func:`fit` returns.

    model: the best-validation weights (last epoch without validation), eval mode, on the fit's device.
    history: one dict per trained epoch 1..E: ``epoch, train_loss, train_acc, val_acc, test_acc,
    seconds`` (``val_acc`` / ``test_acc`` None without those sets).
    best_epoch / val_acc / test_acc: the selected epoch and its accuracies.
    stopped: "completed", "early-stopping" or "callback".
    snapshots: extra tensors ``snapshot/e{epoch:04d}/g{graph}/l{level}``; snapshot_meta: the card's "snapshots".
    """

    model: DiffPool
    history: list[dict]
    best_epoch: int
    val_acc: float | None
    test_acc: float | None
    seconds: float
    stopped: str = "completed"
    snapshots: dict[str, torch.Tensor] = field(default_factory=dict)
    snapshot_meta: dict = field(default_factory=dict)


def epoch_batches(sizes: list[int], batch_size: int, seed: int, how: str = "size") -> list[list[int]]:
    """One epoch's batches (positions), identical on every rank for the same ``seed``.

    ``size``: :func:`core.batching.size_batches` with shuffling; ``bucket``:
    :func:`core.batching.bucket_batches`; ``random``: a seeded permutation cut into runs of
    ``batch_size``.
    """
    if how == "bucket":
        return bucket_batches(sizes, batch_size, seed=seed)
    if how == "random":
        order = np.random.default_rng(seed).permutation(len(sizes))
        return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    return size_batches(sizes, batch_size, shuffle=True, seed=seed)


def train_step(model: nn.Module, loss_module: DiffPool, optimizer: torch.optim.Optimizer, batch, clip: float):
    """One optimiser step on ``batch``; returns (loss, correct predictions). ``model`` may be DDP-wrapped."""
    optimizer.zero_grad(set_to_none=True)
    output = model(batch.x, batch.adj, batch.mask, batch.fixed)
    loss = loss_module.loss(output, batch.labels)
    loss.backward()
    if clip and clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    correct = (output.logits.argmax(dim=-1) == batch.labels).sum()
    return loss.detach(), correct.detach()


@torch.no_grad()
def evaluate_accuracy(
    model: DiffPool, graphs: list[PreparedGraph], device: torch.device, batch_size: int = 64,
    context: distributed.DistContext | None = None, adjacency: str = "auto",
) -> float | None:
    """Accuracy of ``model`` (eval mode) on ``graphs``; sharded over ranks and all-reduced. None if empty."""
    if not graphs:
        return None
    context = context or distributed.current_context()
    model.eval()
    batches = size_batches([g.num_nodes for g in graphs], batch_size)
    mine = batches[context.rank::context.world_size] if context.is_distributed else batches
    correct = 0.0
    for positions in mine:
        batch = collate([graphs[i] for i in positions], device, adjacency=adjacency)
        logits = model(batch.x, batch.adj, batch.mask, batch.fixed).logits
        correct += float((logits.argmax(dim=-1) == batch.labels).sum())
    total_correct, = distributed.all_reduce_sums([correct], device)
    return total_correct / len(graphs)


def _record_snapshot(
    model: DiffPool, epoch: int, watched: list[tuple[int, Graph]], spec: FeatureSpec, seed: int,
    tensors: dict[str, torch.Tensor], meta: dict,
) -> None:
    traces = trace_graphs(model, [g for _, g in watched], spec, indices=[i for i, _ in watched], seed=seed)
    links, entropies = [], []
    for (index, _), trace in zip(watched, traces):
        for level, level_trace in enumerate(trace.levels):
            tensors[f"snapshot/e{epoch:04d}/g{index}/l{level}"] = torch.from_numpy(level_trace.assignment.copy())
        links.append([float(t.link_loss) for t in trace.levels])
        entropies.append([float(t.entropy_loss) for t in trace.levels])
    meta["epochs"].append(epoch)
    meta["losses"]["link"].append(links)
    meta["losses"]["entropy"].append(entropies)


# ---------------------------------------------------------------------------- resumable fits
FIT_STATE_VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Benchmark results hold JSON and tables only: no run writes weights below this folder.
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def resume_root() -> Path:
    """Where unfinished folds keep their state: ``$DIFFPOOL_RESUME`` or ``~/.cache/diffpool-explorer/resume``."""
    folder = os.environ.get("DIFFPOOL_RESUME")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "diffpool-explorer" / "resume"


def fit_state_stem(settings: TrainSettings, fold: int) -> Path:
    """``<resume_dir>/<run>/fold-<k>``; ``<run>`` hashes the output folder and the settings'
    fingerprint, so two runs never share a state and changed settings never resume an old one."""
    root = Path(settings.resume_dir).expanduser() if settings.resume_dir else resume_root()
    key = hashlib.sha256(f"{Path(settings.out_dir or '.').resolve()}|{settings.fingerprint()}".encode()).hexdigest()[:16]
    return root / f"{settings.dataset}-{settings.variant}-{key}" / f"fold-{fold}"


def _state_paths(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(stem.name + ".state.safetensors"), stem.with_name(stem.name + ".state.json")


def delete_fit_state(stem: Path) -> None:
    """Remove a fold's saved state (and its folder when empty)."""
    for path in _state_paths(stem):
        path.unlink(missing_ok=True)
    try:
        stem.parent.rmdir()
    except OSError:
        pass  # other folds' states are still there


def _save_fit_state(stem: Path, fingerprint: str, epoch: int, model: DiffPool, optimizer: torch.optim.Optimizer,
                    progress: dict, snapshots: dict[str, torch.Tensor]) -> None:
    """Write the state after ``epoch`` atomically: tensors first, then the JSON that names their epoch."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if progress["best_state"] is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in progress["best_state"].items()})
    optimizer_state = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for param_id, values in optimizer_state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    numpy_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(numpy_state[1].astype(np.int64))
    tensors.update({k: v.detach().cpu().contiguous() for k, v in snapshots.items()})
    meta = {
        "version": FIT_STATE_VERSION,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "history": progress["history"],
        "best_epoch": progress["best_epoch"],
        "best_val": None if progress["best_val"] == -math.inf else progress["best_val"],
        "has_best": progress["best_state"] is not None,
        "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars},
        "numpy_rng": [numpy_state[0], int(numpy_state[2]), int(numpy_state[3]), float(numpy_state[4])],
        "snapshot_meta": progress["snapshot_meta"],
    }
    weights_path, json_path = _state_paths(stem)
    write_pair_atomically(weights_path, tensors, {"epoch": str(epoch), "fingerprint": fingerprint},
                          json_path, json.dumps(meta, default=str))


def _load_fit_state(stem: Path, fingerprint: str) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """(meta, tensors) of a saved state that belongs to these settings, else None (start afresh)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    weights_path, json_path = _state_paths(stem)
    if not (weights_path.is_file() and json_path.is_file()):
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        with safe_open(str(weights_path), framework="pt") as handle:
            stamp = handle.metadata() or {}
        tensors = load_file(str(weights_path))
    except Exception as error:  # a damaged state is not worth a crash: the fold restarts
        print(f"warning: ignoring unreadable training state {json_path}: {error}", file=sys.stderr)
        return None
    if (not isinstance(meta, dict) or meta.get("version") != FIT_STATE_VERSION
            or meta.get("fingerprint") != fingerprint or stamp.get("epoch") != str(meta.get("epoch"))):
        return None
    return meta, tensors


def _restore_fit_state(meta: dict, tensors: dict[str, torch.Tensor], model: DiffPool,
                       optimizer: torch.optim.Optimizer, device: torch.device) -> dict:
    """Put a saved state back into ``model`` / ``optimizer`` / the RNGs; returns the loop's progress."""
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    best_state = None
    if meta["has_best"]:
        best_state = {k[len("best."):]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value.to(device) if name != "step" else value
    for param_id, values in meta["optimizer"]["scalars"].items():
        state.setdefault(int(param_id), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    name, position, has_gauss, cached = meta["numpy_rng"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), position, has_gauss, cached))
    return {
        "epoch": int(meta["epoch"]),
        "history": meta["history"],
        "best_epoch": int(meta["best_epoch"]),
        "best_val": -math.inf if meta["best_val"] is None else float(meta["best_val"]),
        "best_state": best_state,
        "snapshot_meta": meta["snapshot_meta"],
        "snapshots": {k: v for k, v in tensors.items() if k.startswith("snapshot/")},
    }


def _fit_prepared(
    train: list[PreparedGraph],
    val: list[PreparedGraph],
    test: list[PreparedGraph],
    spec: FeatureSpec,
    config: DiffPoolConfig,
    settings: TrainSettings,
    watched: list[tuple[int, Graph]],
    on_epoch: Callable[[int, dict], bool | None] | None = None,
    model: DiffPool | None = None,
    device: torch.device | None = None,
    seed_offset: int = 0,
    state_stem: Path | None = None,
) -> FitResult:
    """The training loop. ``state_stem``: save the fit's state there every ``settings.save_every``
    epochs and, when a state for these settings exists, continue from it."""
    context = distributed.current_context()
    device = device or _training_device(settings.device, context)
    torch.manual_seed(settings.seed + seed_offset)
    np.random.seed(settings.seed + seed_offset)
    model = (model or DiffPool(config)).to(device)
    trainer: nn.Module = model
    if context.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        trainer = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)

    snapshots: dict[str, torch.Tensor] = {}
    snapshot_meta: dict = {}
    record = settings.snapshot_every > 0 and bool(watched) and context.is_main
    if record:
        snapshot_meta = {"every": settings.snapshot_every, "epochs": [], "graphs": [i for i, _ in watched],
                         "levels": config.num_pooling, "losses": {"link": [], "entropy": []},
                         "note": "eval-mode S of the model at each epoch (epoch 0 = untrained); "
                                 "losses[kind][epoch][graph][level]"}
    history: list[dict] = []
    best_val, best_epoch, best_state = -math.inf, 0, None
    first_epoch = 1
    fingerprint = settings.fingerprint()
    saved = _load_fit_state(state_stem, fingerprint) if state_stem is not None else None
    if saved is not None:
        progress = _restore_fit_state(*saved, model, optimizer, device)
        history, best_val = progress["history"], progress["best_val"]
        best_epoch, best_state = progress["best_epoch"], progress["best_state"]
        first_epoch = progress["epoch"] + 1
        if record:
            snapshot_meta, snapshots = progress["snapshot_meta"], progress["snapshots"]
    elif record:
        _record_snapshot(model, 0, watched, spec, settings.seed, snapshots, snapshot_meta)

    stopped, start = "completed", time.perf_counter()
    sizes = [g.num_nodes for g in train]
    for epoch in range(first_epoch, settings.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        batches = epoch_batches(sizes, settings.batch_size, settings.seed + epoch, settings.batching)
        mine = distributed.shard(batches, context.rank, context.world_size)
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        correct_sum = torch.zeros((), device=device, dtype=torch.float64)
        seen = 0
        for positions in mine:
            batch = collate([train[i] for i in positions], device, adjacency=settings.adjacency)
            loss, correct = train_step(trainer, model, optimizer, batch, settings.clip)
            loss_sum += loss.double() * len(batch)
            correct_sum += correct.double()
            seen += len(batch)
        distributed.broadcast_buffers(model)
        loss_total, correct_total, seen_total = distributed.all_reduce_sums(
            [loss_sum.item(), correct_sum.item(), seen], device)
        val_acc = evaluate_accuracy(model, val, device, context=context, adjacency=settings.adjacency)
        test_acc = evaluate_accuracy(model, test, device, context=context, adjacency=settings.adjacency)
        row = {
            "epoch": epoch,
            "train_loss": loss_total / max(seen_total, 1),
            "train_acc": correct_total / max(seen_total, 1),
            "val_acc": val_acc,
            "test_acc": test_acc,
            "seconds": time.perf_counter() - epoch_start,
        }
        history.append(row)
        if val_acc is None or val_acc > best_val:
            best_val = -math.inf if val_acc is None else val_acc
            best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        is_last = epoch == settings.epochs
        if record and (epoch % settings.snapshot_every == 0 or is_last):
            _record_snapshot(model, epoch, watched, spec, settings.seed, snapshots, snapshot_meta)
        if (state_stem is not None and context.is_main and settings.save_every > 0 and not is_last
                and epoch % settings.save_every == 0):
            _save_fit_state(state_stem, fingerprint, epoch, model, optimizer,
                            {"history": history, "best_epoch": best_epoch, "best_val": best_val,
                             "best_state": best_state, "snapshot_meta": snapshot_meta}, snapshots)
        keep_going = True
        if context.is_main and on_epoch is not None:
            keep_going = on_epoch(epoch, dict(row)) is not False
        if not distributed.broadcast_flag(keep_going, device):
            stopped = "callback"
        elif settings.patience and val_acc is not None and epoch - best_epoch >= settings.patience:
            stopped = "early-stopping"
        if stopped != "completed":
            if record and not is_last and snapshot_meta["epochs"][-1] != epoch:
                _record_snapshot(model, epoch, watched, spec, settings.seed, snapshots, snapshot_meta)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    chosen = history[best_epoch - 1] if history else {}
    return FitResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        val_acc=chosen.get("val_acc"),
        test_acc=chosen.get("test_acc"),
        seconds=time.perf_counter() - start,
        stopped=stopped,
        snapshots=snapshots,
        snapshot_meta=snapshot_meta,
    )


def _training_device(device: str, context: distributed.DistContext) -> torch.device:
    resolved = resolve_device(device)
    if resolved.type == "cuda" and context.is_distributed and resolved.index is None:
        return torch.device("cuda", context.local_rank)
    return resolved


def fit(
    train_graphs: list[Graph],
    val_graphs: list[Graph],
    spec: FeatureSpec,
    model_config: DiffPoolConfig,
    settings: TrainSettings,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
    test_graphs: list[Graph] | None = None,
    *,
    train_indices: list[int] | None = None,
    val_indices: list[int] | None = None,
    test_indices: list[int] | None = None,
    model: DiffPool | None = None,
) -> FitResult:
    """Train one model; keep the weights of the best validation epoch (ties -> earlier).

    ``on_epoch(epoch, metrics)`` runs after every epoch (``metrics`` = that epoch's history row);
    returning False stops training. ``*_indices`` are the graphs' indices in their dataset (they
    seed the ``random`` variant's assignments and name watched graphs); by default the train, val
    and test graphs are numbered consecutively in that order. ``model``: train this model instead
    of a fresh one (it is trained in place). Under ``torchrun`` the model is wrapped in DDP.
    """
    test_graphs = list(test_graphs or [])
    n_train, n_val = len(train_graphs), len(val_graphs)
    train_indices = list(range(n_train)) if train_indices is None else list(train_indices)
    val_indices = list(range(n_train, n_train + n_val)) if val_indices is None else list(val_indices)
    test_indices = (list(range(n_train + n_val, n_train + n_val + len(test_graphs)))
                    if test_indices is None else list(test_indices))
    if not train_graphs:
        raise TrainingError("fit needs at least one training graph")
    if settings.uses_validation and not val_graphs and settings.patience:
        raise TrainingError("early stopping (patience) needs validation graphs")

    def prepare(graphs, indices):
        return prepare_graphs(list(graphs), spec, model_config.variant, model_config.cluster_counts,
                              settings.seed, indices)

    all_graphs = list(train_graphs) + list(val_graphs) + test_graphs
    by_index = dict(zip(train_indices + val_indices + test_indices, all_graphs))
    watched = _watched_graphs(settings, train_indices, by_index)
    return _fit_prepared(
        prepare(train_graphs, train_indices), prepare(val_graphs, val_indices), prepare(test_graphs, test_indices),
        spec, model_config, settings, watched, on_epoch=on_epoch, model=model,
    )


def _watched_graphs(
    settings: TrainSettings, train_indices: list[int], by_index: dict[int, Graph]
) -> list[tuple[int, Graph]]:
    if settings.snapshot_every <= 0:
        return []
    ids = settings.watch_graphs if settings.watch_graphs else list(train_indices[:3])
    missing = [i for i in ids if i not in by_index]
    if missing:
        raise TrainingError(f"watched graphs {missing} are not among this fit's graphs (dataset indices)")
    return [(int(i), by_index[int(i)]) for i in ids]


# ---------------------------------------------------------------------------- cross-validation
def machine_info(device: torch.device | str | None = None) -> dict:
    """Python/torch versions, platform and device, for summaries and cards."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": str(device) if device is not None else None,
        "world_size": distributed.current_context().world_size,
    }
    if device is not None and torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to others
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _fold_path(out_dir: Path, fold: int) -> Path:
    return out_dir / "folds" / f"fold-{fold}.json"


def checkpoint_stem(out_dir: str | Path, dataset: GraphDataset, settings: TrainSettings) -> Path:
    """``<out>/<dataset>-<variant>`` (the checkpoint pair's common stem)."""
    return Path(out_dir) / f"{dataset.name}-{settings.variant}"


def writes_weights(settings: TrainSettings) -> bool:
    """Whether a cross-validation writes the fold-0 checkpoint: asked for, and not into ``bench/results/``."""
    if not settings.write_checkpoint or not settings.out_dir:
        return False
    return not Path(settings.out_dir).resolve().is_relative_to(RESULTS_DIR.resolve())


def _load_cached_fold(out_dir: Path, fold: int, settings: TrainSettings, needs_checkpoint: Path | None = None) -> dict | None:
    """A finished fold's JSON result when it matches ``settings`` (None: run the fold).

    The JSON alone is enough: weights are never needed to skip a fold. ``needs_checkpoint`` is
    accepted for old callers and ignored.
    """
    path = _fold_path(out_dir, fold)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # a damaged cache entry is simply recomputed
    if data.get("version") != FOLD_CACHE_VERSION or data.get("fingerprint") != settings.fingerprint():
        return None
    return data


def cross_validate(
    dataset: GraphDataset,
    settings: TrainSettings,
    progress: bool = True,
    on_fold: Callable[[int, dict], None] | None = None,
    on_epoch: Callable[[int, int, dict], bool | None] | None = None,
    command: str | None = None,
) -> dict:
    """Stratified K-fold cross-validation with both protocols; returns the summary dict.

    With ``settings.out_dir`` set, writes ``folds/fold-<k>.json`` after each fold (a rerun with
    the same settings skips those), the fold-0 checkpoint ``<dataset>-<variant>`` and
    ``summary.json``. ``on_fold(fold, result)`` runs after each fold (cached ones too);
    ``on_epoch(fold, epoch, metrics)`` after each epoch (False stops that fold).
    """
    context = distributed.current_context()
    device = _training_device(settings.device, context)
    start = time.perf_counter()
    spec = feature_spec_for(dataset, settings.features, settings.positional)
    config = model_config_for(dataset, spec, settings)
    labels_all = dataset.labels
    pool = (stratified_subset(labels_all, settings.subset) if settings.subset else np.arange(len(dataset)))
    labels = labels_all[pool]
    splits = stratified_folds(labels, settings.folds, settings.seed)
    fold_ids = settings.only_folds or list(range(settings.folds))[: settings.fold_limit or settings.folds]
    out_dir = Path(settings.out_dir) if settings.out_dir else None
    stem = checkpoint_stem(out_dir, dataset, settings) if out_dir else None

    cached: dict[int, dict] = {}
    if out_dir is not None and context.is_main:
        for fold in fold_ids:
            entry = _load_cached_fold(out_dir, fold, settings, stem if fold == 0 else None)
            if entry is not None:
                cached[fold] = entry
    cached = distributed.broadcast_object(cached)
    to_run = [f for f in fold_ids if f not in cached]

    prepared_by_index: dict[int, PreparedGraph] = {}
    if to_run:
        needed = sorted({int(pool[p]) for f in to_run for part in splits[f] for p in part})
        prepared = prepare_graphs([dataset.graphs[i] for i in needed], spec, config.variant,
                                  config.cluster_counts, settings.seed, needed)
        prepared_by_index = dict(zip(needed, prepared))

    from tqdm.auto import tqdm

    bar = tqdm(total=len(to_run) * settings.epochs, desc=f"{dataset.name} {settings.variant}", unit="epoch",
               file=sys.stderr, disable=not (progress and context.is_main), dynamic_ncols=True)
    results: dict[int, dict] = {}
    try:
        for fold in fold_ids:
            if fold in cached:
                results[fold] = dict(cached[fold], cached=True)
                if on_fold is not None and context.is_main:
                    on_fold(fold, results[fold])
                continue
            train_pos, test_pos = splits[fold]
            if settings.uses_validation:
                kept, held = stratified_holdout(labels[train_pos], settings.val_fraction, settings.seed + fold)
                fit_pos, val_pos = train_pos[kept], train_pos[held]
            else:
                fit_pos, val_pos = train_pos, train_pos[:0]
            fit_idx, val_idx, test_idx = ([int(i) for i in pool[p]] for p in (fit_pos, val_pos, test_pos))
            by_index = {i: dataset.graphs[i] for i in fit_idx + val_idx + test_idx}
            watched = _watched_graphs(settings, fit_idx, by_index) if fold == 0 else []
            bar.set_postfix_str(f"fold {fold}")

            def epoch_callback(epoch: int, metrics: dict, fold: int = fold) -> bool:
                bar.update(1)
                bar.set_postfix_str(
                    f"fold {fold} loss {metrics['train_loss']:.3f} val {_fmt(metrics['val_acc'])} "
                    f"test {_fmt(metrics['test_acc'])}")
                if on_epoch is not None:
                    return on_epoch(fold, epoch, metrics) is not False
                return True

            state_stem = fit_state_stem(settings, fold) if out_dir is not None else None
            result = _fit_prepared(
                [prepared_by_index[i] for i in fit_idx], [prepared_by_index[i] for i in val_idx],
                [prepared_by_index[i] for i in test_idx], spec, config, settings, watched,
                on_epoch=epoch_callback, device=device, seed_offset=fold, state_stem=state_stem,
            )
            bar.update(settings.epochs - len(result.history))
            entry = {
                "version": FOLD_CACHE_VERSION,
                "fingerprint": settings.fingerprint(),
                "fold": fold,
                "best_epoch": result.best_epoch,
                "val_acc": result.val_acc,
                "test_acc": result.test_acc,
                "seconds": result.seconds,
                "stopped": result.stopped,
                "device": str(device),
                "sizes": {"train": len(fit_idx), "val": len(val_idx), "test": len(test_idx)},
                "train_indices": fit_idx,
                "val_indices": val_idx,
                "test_indices": test_idx,
                "history": result.history,
            }
            if out_dir is not None and context.is_main:
                if fold == 0 and writes_weights(settings):
                    _save_fold_checkpoint(stem, result, spec, dataset, settings, entry, device, command)
                _write_json(_fold_path(out_dir, fold), entry)
                delete_fit_state(state_stem)
            results[fold] = dict(entry, cached=False)
            if on_fold is not None and context.is_main:
                on_fold(fold, results[fold])
    finally:
        bar.close()

    ordered = [results[f] for f in fold_ids]
    summary = _summary(dataset, settings, ordered, device, time.perf_counter() - start, command, stem)
    # With only_folds several processes may share out_dir: only a full run writes the summary and card.
    if out_dir is not None and context.is_main and settings.only_folds is None:
        _write_json(out_dir / "summary.json", summary)
        if stem is not None and all(p.is_file() for p in checkpoint_paths(stem)):
            _add_cv_to_card(stem, summary)
    return summary


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _protocol_text(settings: TrainSettings) -> str:
    if settings.uses_validation:
        return HONEST_TEXT.format(folds=settings.folds, seed=settings.seed, val=settings.val_fraction)
    return "paper: no validation set; model of the last epoch; " + PAPER_TEXT


def _save_fold_checkpoint(
    stem: Path, result: FitResult, spec: FeatureSpec, dataset: GraphDataset, settings: TrainSettings,
    entry: dict, device: torch.device, command: str | None,
) -> Path:
    card = {
        "dataset": dataset.name,
        "class_names": list(dataset.class_names),
        "accuracy": {"test": result.test_acc, "validation": result.val_acc},
        "protocol": _protocol_text(settings) + f"; this model: fold {entry['fold']} of {settings.folds}, "
                                               f"epoch {result.best_epoch}",
        "fold": entry["fold"],
        "best_epoch": result.best_epoch,
        "test_indices": entry["test_indices"],
        "val_indices": entry["val_indices"],
        "seed": settings.seed,
        "training_seconds": result.seconds,
        "machine": machine_info(device),
        "command": command or "",
        "settings": asdict(settings),
        "history": result.history,
    }
    if result.snapshot_meta:
        card["snapshots"] = result.snapshot_meta
    save_checkpoint(stem, result.model, spec, card, extra_tensors=result.snapshots)
    return stem


def _add_cv_to_card(stem: Path, summary: dict) -> None:
    """Record the cross-validation figures in the card (JSON only; the weights are untouched)."""
    _, card_path = checkpoint_paths(stem)
    card = read_card(card_path).to_dict()
    card["cross_validation"] = {"honest": summary["honest"], "paper": summary["paper"] and {
        k: v for k, v in summary["paper"].items() if k != "curve"}, "folds_completed": summary["folds_completed"]}
    _write_json(card_path, card)


def _summary(dataset, settings, folds, device, seconds, command, stem) -> dict:
    protocols = aggregate_protocols([f["history"] for f in folds])
    honest, paper = protocols["honest"], protocols["paper"]
    if honest is not None:
        honest["description"] = HONEST_TEXT.format(folds=settings.folds, seed=settings.seed, val=settings.val_fraction)
    if paper is not None:
        paper["description"] = PAPER_TEXT
    if settings.protocol == "paper":
        honest = None
    return {
        "dataset": dataset.name,
        "variant": settings.variant,
        "num_graphs": len(dataset) if not settings.subset else min(settings.subset, len(dataset)),
        "settings": asdict(settings),
        "honest": honest if settings.protocol in ("honest", "both") else None,
        "paper": paper if settings.protocol in ("paper", "both") else None,
        "folds": [{k: v for k, v in f.items() if k not in ("train_indices",)} for f in folds],
        "folds_completed": len(folds),
        "folds_total": settings.folds,
        "timing": {"this_run_seconds": seconds, "training_seconds": sum(f["seconds"] for f in folds)},
        "machine": machine_info(device),
        "command": command or "",
        "checkpoint": str(checkpoint_paths(stem)[0]) if stem and checkpoint_paths(stem)[0].is_file()
        else None,
    }


def format_summary(summary: dict) -> str:
    """The human-readable end-of-run report (per-fold table, both protocols, time)."""
    s = summary["settings"]
    lines = [
        f"{summary['dataset']} · {summary['variant']} · {summary['folds_completed']}/{summary['folds_total']} folds "
        f"× {s['epochs']} epochs · {summary['num_graphs']} graphs · device {summary['machine']['device']}",
        "",
        f"{'fold':>4}  {'train':>5}  {'val':>4}  {'test':>4}  {'best ep':>7}  {'val acc':>7}  {'test acc':>8}  "
        f"{'seconds':>7}  note",
    ]
    for f in summary["folds"]:
        note = "cached" if f.get("cached") else f.get("stopped", "")
        lines.append(
            f"{f['fold']:>4}  {f['sizes']['train']:>5}  {f['sizes']['val']:>4}  {f['sizes']['test']:>4}  "
            f"{f['best_epoch']:>7}  {_fmt(f['val_acc']):>7}  {_fmt(f['test_acc']):>8}  {f['seconds']:>7.1f}  {note}")
    lines.append("")
    honest, paper = summary["honest"], summary["paper"]
    if honest is not None:
        lines.append(f"honest accuracy: {100 * honest['mean']:.1f} ± {100 * honest['std']:.1f} % "
                     f"(test fold at best validation epoch, {len(honest['per_fold'])} folds)")
    if paper is not None:
        lines.append(f"paper protocol:  {100 * paper['accuracy']:.1f} % at epoch {paper['epoch']} (max over epochs of "
                     "mean test-fold accuracy, no model selection; optimistic, not comparable to the honest figure)")
    timing = summary["timing"]
    lines.append(f"time: {timing['this_run_seconds']:.1f} s this run, {timing['training_seconds']:.1f} s training "
                 "over all folds")
    if summary.get("checkpoint"):
        lines.append(f"checkpoint (fold 0): {summary['checkpoint']}")
    return "\n".join(lines)


def train_single(
    dataset: GraphDataset,
    settings: TrainSettings,
    out_dir: str | Path,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
    command: str | None = None,
) -> tuple[Path, dict]:
    """Train one model on fold 0's split (train / validation / test) and write its checkpoint to ``out_dir``.

    Returns (path of the ``.safetensors`` file, summary of that one run). Fold results are not
    cached, so a second call trains again.
    """
    if Path(out_dir).resolve().is_relative_to(RESULTS_DIR.resolve()):
        raise TrainingError(f"{out_dir} is inside {RESULTS_DIR}, which holds benchmark JSON and tables only; "
                            "write models to another folder (e.g. models/)")
    single = dataclasses.replace(settings, fold_limit=1, out_dir=None)
    context = distributed.current_context()
    device = _training_device(single.device, context)
    spec = feature_spec_for(dataset, single.features, single.positional)
    labels_all = dataset.labels
    pool = stratified_subset(labels_all, single.subset) if single.subset else np.arange(len(dataset))
    train_pos, test_pos = stratified_folds(labels_all[pool], single.folds, single.seed)[0]
    if single.uses_validation:
        kept, held = stratified_holdout(labels_all[pool][train_pos], single.val_fraction, single.seed)
        fit_pos, val_pos = train_pos[kept], train_pos[held]
    else:
        fit_pos, val_pos = train_pos, train_pos[:0]
    fit_idx, val_idx, test_idx = ([int(i) for i in pool[p]] for p in (fit_pos, val_pos, test_pos))
    config = model_config_for(dataset, spec, single)
    result = fit([dataset.graphs[i] for i in fit_idx], [dataset.graphs[i] for i in val_idx], spec, config, single,
                 on_epoch=on_epoch, test_graphs=[dataset.graphs[i] for i in test_idx],
                 train_indices=fit_idx, val_indices=val_idx, test_indices=test_idx)
    entry = {"fold": 0, "test_indices": test_idx, "val_indices": val_idx}
    stem = checkpoint_stem(out_dir, dataset, single)
    if context.is_main:
        _save_fold_checkpoint(stem, result, spec, dataset, single, entry, device,
                              command or f"core.train.train_single({dataset.name!r}, {single!r})")
    summary = {
        "dataset": dataset.name,
        "variant": single.variant,
        "best_epoch": result.best_epoch,
        "accuracy": {"test": result.test_acc, "validation": result.val_acc},
        "stopped": result.stopped,
        "seconds": result.seconds,
        "history": result.history,
        "sizes": {"train": len(fit_idx), "val": len(val_idx), "test": len(test_idx)},
        "test_indices": test_idx,
    }
    return checkpoint_paths(stem)[0], summary


# ---------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Train DiffPool models with stratified K-fold cross-validation. Reports the honest "
                    "figure (test fold at the best validation epoch) and the paper's optimistic one.",
        epilog="Data-parallel: torchrun --nproc_per_node=N -m core.train ... (nccl on CUDA, gloo on CPU).",
    )
    add = parser.add_argument
    add("--dataset", required=True, help="TU dataset name (ENZYMES, PROTEINS, DD, ...) or synthetic-hierarchy")
    add("--model", dest="variant", default=defaults.variant, choices=VARIANTS, help="model variant")
    add("--folds", type=int, default=defaults.folds, help="K of stratified K-fold (default %(default)s)")
    add("--epochs", type=int, default=defaults.epochs, help="epochs per fold (default %(default)s)")
    add("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    add("--data-dir", default=None, help="folder holding <NAME>/ or <NAME>.zip (default $DIFFPOOL_DATA or the cache)")
    add("--no-download", action="store_true", help="never download a missing dataset")
    add("--save-every", type=int, default=5,
        help="save the unfinished fold's state every N epochs so a killed run resumes there (0: never)")
    add("--resume-dir", default=None, help="where unfinished folds keep their state (default $DIFFPOOL_RESUME "
        "or ~/.cache/diffpool-explorer/resume)")
    add("--no-checkpoint", action="store_true", help="write no weights: fold JSON files and summary.json only")
    add("--accept-damaged-data", action="store_true",
        help="train on a dataset whose edge file looks truncated (refused by default; see the check line)")
    add("--out", default=None, help="output folder: summary.json, folds/, the fold-0 checkpoint")
    add("--batch-size", type=int, default=defaults.batch_size)
    add("--lr", type=float, default=defaults.lr)
    add("--clip", type=float, default=defaults.clip, help="gradient-norm clipping (0 = off)")
    add("--weight-decay", type=float, default=defaults.weight_decay)
    add("--hidden-dim", type=int, default=defaults.hidden_dim)
    add("--embedding-dim", type=int, default=defaults.embedding_dim)
    add("--num-pooling", type=int, default=defaults.num_pooling)
    add("--assign-ratio", type=float, default=defaults.assign_ratio,
        help="clusters per level = previous × ratio; level 1 from the dataset's largest graph")
    add("--max-clusters", type=int, default=None,
        help="cap on level-1 clusters (max_nodes × ratio gives 574 for DD); later levels follow from it")
    add("--readout", default=defaults.readout, choices=READOUTS,
        help="graph vector from node embeddings at every level: max (default, reference code), mean or sum "
             "(sum sees graph size and label counts: D&D)")
    add("--dropout", type=float, default=defaults.dropout,
        help="dropout after each hidden GraphSAGE layer while training (0 = off, the reference default)")
    add("--structure-weight", type=float, default=defaults.structure_weight,
        help="weight of DMoN's modularity objective + collapse regulariser added at every pooling level, so "
             "clusters follow the graph's communities (0 = the reference objective, default)")
    add("--positional", type=int, default=defaults.positional,
        help="append this many Laplacian eigenvectors to the node features (where a node sits in its graph; "
             "lets pooling form connected clusters; 0 = none, default)")
    add("--features", default=defaults.features, choices=FEATURE_CHOICES,
        help="node features; auto = labels and attributes when present, else degree")
    add("--val-fraction", type=float, default=defaults.val_fraction)
    add("--seed", type=int, default=defaults.seed)
    add("--protocol", default=defaults.protocol, choices=PROTOCOLS,
        help="honest: validation-based selection; paper: no validation set, max over epochs; both (default)")
    add("--fold-limit", type=int, default=None, help="run only the first K folds")
    add("--only-folds", default=None,
        help="run only these fold indices, e.g. '3,4' (parallel workers sharing --out; writes fold files, "
             "not summary.json)")
    add("--subset", type=int, default=None, help="use N graphs (stratified, first of each class) - smoke tests")
    add("--batching", default=defaults.batching, choices=BATCHINGS,
        help="bucket (default): random batches sorted by size within windows of 8 batches (little padding, "
             "random-like accuracy); size: globally size-sorted batches (least padding, lower accuracy); "
             "random: uniform batches as in the reference code (memory-heavy on DD)")
    add("--adjacency", default=defaults.adjacency, choices=ADJACENCY_FORMATS,
        help="first-level adjacency of a batch: dense [B, N, N], sparse edge list (O(E) products, same "
             f"results), or auto (default: sparse for batches of {SPARSE_FROM_NODES}+ padded nodes)")
    add("--patience", type=int, default=None, help="early stopping on validation accuracy (epochs)")
    add("--snapshot-every", type=int, default=0, help="record assignment snapshots every K epochs (fold 0)")
    add("--watch-graphs", default=None, help="dataset indices to snapshot, e.g. '0,1,2'")
    add("--threads", type=int, default=None,
        help="CPU threads for torch (default 1 on CPU; 0 = torch's own choice). Dense DiffPool batches are "
             "small: several threads gain little, and on a busy machine they wait on each other (a 2-epoch "
             "ENZYMES run took 73 s with torch's default on a loaded 2-core machine, ~5 s with 1 thread); "
             "raise it for D&D-sized graphs on an idle machine")
    add("--stack-folds", nargs="?", const="exact", default=None, choices=("exact", "aligned"),
        help="train all folds as one stack of models in one batched computation (core.stacked; one process, "
             "dense-size graphs only). exact (default): each fold's batches and seeds as alone, the same "
             "training up to float rounding, same fold cache; aligned: folds' batches reordered to similar sizes per step (faster, not identical)")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def _settings_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainSettings:
    from core.datasets import KNOWN_DATASETS, SYNTHETIC_NAME, canonical_name, resolve_data_dir

    name = canonical_name(args.dataset)
    if name.lower() != SYNTHETIC_NAME and name not in KNOWN_DATASETS:
        folder = resolve_data_dir(args.data_dir)
        if not ((folder / name).is_dir() or (folder / f"{name}.zip").is_file()):
            parser.error(f"unknown dataset {args.dataset!r} (not in {folder}); choose one of "
                         f"{', '.join(KNOWN_DATASETS)}, {SYNTHETIC_NAME}, or a TU folder in --data-dir")
    watch = None
    if args.watch_graphs:
        try:
            watch = [int(part) for part in args.watch_graphs.split(",") if part.strip()]
        except ValueError:
            parser.error(f"--watch-graphs must be comma-separated integers, got {args.watch_graphs!r}")
    only = None
    if args.only_folds:
        try:
            only = [int(part) for part in args.only_folds.split(",") if part.strip()]
        except ValueError:
            parser.error(f"--only-folds must be comma-separated integers, got {args.only_folds!r}")
    minimums = (("--epochs", args.epochs, 1), ("--folds", args.folds, 2), ("--batch-size", args.batch_size, 1))
    for flag, value, low in minimums:
        if value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    try:
        return TrainSettings(
            dataset=name, variant=args.variant, folds=args.folds, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, clip=args.clip, weight_decay=args.weight_decay, hidden_dim=args.hidden_dim,
            embedding_dim=args.embedding_dim, num_pooling=args.num_pooling, assign_ratio=args.assign_ratio,
            max_clusters=args.max_clusters, readout=args.readout, dropout=args.dropout,
            structure_weight=args.structure_weight, positional=args.positional, features=args.features,
            val_fraction=args.val_fraction, seed=args.seed,
            protocol=args.protocol, fold_limit=args.fold_limit, only_folds=only, subset=args.subset,
            patience=args.patience,
            snapshot_every=args.snapshot_every, watch_graphs=watch, batching=args.batching,
            adjacency=args.adjacency, device=args.device,
            data_dir=args.data_dir,
            out_dir=args.out,
            save_every=args.save_every,
            resume_dir=args.resume_dir,
            write_checkpoint=not args.no_checkpoint,
        )
    except TrainingError as error:
        parser.error(str(error))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = _settings_from_args(parser, args)
    launcher = "python"
    if distributed.launched_by_torchrun():
        launcher = f"torchrun --nproc_per_node={os.environ.get('LOCAL_WORLD_SIZE', os.environ['WORLD_SIZE'])}"
    command = f"{launcher} -m core.train " + " ".join(shlex.quote(a) for a in argv)

    try:
        device = resolve_device(settings.device)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.threads is None and device.type == "cpu":
        torch.set_num_threads(1)
    elif args.threads:
        torch.set_num_threads(args.threads)
    context = distributed.init_from_env(device)
    status = None
    try:
        status = _run_cross_validation(args, settings, context, command)
        return status
    finally:
        # Ranks wait for each other before leaving the group only after an orderly finish: gloo
        # can abort ("terminate called without an active exception") when one rank tears the
        # group down while its peer is still using it; after an interrupt or a crash the peers
        # may never arrive, so they leave at once.
        distributed.shutdown(wait_for_peers=status is not None and status != 130)


def _run_cross_validation(args: argparse.Namespace, settings: TrainSettings, context: distributed.DistContext,
                          command: str) -> int:
    """Load the dataset, cross-validate, print the summary; the CLI's exit status."""
    from core.datasets import DatasetError, load_dataset

    try:
        dataset = load_dataset(settings.dataset, data_dir=settings.data_dir, download=not args.no_download,
                               progress=not args.quiet and context.is_main,
                               accept_damaged=args.accept_damaged_data)
    except DatasetError as error:
        if context.is_main:
            print(f"error: {error}", file=sys.stderr)
        return 2
    check = (getattr(dataset, "meta", None) or {}).get("check")
    if check and context.is_main:
        print(f"dataset check: {check['summary']}", file=sys.stderr if args.quiet else sys.stdout)
    try:
        if getattr(args, "stack_folds", None):
            from core.stacked import cross_validate_stacked

            summary = cross_validate_stacked(dataset, settings, progress=not args.quiet, command=command,
                                             align=args.stack_folds == "aligned")
        else:
            summary = cross_validate(dataset, settings, progress=not args.quiet, command=command)
    except TrainingError as error:
        if context.is_main:
            print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if context.is_main:
            where = (f"; finished folds are cached in {Path(settings.out_dir) / 'folds'} and the unfinished one "
                     f"resumes from its last save (every {settings.save_every} epochs): rerun the same command"
                     if settings.out_dir else "")
            print(f"\ninterrupted{where}", file=sys.stderr)
        return 130
    if context.is_main:
        print(format_summary(summary))
        if settings.out_dir and settings.only_folds is None:
            print(f"summary: {Path(settings.out_dir) / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
