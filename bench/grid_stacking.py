"""How long the selection grid takes with and without stacking (issue #16), side by side.

Trains bench/selection_grid.py's small grid on one dataset twice into fresh run folders, one
worker, configuration by configuration: a process per (configuration, fold) job, then the same
configuration with ``--stack``'s trainer (its ten folds as one stack of models, core.train.stacked). Same
jobs, same folds, same seeds; epochs and patience reduced so both fit in a session (the ratio is
what carries over to the full-length grid). Configurations a stack cannot hold (input norm,
positional features) are left out: they would run alone both ways. Prints a table and writes
bench/results/selection_grid/stacking.{json,md} (``stacking-proteins.*`` for PROTEINS): wall
seconds of each run, their ratio, and how
far the stacked folds' results are from the unstacked ones (best epoch, validation and test
accuracy per fold; float32 rounding can move an early-stopped run by an epoch or two).

    python bench/grid_stacking.py                       # ENZYMES, 60 epochs, patience 20
    python bench/grid_stacking.py --dataset PROTEINS --epochs 40 --patience 15
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import selection_grid as grid  # noqa: E402

OUT = grid.GRID_DIR


def run_config(dataset: str, point, epochs: int, patience: int, runs_root: Path, data_dir: str,
               stack: bool) -> float:
    """Wall seconds to train one configuration's ten folds, one worker, stacked or a process per fold."""
    jobs = [grid.Job(dataset, point, fold, runs_root, epochs, patience, data_dir) for fold in range(10)]
    start = time.perf_counter()
    # stacked wherever a stack can hold the configuration, also where the grid itself does not stack
    failures = grid.run_jobs(grid.stack_units(jobs, datasets=(dataset,)) if stack else jobs, 1)
    seconds = time.perf_counter() - start
    if failures:
        raise SystemExit("training failed:\n  " + "\n  ".join(failures))
    return seconds


def fold_results(runs_root: Path) -> dict[tuple[str, int], dict]:
    """(configuration, fold) -> the fold file's best epoch, validation and test accuracy."""
    found = {}
    for path in sorted(runs_root.glob("*/*/folds/fold-*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        found[(path.parent.parent.parent.name, int(entry["fold"]))] = {
            "best_epoch": entry["best_epoch"], "val_acc": entry["val_acc"], "test_acc": entry["test_acc"],
            "epochs_run": len(entry["history"])}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/grid_stacking.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="ENZYMES", choices=("ENZYMES", "PROTEINS"),
                        help="a dataset whose graphs fit a stack (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "TU"))
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    # Configuration by configuration, alone then stacked, so that a change in the machine's load
    # hits both sides alike.
    points = [p for p in grid.small_grid() if not (p.input_norm or p.positional)]
    per_config = []
    with tempfile.TemporaryDirectory(prefix="grid-stacking-") as scratch:
        alone_root, stacked_root = Path(scratch) / "alone", Path(scratch) / "stacked"
        load_before = list(grid.machine().get("load_average_1_5_15", []))
        for point in points:
            row = {"configuration": point.name}
            for key, root, stack in (("alone", alone_root, False), ("stacked", stacked_root, True)):
                row[key] = run_config(args.dataset, point, args.epochs, args.patience, root, args.data_dir, stack)
            print(f"{point.name}: {row['alone']:.0f} s alone, {row['stacked']:.0f} s stacked", flush=True)
            per_config.append(row)
        a, s = fold_results(alone_root), fold_results(stacked_root)
    alone = sum(row["alone"] for row in per_config)
    stacked = sum(row["stacked"] for row in per_config)
    if sorted(a) != sorted(s):
        raise SystemExit("the two runs finished different (configuration, fold) jobs")
    diffs = {
        "best_epoch": [abs(a[k]["best_epoch"] - s[k]["best_epoch"]) for k in a],
        "val_acc": [abs(a[k]["val_acc"] - s[k]["val_acc"]) * 100 for k in a],
        "test_acc": [abs(a[k]["test_acc"] - s[k]["test_acc"]) * 100 for k in a],
    }
    same = sum(a[k] == s[k] for k in a)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "python bench/grid_stacking.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
        "machine": dict(grid.machine(), load_average_before=load_before),
        "dataset": args.dataset, "grid": "small", "configurations": len(points), "folds": 10,
        "epochs": args.epochs, "patience": args.patience,
        "seconds_alone": alone, "seconds_stacked": stacked, "speedup": alone / stacked, "per_config": per_config,
        "jobs": len(a), "identical_fold_results": same,
        "max_abs_difference": {key: max(values) for key, values in diffs.items()},
        "mean_test_acc_alone": statistics.fmean(v["test_acc"] for v in a.values()) * 100,
        "mean_test_acc_stacked": statistics.fmean(v["test_acc"] for v in s.values()) * 100,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "stacking" if args.dataset == "ENZYMES" else f"stacking-{args.dataset.lower()}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    m = result["machine"]
    lines = [
        "# The selection grid with and without stacking", "",
        f"Command: `{result['command']}`  ", f"Date: {result['date']}  ",
        f"Machine: {m.get('cpu_model')}, {m['cpu_count']} cores, one worker, one torch thread; load average "
        f"before {' / '.join(f'{x:.1f}' for x in load_before)}, after "
        f"{' / '.join(f'{x:.1f}' for x in m.get('load_average_1_5_15', []))}", "",
        f"{args.dataset}, grid `small`'s stackable part ({result['configurations']} configurations × 10 folds = {result['jobs']} "
        f"jobs), epochs ≤ {args.epochs}, patience {args.patience}; each configuration trained alone, then stacked, "
        "before the next.", "",
        "| run | wall s | speed-up |", "|---|---:|---:|",
        f"| one process per (configuration, fold) job | {alone:.0f} | 1.00× |",
        f"| `--stack`: each configuration's 10 folds as one stack | {stacked:.0f} | {alone / stacked:.2f}× |", "",
        "| configuration | alone s | stacked s | speed-up |", "|---|---:|---:|---:|",
        *(f"| {r['configuration']} | {r['alone']:.0f} | {r['stacked']:.0f} | {r['alone'] / r['stacked']:.2f}× |"
          for r in per_config), "",
        f"Fold results identical in {same} of {len(a)} jobs; largest differences elsewhere: best epoch "
        f"{result['max_abs_difference']['best_epoch']}, validation {result['max_abs_difference']['val_acc']:.1f} "
        f"points, test {result['max_abs_difference']['test_acc']:.1f} points (float32 rounding differs between a "
        "stacked and a lone run; an early-stopped run can then pick another epoch). Mean test accuracy over all "
        f"jobs: {result['mean_test_acc_alone']:.1f} alone, {result['mean_test_acc_stacked']:.1f} stacked.",
    ]
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
