"""Does structure cost accuracy? Honest accuracy beside what each model's pooling is, per dataset.

For each (dataset, model) row: the model's honest 10-fold accuracy (from its cross-validation
summary, or its card when only some folds ran) and, on the graphs of its held-out fold, the
diagnosis of every pooling level (core.diagnose): the share of each verdict and the mean
modularity ratio (the partition's modularity over Louvain's on the same graph).

    python bench/structure_vs_accuracy.py                 # the rows below, data from ../shared/data/TU
    python bench/structure_vs_accuracy.py --data-dir DIR

Writes bench/results/structure_vs_accuracy.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.model.checkpoint import load_checkpoint  # noqa: E402
from core.data.datasets import load_dataset  # noqa: E402
from core.diagnose import held_out_structure  # noqa: E402
from core.train.loop import cpu_model  # noqa: E402

PRETRAINED = ROOT / "pretrained"
RESULTS = ROOT / "bench" / "results"
#: Stands for the retired proteins-diffpool, restored from git history (``--proteins-reference``).
PROTEINS_REFERENCE = Path("<proteins-reference>")


def grid_run(config: str, run: str) -> Path:
    """A selection-grid run folder: ``bench/results/selection_grid/runs/<config>/<run>``."""
    return RESULTS / "selection_grid" / "runs" / config / run


def structural_long(dataset: str) -> tuple:
    """The row of the long grid's structural configuration (shipped as ``<dataset>-diffpool-structural-long``)."""
    return (dataset, "structural DiffPool, hidden 64, input norm, eigenvectors for S only, ≤ 2,000 epochs "
                     "(2 levels, 8 → 4)", PRETRAINED / f"{dataset.lower()}-diffpool-structural-long",
            grid_run("h64-l2-max-dmon-in-pa16-k8-lr0.001-p300", f"{dataset}-diffpool"))


#: (dataset, row name, checkpoint stem or None (accuracy only), folder with the cross-validation fold files)
ROWS = [
    ("ENZYMES", "reference DiffPool (1 level, 12 clusters)", PRETRAINED / "enzymes-diffpool",
     RESULTS / "reproduce" / "ENZYMES-diffpool"),
    ("ENZYMES", "structural DiffPool (2 levels, 8 → 4)", PRETRAINED / "enzymes-diffpool-structural",
     RESULTS / "structural" / "runs" / "ENZYMES-structural2"),
    ("ENZYMES", "DiffPool, hidden 64, input norm, ≤ 2,000 epochs (1 level, 12)", PRETRAINED / "enzymes-diffpool-long",
     grid_run("h64-l1-max-ref-in-lr0.001-p300", "ENZYMES-diffpool")),
    ("ENZYMES", "DiffPool, hidden 64, input norm, ≤ 2,000 epochs (2 levels, 12 → 2)",
     PRETRAINED / "enzymes-diffpool-2level-long",
     grid_run("h64-l2-max-ref-in-lr0.001-p300", "ENZYMES-diffpool")),
    structural_long("ENZYMES"),
    ("ENZYMES", "the same with a sum readout (2 levels, 8 → 4)", PRETRAINED / "enzymes-diffpool-structural-sum-long",
     grid_run("h64-l2-sum-dmon-in-pa16-k8-lr0.001-p300", "ENZYMES-diffpool")),
    ("ENZYMES", "structure-agnostic baseline, ≤ 2,000 epochs (no pooling)", PRETRAINED / "enzymes-baseline",
     grid_run("baseline-h128-lr0.001-p300", "ENZYMES-baseline")),
    ("PROTEINS", "reference DiffPool (1 level, 62 clusters)", PROTEINS_REFERENCE, RESULTS / "reproduce" / "PROTEINS-diffpool"),
    ("PROTEINS", "structural DiffPool (2 levels, 8 → 4)", PRETRAINED / "proteins-diffpool-structural",
     RESULTS / "structural" / "runs" / "PROTEINS-structural2"),
    ("PROTEINS", "DiffPool, hidden 64, input norm, ≤ 2,000 epochs (2 levels, 62 → 6)", None,
     grid_run("h64-l2-max-ref-in-lr0.001-p300", "PROTEINS-diffpool")),
    structural_long("PROTEINS"),
    ("PROTEINS", "the same with a sum readout (2 levels, 8 → 4)", None,
     grid_run("h64-l2-sum-dmon-in-pa16-k8-lr0.001-p300", "PROTEINS-diffpool")),
    ("PROTEINS", "DiffPool, hidden 64, sum readout, no link prediction, ≤ 500 epochs, patience 50 (2 levels, "
                 "62 → 6; the full grid's h64-l2-sum-nolp-lr0.001)", PRETRAINED / "proteins-diffpool-2level-sum-nolp",
     grid_run("h64-l2-sum-nolp-lr0.001", "PROTEINS-diffpool-nolp")),
    ("PROTEINS", "structure-agnostic baseline, ≤ 2,000 epochs (no pooling)", PRETRAINED / "proteins-baseline",
     grid_run("baseline-h128-lr0.001-p300", "PROTEINS-baseline")),
    ("DD", "reference DiffPool (1 level, 100 clusters)", PRETRAINED / "dd-diffpool", RESULTS / "dd" / "runs" / "DD-diffpool"),
    ("DD", "reference DiffPool, sum readout", PRETRAINED / "dd-diffpool-sum",
     RESULTS / "readout-sum" / "runs" / "DD-diffpool"),
    ("DD", "structural DiffPool (2 levels, 32 → 8)", PRETRAINED / "dd-diffpool-structural",
     RESULTS / "structural" / "runs" / "DD-structural2"),
    ("DD", "structural DiffPool, hidden 64, input norm, eigenvectors for S only, sum readout, ≤ 500 epochs "
           "(2 levels, 8 → 4)", PRETRAINED / "dd-diffpool-structural-sum",
     grid_run("h64-l2-sum-dmon-in-pa16-k8-lr0.001", "DD-diffpool")),
    ("DD", "the same, ≤ 2,000 epochs, patience 300 (2 levels, 8 → 4; accuracy over the grid's folds, "
           "structure of the shipped model, whose fold 0 was retrained)",
     PRETRAINED / "dd-diffpool-structural-sum-long",
     grid_run("h64-l2-sum-dmon-in-pa16-k8-lr0.001-p300", "DD-diffpool")),
    ("DD", "structure-agnostic baseline, ≤ 2,000 epochs (no pooling)", PRETRAINED / "dd-baseline",
     grid_run("baseline-h128-lr0.001-p300", "DD-baseline")),
]


def fold_accuracies(folder: Path) -> list[float]:
    """Test accuracies (%) of the finished folds in ``folder/folds``."""
    return [100 * json.loads(p.read_text())["test_acc"] for p in sorted((folder / "folds").glob("fold-*.json"))]


def structure(stem: Path, data_dir: str | None, max_graphs: int) -> dict:
    model, spec, card = load_checkpoint(stem)
    dataset = load_dataset(card["dataset"], data_dir=data_dir, download=False)
    return {"held_out_accuracy": 100 * card["accuracy"]["test"],
            "levels": held_out_structure(model, spec, card, dataset, max_graphs)["levels"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "TU"))
    parser.add_argument("--max-graphs", type=int, default=120, help="held-out graphs diagnosed per model")
    parser.add_argument("--proteins-reference", type=Path, default=None,
                        help="checkpoint stem of the retired proteins-diffpool (restore it from git history: "
                             "git show 67e5d41~1:pretrained/proteins-diffpool.json > /tmp/proteins-diffpool.json, "
                             "same for .safetensors) to diagnose the PROTEINS reference row")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = [(d, n, args.proteins_reference if s == PROTEINS_REFERENCE else s, f) for d, n, s, f in ROWS]
    out = []
    for dataset, name, stem, folder in rows:
        accuracies = fold_accuracies(folder)
        row = {"dataset": dataset, "model": name, "checkpoint": None if stem is None else stem.name,
               "folds": len(accuracies),
               "mean": statistics.fmean(accuracies) if accuracies else None,
               "std": statistics.pstdev(accuracies) if len(accuracies) > 1 else None}
        if stem is not None and stem.with_suffix(".json").is_file():
            row.update(structure(stem, args.data_dir, args.max_graphs))
        out.append(row)
        print(row["dataset"], row["model"], row.get("mean"), [
            (lv["level"], round(lv["shares"]["healthy"], 2), lv["modularity_ratio"]) for lv in row.get("levels", [])])
    report = {"generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "command": "python bench/structure_vs_accuracy.py " + " ".join(argv or sys.argv[1:]),
              "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu": cpu_model()},
              "rows": out}
    (RESULTS / "structure_vs_accuracy.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / "structure_vs_accuracy.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def _pct(value) -> str:
    return "—" if value is None else f"{value:.0%}"


def markdown(report: dict) -> str:
    lines = ["# Does structure cost accuracy?", "",
             f"Generated {report['generated']} by `{report['command'].strip()}` on "
             f"{report['machine'].get('cpu') or 'a CPU not recorded'}. Models fed Laplacian eigenvectors can move "
             "by a graph on another CPU family (README, Known limitations); the cards were written on AMD EPYC.", "",
             "Accuracy: honest protocol (test fold at the best-validation epoch), mean ± std over the folds that "
             "ran. Structure: the diagnosis (core.diagnose) of each pooling level on the model's held-out fold "
             "graphs — share of graphs per verdict, mean modularity ratio (partition / Louvain), mean NMI of the "
             "level-1 clusters with the node labels.", "",
             "| dataset | model | honest accuracy (folds) | held-out fold | level | healthy | fragmented | "
             "feature-driven | collapsed | uniform | modularity ratio | label NMI |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in report["rows"]:
        accuracy = "—" if row["mean"] is None else (
            f"{row['mean']:.1f} ± {row['std']:.1f} ({row['folds']})" if row["std"] is not None
            else f"{row['mean']:.1f} ({row['folds']})")
        held = f"{row['held_out_accuracy']:.1f}" if "held_out_accuracy" in row else "—"
        for lv in row.get("levels") or [None]:
            if lv is None:
                lines.append(f"| {row['dataset']} | {row['model']} | {accuracy} | {held} | — | | | | | | | |")
                continue
            s = lv["shares"]
            ratio = "—" if lv["modularity_ratio"] is None else f"{lv['modularity_ratio']:.2f}"
            nmi = "—" if lv["label_nmi"] is None else f"{lv['label_nmi']:.2f}"
            lines.append(f"| {row['dataset']} | {row['model']} | {accuracy} | {held} | {lv['level']} ({lv['clusters']}) | "
                         f"{_pct(s['healthy'])} | {_pct(s['fragmented'])} | {_pct(s['feature-driven'])} | "
                         f"{_pct(s['collapsed'])} | {_pct(s['uniform'])} | {ratio} | {nmi} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
