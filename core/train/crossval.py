"""Cross-validation: folds run (and cached as JSON) one after another, summaries, the fold-0
checkpoint, and single-split training."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.analysis.predictions import MAJORITY_MARGIN, majority_share
from core.data.batching import (
    PreparedGraph,
    prepare_graphs,
)
from core.data.features import FeatureSpec
from core.data.graphs import GraphDataset
from core.model.checkpoint import checkpoint_paths, read_card, save_checkpoint
from core.train import distributed
from core.train.loop import FitResult, _fit_prepared, _training_device, _watched_graphs, cpu_model, fit, machine_info
from core.train.protocols import HONEST_TEXT, PAPER_TEXT, aggregate_protocols
from core.train.resume import RESULTS_DIR, delete_fit_state, fit_state_stem
from core.train.settings import TrainingError, TrainSettings, feature_spec_for, model_config_for
from core.train.splits import stratified_folds, stratified_holdout, stratified_subset

FOLD_CACHE_VERSION = 1


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


def _checkpoints_fold(fold: int, stem: Path | None, settings: TrainSettings) -> bool:
    """Whether finishing ``fold`` writes the checkpoint (fold 0 only, where :func:`writes_weights` allows)."""
    return fold == 0 and stem is not None and writes_weights(settings)


def fold_entry(fingerprint: str, fold: int, result, device, indices: tuple[list[int], list[int], list[int]],
               **extra) -> dict:
    """The fold file's content (cache key ``fingerprint``) for a finished fold's ``result`` (a FitResult)."""
    fit_idx, val_idx, test_idx = indices
    return {
        "version": FOLD_CACHE_VERSION,
        "fingerprint": fingerprint,
        "fold": fold,
        "best_epoch": result.best_epoch,
        "val_acc": result.val_acc,
        "test_acc": result.test_acc,
        "seconds": result.seconds,
        "stopped": result.stopped,
        "device": str(device),
        "cpu": cpu_model(),  # job times are only comparable on one CPU model
        **extra,
        "sizes": {"train": len(fit_idx), "val": len(val_idx), "test": len(test_idx)},
        "train_indices": fit_idx,
        "val_indices": val_idx,
        "test_indices": test_idx,
        "history": result.history,
    }


def record_fold(out_dir: Path, stem: Path | None, entry: dict, result, spec, dataset, settings: TrainSettings,
                device, command: str | None) -> None:
    """Write a finished fold's JSON, and fold 0's checkpoint when :func:`writes_weights` allows it."""
    if _checkpoints_fold(entry["fold"], stem, settings):
        _save_fold_checkpoint(stem, result, spec, dataset, settings, entry, device, command)
    _write_json(_fold_path(out_dir, entry["fold"]), entry)


def _load_cached_fold(out_dir: Path, fold: int, settings: TrainSettings) -> dict | None:
    """A finished fold's JSON result when it matches ``settings`` (None: run the fold).

    The JSON alone is enough: weights are never needed to skip a fold.
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
    spec = feature_spec_for(dataset, settings.features, settings.positional, settings.eigenbasis)
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
            entry = _load_cached_fold(out_dir, fold, settings)
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

            def resumed(epoch: int, best_epoch: int, fold: int = fold) -> None:
                bar.update(epoch)
                if context.is_main:
                    bar.write(f"fold {fold}: continues after epoch {epoch} from its saved state "
                              f"(best validation so far at epoch {best_epoch})", file=sys.stderr)

            state_stem = fit_state_stem(settings, fold) if out_dir is not None else None
            result = _fit_prepared(
                [prepared_by_index[i] for i in fit_idx], [prepared_by_index[i] for i in val_idx],
                [prepared_by_index[i] for i in test_idx], spec, config, settings, watched,
                on_epoch=epoch_callback, device=device, seed_offset=fold, state_stem=state_stem,
                on_resume=resumed,
            )
            bar.update(settings.epochs - len(result.history))
            entry = fold_entry(settings.fingerprint(), fold, result, device, (fit_idx, val_idx, test_idx))
            if out_dir is not None and context.is_main:
                if _checkpoints_fold(fold, stem, settings):
                    # the card's structure field diagnoses every held-out graph: seconds, ~30 s on D&D
                    bar.set_postfix_str(f"fold {fold}: checkpoint, diagnosing its pooling on the held-out fold")
                record_fold(out_dir, stem, entry, result, spec, dataset, settings, device, command)
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
    from core.diagnose import card_structure  # the diagnosis imports scipy: only when a checkpoint is written

    structure = card_structure(result.model, spec, card, dataset)  # what its pooling is, on the held-out fold
    if structure is not None:
        card["structure"] = structure
    save_checkpoint(stem, result.model, spec, card, extra_tensors=result.snapshots)
    return stem


def _add_cv_to_card(stem: Path, summary: dict) -> None:
    """Record the cross-validation figures in the card (JSON only; the weights are untouched)."""
    _, card_path = checkpoint_paths(stem)
    card = read_card(card_path).to_dict()
    card["cross_validation"] = {"honest": summary["honest"], "paper": summary["paper"] and {
        k: v for k, v in summary["paper"].items() if k != "curve"}, "folds_completed": summary["folds_completed"],
        "majority": summary.get("majority")}
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
    labels = np.asarray(dataset.labels)
    # what always answering each test fold's largest class scores there
    shares = [majority_share(labels[[int(i) for i in fold.get("test_indices") or [] if 0 <= int(i) < len(labels)]])
              for fold in folds]
    shares = [share for share in shares if share is not None]
    return {
        "dataset": dataset.name,
        "variant": settings.variant,
        "num_graphs": len(dataset) if not settings.subset else min(settings.subset, len(dataset)),
        "settings": asdict(settings),
        "honest": honest if settings.protocol in ("honest", "both") else None,
        "paper": paper if settings.protocol in ("paper", "both") else None,
        "majority": {"mean": float(np.mean(shares)), "per_fold": shares} if shares else None,
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
        done, planned = len(honest["per_fold"]), summary.get("settings", {}).get("folds")
        if done == 1:  # one fold has no spread; a "± 0.0" would read as a certain figure
            lines.append(f"honest accuracy: {100 * honest['mean']:.1f} % on one test fold"
                         f"{f' of {planned}' if planned else ''} (at the best validation epoch; no spread "
                         "from one fold, not a cross-validated figure)")
        else:
            lines.append(f"honest accuracy: {100 * honest['mean']:.1f} ± {100 * honest['std']:.1f} % "
                         f"(test fold at best validation epoch, {done} folds"
                         f"{f' of {planned}' if planned and planned != done else ''})")
    majority = summary.get("majority")
    if majority is not None:
        lines.append(f"majority class:  {100 * majority['mean']:.1f} % (always answering each test fold's largest "
                     "class)")
        if honest is not None and honest["mean"] < majority["mean"] + MAJORITY_MARGIN:
            lines.append("warning: the honest accuracy is not 5 points above the majority class: the model has not "
                         "learned to classify these graphs")
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
    spec = feature_spec_for(dataset, single.features, single.positional, single.eigenbasis)
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
