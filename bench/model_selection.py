"""Validation-based model selection across settings already trained on the same folds.

Every experiment in bench/results/ (reference defaults, hidden 64, sum readout, labels-only
features, ...) trains the same stratified folds with the same validation split (seed 0). Picking
one of those settings by looking at the test-fold means would be selection on test data. This
script does what Errica et al. (ICLR 2020) do instead, with the runs on disk and no training:

    for each outer fold k:
        among the candidate settings, pick the one with the best **validation** accuracy
        (at its own best-validation epoch; ties -> the earlier candidate, the reference first)
        and record **its** test accuracy on fold k
    report mean ± std (ddof=0) of those test accuracies over the folds

The validation split is 10 % of each training fold (54 graphs on ENZYMES, 100 on PROTEINS,
106 on D&D), so the choice is noisy: the selected figure can be below the best candidate's.

    python bench/model_selection.py                      # every dataset/variant with 2+ settings on disk
    python bench/model_selection.py --datasets PROTEINS --variants diffpool
    python bench/model_selection.py --runs A=path/to/ENZYMES-diffpool B=other/ENZYMES-diffpool

Candidates are the run folders ``bench/results/**/<DATASET>-<variant>/`` holding a model card
(``<DATASET>-<variant>.json``) or a ``summary.json`` (for the settings) and all folds in
``folds/fold-k.json``. Runs
whose folds differ (other test or validation indices, other fold count) cannot be compared and
are left out with a note. Writes bench/results/model_selection.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.train.settings import ADDED_LATER  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: Settings that tell candidates apart (paths, device, fold subsets and the like do not).
DESCRIBING_SETTINGS = ("hidden_dim", "embedding_dim", "readout", "features", "num_pooling", "assign_ratio",
                       "max_clusters", "lr", "batch_size", "weight_decay", "dropout", "batching", "epochs",
                       "patience", "structure_weight", "positional")


@dataclass
class Candidate:
    """One setting: its name, settings, and its fold records (fold index -> fold JSON)."""

    name: str
    folder: Path
    settings: dict
    folds: dict[int, dict] = field(default_factory=dict)

    @property
    def test_accuracies(self) -> list[float]:
        return [self.folds[k]["test_acc"] for k in sorted(self.folds)]


class SelectionError(ValueError):
    """Candidates that cannot be compared fold by fold."""


def _split_key(record: dict) -> tuple:
    return tuple(record["test_indices"]), tuple(record["val_indices"])


def select_per_fold(candidates: list[Candidate]) -> dict:
    """Pick, on every fold, the candidate with the best validation accuracy; report its test accuracy.

    candidates: in priority order (ties go to the earlier one). All must hold the same folds
    with identical test and validation indices, else :class:`SelectionError`.

    Returns ``{"per_fold": [{"fold", "chosen", "val_acc", "test_acc"}], "mean", "std",
    "chosen_counts": {name: n}}``; accuracies as fractions, mean/std in %.

    >>> a = Candidate("a", Path("."), {}, {0: {"val_acc": .5, "test_acc": .6, "test_indices": [0], "val_indices": [1]}})
    >>> b = Candidate("b", Path("."), {}, {0: {"val_acc": .7, "test_acc": .4, "test_indices": [0], "val_indices": [1]}})
    >>> select_per_fold([a, b])["per_fold"][0]["chosen"]
    'b'
    """
    if len(candidates) < 2:
        raise SelectionError("model selection needs at least two candidate settings")
    folds = sorted(candidates[0].folds)
    if not folds:
        raise SelectionError(f"{candidates[0].name}: no finished folds")
    for candidate in candidates[1:]:
        if sorted(candidate.folds) != folds:
            raise SelectionError(f"{candidate.name} has folds {sorted(candidate.folds)}, "
                                 f"{candidates[0].name} has {folds}")
        for k in folds:
            if _split_key(candidate.folds[k]) != _split_key(candidates[0].folds[k]):
                raise SelectionError(f"fold {k}: {candidate.name} and {candidates[0].name} use different "
                                     "test or validation graphs (other seed, fold count or dataset version)")
    rows = []
    for k in folds:
        best = max(candidates, key=lambda c: (c.folds[k]["val_acc"], -candidates.index(c)))
        rows.append({"fold": k, "chosen": best.name, "val_acc": best.folds[k]["val_acc"],
                     "test_acc": best.folds[k]["test_acc"]})
    tests = [100.0 * row["test_acc"] for row in rows]
    counts = {c.name: sum(row["chosen"] == c.name for row in rows) for c in candidates}
    return {"per_fold": rows, "mean": statistics.fmean(tests), "std": statistics.pstdev(tests),
            "chosen_counts": counts}


def load_candidate(folder: Path, name: str | None = None) -> Candidate:
    """A run folder ``<DATASET>-<variant>/`` with its fold files and its settings.

    The settings come from the model card ``<DATASET>-<variant>.json`` or, for runs that wrote no
    weights (every run under bench/results/ from now on), from ``summary.json``.
    """
    folder = Path(folder)
    sources = [p for p in folder.glob("*.json") if p.stem == folder.name] + [
        p for p in (folder / "summary.json",) if p.is_file()]
    if not sources:
        raise SelectionError(f"{folder}: neither a model card {folder.name}.json nor a summary.json "
                             "(not a finished core.train run folder)")
    card = json.loads(sources[0].read_text(encoding="utf-8"))
    folds = {}
    for path in sorted((folder / "folds").glob("fold-*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("stopped") == "completed" or "test_acc" in record:
            folds[int(record["fold"])] = record
    # Cards written before a setting existed lack it: they ran with its default (core.train.ADDED_LATER).
    settings = {**ADDED_LATER, **card.get("settings", {})}
    return Candidate(name or str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder),
                     folder, settings, folds)


def describe(candidates: list[Candidate]) -> dict[str, str]:
    """Candidate name -> the settings that differ between candidates (``"hidden_dim=64, readout=sum"``)."""
    differing = [key for key in DESCRIBING_SETTINGS
                 if len({json.dumps(c.settings.get(key)) for c in candidates}) > 1]
    return {c.name: ", ".join(f"{key}={c.settings.get(key)}" for key in differing) or "(same settings)"
            for c in candidates}


def discover(results: Path, dataset: str, variant: str) -> list[Path]:
    """Run folders for one table cell under ``results``; the main table's run first."""
    return sorted({p.parent.parent for p in results.glob(f"**/{dataset}-{variant}/folds/fold-0.json")})


def _reference_first(folders: list[Path], results: Path) -> list[Path]:
    """The main tables' runs (bench/results/reproduce/, bench/results/dd/runs/) lead: ties go to them."""
    main = [f for f in folders if f.parent in (results / "reproduce", results / "dd" / "runs")]
    return main + [f for f in folders if f not in main]


def cell_report(folders: list[Path], names: list[str] | None = None) -> dict:
    candidates = [load_candidate(folder, None if names is None else names[i]) for i, folder in enumerate(folders)]
    complete = max(len(c.folds) for c in candidates)
    notes = [f"{c.name}: {len(c.folds)} folds finished, left out" for c in candidates if len(c.folds) < complete]
    candidates = [c for c in candidates if len(c.folds) == complete]
    comparable = [candidates[0]]
    for candidate in candidates[1:]:
        try:
            select_per_fold([comparable[0], candidate])
        except SelectionError as error:
            notes.append(f"{candidate.name}: left out ({error})")
            continue
        comparable.append(candidate)
    labels = describe(comparable)
    report = {"candidates": [{"name": c.name, "settings": labels[c.name], "folds": len(c.folds),
                              "honest_mean": statistics.fmean(100 * a for a in c.test_accuracies),
                              "honest_std": statistics.pstdev([100 * a for a in c.test_accuracies])}
                             for c in comparable],
              "notes": notes}
    if len(comparable) >= 2:
        report["selection"] = select_per_fold(comparable)
    return report


def markdown(report: dict) -> str:
    lines = ["# Validation-based model selection over the settings on disk", "",
             f"Generated {report['date']} by `{report['command']}` (no training: reads fold files).", "",
             "On every outer fold the setting with the best validation accuracy (10 % of the training fold, "
             "at its own best-validation epoch; ties to the reference run) is chosen and its test-fold accuracy "
             "counted; mean ± std over folds in %. The per-setting rows are each setting's own honest figure "
             "(shown for context: choosing among *them* by their test means would be selection on test data).", ""]
    for cell in report["cells"]:
        lines += [f"## {cell['dataset']} · {cell['variant']}", "",
                  "| setting | run folder | honest accuracy | chosen on folds |", "|---|---|---|---:|"]
        counts = cell.get("selection", {}).get("chosen_counts", {})
        for c in cell["candidates"]:
            lines.append(f"| {c['settings']} | `{c['name']}` | {c['honest_mean']:.1f} ± {c['honest_std']:.1f} | "
                         f"{counts.get(c['name'], '—')} |")
        if "selection" in cell:
            s = cell["selection"]
            lines += ["", f"**Selected by validation: {s['mean']:.1f} ± {s['std']:.1f}** "
                          f"({len(s['per_fold'])} folds)."]
        for note in cell["notes"]:
            lines.append(f"- note: {note}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ENZYMES", "PROTEINS", "DD"])
    parser.add_argument("--variants", nargs="+", default=["diffpool", "diffpool-nolp", "diffpool-det", "graphsage",
                                                          "random"])
    parser.add_argument("--runs", nargs="+", metavar="NAME=FOLDER",
                        help="explicit candidates (one table cell) instead of discovering them")
    parser.add_argument("--results-root", type=Path, default=RESULTS, help="where to discover run folders")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where model_selection.md/.json go")
    args = parser.parse_args(argv)

    cells = []
    try:
        if args.runs:
            pairs = [item.split("=", 1) for item in args.runs]
            if any(len(pair) != 2 for pair in pairs):
                parser.error("--runs takes NAME=FOLDER items")
            folders = [Path(folder) for _, folder in pairs]
            first = load_candidate(folders[0])
            report = cell_report(folders, [name for name, _ in pairs])
            cells.append({"dataset": first.settings.get("dataset", "?"), "variant": first.settings.get("variant", "?"),
                          **report})
        else:
            for dataset in args.datasets:
                for variant in args.variants:
                    folders = _reference_first(discover(args.results_root, dataset, variant), args.results_root)
                    if len(folders) >= 2:
                        cells.append({"dataset": dataset, "variant": variant, **cell_report(folders)})
    except SelectionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not cells:
        print("nothing to select: no table cell has two or more finished settings on disk", file=sys.stderr)
        return 1
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["python bench/model_selection.py"] + list(argv if argv is not None else sys.argv[1:])),
              "cells": cells}
    text = markdown(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_selection.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "model_selection.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
