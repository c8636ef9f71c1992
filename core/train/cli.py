"""The command line: ``python -m core.train``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch

from core.data.batching import (
    ADJACENCY_FORMATS,
    SPARSE_FROM_NODES,
)
from core.data.features import EIGENBASES
from core.model.diffpool import VARIANTS
from core.model.inference import resolve_device
from core.train import distributed
from core.train.crossval import cross_validate, format_summary
from core.train.settings import BATCHINGS, FEATURE_CHOICES, PROTOCOLS, READOUTS, TrainingError, TrainSettings


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
        help="clusters per level = previous × ratio, in (0, 1]; level 1 from the dataset's largest graph")
    add("--max-clusters", type=int, default=None,
        help="cap on level-1 clusters (max_nodes × ratio gives 574 for DD); later levels follow from it")
    add("--readout", default=defaults.readout, choices=READOUTS,
        help="graph vector from node embeddings at every level: max (default, reference code), mean or sum "
             "(sum sees graph size and label counts: D&D)")
    add("--dropout", type=float, default=defaults.dropout,
        help="dropout after each hidden GraphSAGE layer while training (0 = off, the reference default)")
    add("--input-norm", action="store_true",
        help="batch-normalise the input node features over real nodes before level 1 (TU attributes reach "
             "~800 on ENZYMES and PROTEINS; the structure-agnostic baseline always does this; off by default, "
             "as in the reference code)")
    add("--structure-weight", type=float, default=defaults.structure_weight,
        help="weight of DMoN's modularity objective + collapse regulariser added at every pooling level, so "
             "clusters follow the graph's communities (0 = the reference objective, default)")
    add("--positional", type=int, default=defaults.positional,
        help="append this many Laplacian eigenvectors to the node features (where a node sits in its graph; "
             "lets pooling form connected clusters; 0 = none, default)")
    add("--positional-assign-only", action="store_true",
        help="with --positional K: the eigenvectors feed level 1's assignment GNN only, not the embeddings the "
             "classifier reads (where a node sits picks its cluster; off by default: they feed both)")
    add("--features", default=defaults.features, choices=FEATURE_CHOICES,
        help="node features; auto = labels and attributes when present, else degree")
    add("--eigenbasis", default=defaults.eigenbasis, choices=EIGENBASES,
        help="Laplacian eigenvectors (--positional, degree+spectral features) where a graph's are not unique: "
             "canonical = one basis fixed by the graph, the same on every CPU (default); solver = LAPACK's "
             "choice, as runs before the canonical basis (their models change predictions on another CPU)")
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
    add("--patience", type=int, default=None,
        help="early stopping on validation accuracy: stop after this many epochs without a better one (0 or unset: off)")
    add("--snapshot-every", type=int, default=0, help="record assignment snapshots every K epochs (fold 0)")
    add("--watch-graphs", default=None, help="dataset indices to snapshot, e.g. '0,1,2'")
    add("--threads", type=int, default=None,
        help="CPU threads for torch (default 1 on CPU; 0 = torch's own choice). Dense DiffPool batches are "
             "small: several threads gain little, and on a busy machine they wait on each other (a 2-epoch "
             "ENZYMES run took 73 s with torch's default on a loaded 2-core machine, ~5 s with 1 thread); "
             "raise it for D&D-sized graphs on an idle machine")
    add("--stack-folds", nargs="?", const="exact", default=None, choices=("exact", "aligned"),
        help="train all folds as one stack of models in one batched computation (core.train.stacked; one process, "
             "dense-size graphs only). exact (default): each fold's batches and seeds as alone, the same "
             "training up to float rounding, same fold cache; aligned: folds' batches reordered to similar sizes per step (faster, not identical)")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def _settings_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainSettings:
    from core.data.datasets import KNOWN_DATASETS, SYNTHETIC_NAME, canonical_name, resolve_data_dir

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
        if not args.snapshot_every:
            parser.error("--watch-graphs picks the graphs whose assignments are snapshotted: set --snapshot-every K "
                         "too (snapshots every K epochs), else nothing is recorded")
    only = None
    if args.only_folds:
        try:
            only = [int(part) for part in args.only_folds.split(",") if part.strip()]
        except ValueError:
            parser.error(f"--only-folds must be comma-separated integers, got {args.only_folds!r}")
    minimums = (("--epochs", args.epochs, 1), ("--folds", args.folds, 2), ("--batch-size", args.batch_size, 1),
                ("--threads", 0 if args.threads is None else args.threads, 0))
    for flag, value, low in minimums:
        if value < low:
            parser.error(f"{flag} must be at least {low}, got {value}")
    try:
        return TrainSettings(
            dataset=name, variant=args.variant, folds=args.folds, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, clip=args.clip, weight_decay=args.weight_decay, hidden_dim=args.hidden_dim,
            embedding_dim=args.embedding_dim, num_pooling=args.num_pooling, assign_ratio=args.assign_ratio,
            max_clusters=args.max_clusters, readout=args.readout, dropout=args.dropout,
            input_norm=args.input_norm, structure_weight=args.structure_weight, positional=args.positional,
            positional_assign_only=args.positional_assign_only, features=args.features,
            eigenbasis=args.eigenbasis,
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
    from core.data.datasets import DatasetError, DatasetNotFoundError, load_dataset

    try:
        dataset = load_dataset(settings.dataset, data_dir=settings.data_dir, download=not args.no_download,
                               progress=not args.quiet and context.is_main,
                               accept_damaged=args.accept_damaged_data)
    except DatasetError as error:
        if isinstance(error, DatasetNotFoundError):
            error.hint = "run without --no-download to fetch it"
        if context.is_main:
            print(f"error: {error}", file=sys.stderr)
        return 2
    check = (getattr(dataset, "meta", None) or {}).get("check")
    if check and context.is_main:
        print(f"dataset check: {check['summary']}", file=sys.stderr if args.quiet else sys.stdout)
    try:
        if getattr(args, "stack_folds", None):
            from core.train.stacked import cross_validate_stacked

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
