"""Summarise bench/results/diagnosis/graphs/<model>.json (written by bench/diagnosis_shares.sh) as one table.

Rows of shipped models with no per-graph file this time are kept from the previous shares.json.

Writes bench/results/diagnosis/shares.md and shares.json: per shipped model and level, the share
of graphs with each verdict and the dataset means of the structure numbers.

    python3 bench/diagnosis_table.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.analysis.diagnosis import VERDICTS  # noqa: E402

FOLDER = ROOT / "bench" / "results" / "diagnosis"


def _mean(levels: list[dict], key: str) -> float | None:
    values = [level[key] for level in levels if level.get(key) is not None]
    return float(np.mean(values)) if values else None


def main() -> None:
    rows = []
    for path in sorted((FOLDER / "graphs").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for share in document["shares"]:
            level = share["level"]
            levels = [g["levels"][level] for g in document["graphs"] if len(g["levels"]) > level]
            rows.append({
                "model": path.stem, "dataset": document["dataset"], "level": level, "graphs": share["graphs"],
                **{v: share["shares"][v] for v in VERDICTS},
                **{f"mean_{k}": _mean(levels, k) for k in ("modularity", "modularity_louvain", "connected_share",
                                                          "label_nmi", "entropy_normalised", "truth_nmi")},
            })
    # The per-graph files are not committed: a run that diagnosed only some models (a model just shipped)
    # keeps the previous table's rows of every other model still shipped.
    fresh = {row["model"] for row in rows}
    previous = FOLDER / "shares.json"
    kept = [row for row in (json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else [])
            if row["model"] not in fresh and (ROOT / "pretrained" / f"{row['model']}.json").is_file()]
    rows = sorted(rows + kept, key=lambda row: (row["model"], row["level"]))
    previous.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    fmt = lambda v: "—" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["| model | dataset | level | graphs | " + " | ".join(VERDICTS)
             + " | modularity (Louvain) | connected share | label NMI |",
             "|---" * (7 + len(VERDICTS)) + "|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['dataset']} | {r['level']} | {r['graphs']} | "
                     + " | ".join(f"{r[v]:.0%}" for v in VERDICTS)
                     + f" | {fmt(r['mean_modularity'])} ({fmt(r['mean_modularity_louvain'])})"
                     f" | {fmt(r['mean_connected_share'])} | {fmt(r['mean_label_nmi'])} |")
    timings = FOLDER / "graphs" / "timings.txt"
    from bench.machine import cpu_model

    cpu = cpu_model()
    lines += ["", "Command: `bash bench/diagnosis_shares.sh [TU folder] [model ...]` (per shipped model, or per "
              "model named, `python3 -m core.diagnose --model NAME --dataset DATASET --all --json --threads 1`, then "
              "`python3 bench/diagnosis_table.py`, which keeps the previous rows of shipped models not diagnosed "
              "this time" + (f": here {', '.join(sorted({row['model'] for row in kept}))}" if kept else "") + ").",
              f"Machine of the last run: {os.cpu_count()} cores, {cpu}; shared with other jobs when measured "
              "(timings noisy)."]
    if timings.is_file():
        lines += ["", "Wall time per model (whole dataset, one torch thread): "
                  + "; ".join(line.strip() for line in timings.read_text().splitlines() if line.strip()) + "."]
    (FOLDER / "shares.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
