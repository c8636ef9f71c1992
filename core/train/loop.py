"""The training loop of one fold: batches, optimisation steps, evaluation, snapshots, early stopping
and resumable state."""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from core.data.batching import (
    PreparedGraph,
    bucket_batches,
    collate,
    prepare_graphs,
    size_batches,
)
from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.model.diffpool import DiffPool, DiffPoolConfig
from core.model.inference import resolve_device, trace_graphs
from core.train import distributed
from core.train.optim import FlatAdam
from core.train.resume import _load_fit_state, _restore_fit_state, _save_fit_state
from core.train.settings import TrainingError, TrainSettings


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

    ``size``: :func:`core.data.batching.size_batches` with shuffling; ``bucket``:
    :func:`core.data.batching.bucket_batches`; ``random``: a seeded permutation cut into runs of
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
    output = model(batch.x, batch.adj, batch.mask, batch.fixed, edge_types=batch.edge_types)
    loss = loss_module.loss(output, batch.labels)
    loss.backward()
    if clip and clip > 0:
        if isinstance(optimizer, FlatAdam):
            optimizer.clip_grad_norm_(clip)  # one norm over the flat gradient
        else:
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
        logits = model(batch.x, batch.adj, batch.mask, batch.fixed, edge_types=batch.edge_types).logits
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
    on_resume: Callable[[int, int], None] | None = None,
) -> FitResult:
    """The training loop. ``state_stem``: save the fit's state there every ``settings.save_every``
    epochs and, when a state for these settings exists, continue from it, calling
    ``on_resume(last saved epoch, best epoch so far)`` first."""
    context = distributed.current_context()
    device = device or _training_device(settings.device, context)
    torch.manual_seed(settings.seed + seed_offset)
    np.random.seed(settings.seed + seed_offset)
    model = (model or DiffPool(config)).to(device)
    trainer: nn.Module = model
    if context.is_distributed:
        from torch.nn.parallel import DistributedDataParallel

        trainer = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if context.is_distributed:  # DDP's gradient buckets own the gradients: one tensor per parameter
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    else:  # the same Adam as one update over all parameters (core.train.optim)
        optimizer = FlatAdam(model, lr=settings.lr, weight_decay=settings.weight_decay)

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
        if on_resume is not None:
            on_resume(progress["epoch"], best_epoch)
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
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` or "?" where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_info(device: torch.device | str | None = None) -> dict:
    """Python/torch versions, platform, CPU model and device, for summaries and cards."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "device": str(device) if device is not None else None,
        "world_size": distributed.current_context().world_size,
    }
    if device is not None and torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info
