"""Stability of a shipped model's clusters across retrainings with other seeds.

    python3 bench/seed_stability.py [NAME] [--graphs 60]

Runs ``pretrained/NAME`` and every ``pretrained/seeds/NAME-seed<k>`` on the first ``--graphs``
graphs of its dataset, matches each graph's level-1 clusters across models (Hungarian) and reports
the mean pairwise NMI / ARI and the share of nodes stable in every model, with the same for
self-supervised structure fits of each graph (core.fit, seeds 0–4, the clusters the shipped model
uses) beside it. One torch thread. Adds (or replaces) the model's entry in bench/results/seed_stability.json
and rewrites the table of every model measured in bench/results/seed_stability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.analysis.agreement import clustering_stability  # noqa: E402
from core.model.checkpoint import load_checkpoint  # noqa: E402
from core.data.datasets import load_dataset  # noqa: E402
from core.train.fit import FitSettings, fit_graph  # noqa: E402
from core.model.inference import trace_graphs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", nargs="?", default="synthetic-hierarchy-diffpool")
    parser.add_argument("--graphs", type=int, default=60)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "TU"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    shipped = ROOT / "pretrained" / args.name
    stems = [shipped] + sorted(p.with_suffix("") for p in (ROOT / "pretrained" / "seeds").glob(f"{args.name}-seed*.json"))
    if len(stems) < 2:
        raise SystemExit(f"no sibling seed models for {args.name} in pretrained/seeds/")
    card = load_checkpoint(shipped)[2]
    dataset = load_dataset(card["dataset"], data_dir=args.data_dir, download=False, progress=False)
    indices = list(range(min(args.graphs, len(dataset))))
    graphs = [dataset[i] for i in indices]
    per_model = []
    for stem in stems:
        model, spec, model_card = load_checkpoint(stem)
        per_model.append(trace_graphs(model, graphs, spec, indices, seed=int(model_card.get("seed", 0) or 0)))
    models, fits = [], []
    for position, graph in enumerate(graphs):
        runs = [traces[position].levels[0].hard_assignment for traces in per_model]
        models.append(clustering_stability(runs))
        used = max(2, len(np.unique(runs[0])))
        fitted = [fit_graph(graph, FitSettings(cluster_counts=[used], seed=s)).trace.levels[0].hard_assignment
                  for s in range(5)]
        fits.append(clustering_stability(fitted))

    def summary(results):
        return {"mean_nmi": float(np.mean([r["mean_nmi"] for r in results])),
                "mean_ari": float(np.mean([r["mean_ari"] for r in results])),
                "stable_node_share": float(np.mean([(r["node_agreement"] == 1).mean() for r in results]))}

    result = {
        "command": "python3 bench/seed_stability.py " + " ".join(sys.argv[1:]),
        "model": args.name, "models": [s.name for s in stems], "dataset": card["dataset"], "graphs": len(graphs),
        "across_trained_models": summary(models), "across_structure_fits": summary(fits),
        "seconds": round(time.perf_counter() - started, 1), "nproc": os.cpu_count(), "torch_threads": 1,
    }
    out = ROOT / "bench" / "results"
    # one file for every model measured: this run's entry replaces the model's earlier one
    path = out / "seed_stability.json"
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    everything = {stored["model"]: stored} if "model" in stored else stored.get("by_model", {})
    everything[args.name] = result
    path.write_text(json.dumps({"by_model": everything}, indent=1), encoding="utf-8")
    lines = ["# Stability of shipped models' level-1 clusters across training seeds", "",
             "Per model: the model and its `pretrained/seeds/` siblings run on the first graphs of its dataset, each "
             "graph's level-1 clusters matched across models (Hungarian); beside it, self-supervised structure fits "
             "of the same graphs (core.fit, seeds 0–4, as many clusters as the shipped model uses on the graph). "
             "One torch thread.", "",
             "| model | dataset, graphs | runs | mean pairwise NMI | mean pairwise ARI | nodes stable in every run | command, time |",
             "|---|---|---|---|---|---|---|"]
    for name, entry in everything.items():
        for label, key in ((f"trained: {len(entry['models'])} seeds", "across_trained_models"),
                           ("structure fits, seeds 0–4", "across_structure_fits")):
            r = entry[key]
            lines.append(f"| {name} | {entry['dataset']}, {entry['graphs']} | {label} | {r['mean_nmi']:.3f} | "
                         f"{r['mean_ari']:.3f} | {r['stable_node_share']:.0%} | `{entry['command']}`, "
                         f"{entry['seconds']} s, {entry['nproc']} cores |")
    (out / "seed_stability.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
