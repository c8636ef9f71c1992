"""What a cell of the paper table costs: seconds per epoch and peak memory, measured, then scaled.

    python bench/epoch_cost.py --datasets COLLAB --data-dir /tmp/tu
    python bench/epoch_cost.py --datasets DD REDDIT-MULTI-12K-standin --data-dir ../shared/data/TU
    python bench/epoch_cost.py --datasets COLLAB --data-dir /tmp/tu --device cuda

For each dataset, in a fresh subprocess (so the peak resident memory is its own): load it, take
fold 0 of ``bench/reproduce.py``'s protocol (stratified 10-fold, 10 % validation), train
``--epochs`` epochs of ``--variant`` with ``core.train``'s defaults (plus ``--max-clusters``),
and time every epoch (training + validation + test evaluation, as the table's runs spend it).
Reports the median epoch after the first, peak RSS (and peak CUDA memory), and the projected
time of a full cell: 10 folds × 100 epochs (our table) and × 1,000 (the reference code), for one
worker. Prints a table, writes bench/results/epoch_cost[-<device>].json and .md. Never asserts.

``REDDIT-MULTI-12K-standin``: REDDIT-MULTI-12K is not available offline, so its cost is
measured on a generated stand-in with its published statistics — 11,929 graphs, 11 classes,
391 nodes and 457 edges per graph on average, 3,782 nodes at most — built as sparse, tree-like
discussion threads (replies skewed toward early comments, plus a few extra edges) with node
counts drawn from a log-normal fitted to that mean and cut at that maximum. Its accuracy means
nothing; its cost follows the same sizes. The real dataset downloads from the TU site
(``--data-dir`` or the cache).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STANDIN = "REDDIT-MULTI-12K-standin"
REDDIT_STATS = dict(graphs=11_929, classes=11, mean_nodes=391.4, mean_edges=456.9, max_nodes=3_782)
TABLE_EPOCHS, REFERENCE_EPOCHS, FOLDS = 100, 1000, 10


def reddit_standin(seed: int = 0):
    """A generated dataset with REDDIT-MULTI-12K's size statistics (see the module docstring)."""
    import numpy as np

    from core.data.graphs import Graph, GraphDataset

    rng = np.random.default_rng(seed)
    sigma = 1.0
    mu = np.log(REDDIT_STATS["mean_nodes"]) - sigma**2 / 2
    sizes = np.clip(rng.lognormal(mu, sigma, REDDIT_STATS["graphs"]).astype(int), 10, REDDIT_STATS["max_nodes"])
    sizes[0] = REDDIT_STATS["max_nodes"]
    extra_per_node = REDDIT_STATS["mean_edges"] / REDDIT_STATS["mean_nodes"] - 1
    graphs = []
    for index, n in enumerate(sizes):
        # A reply tree skewed toward early comments (hubs): node i answers node ⌊i·U²⌋.
        parents = (np.arange(1, n) * rng.random(n - 1) ** 2).astype(np.int64)
        tree = np.stack([np.arange(1, n), parents], axis=1)
        extra = rng.integers(0, n, size=(int(extra_per_node * n), 2))
        pairs = np.concatenate([tree, extra[extra[:, 0] != extra[:, 1]]])
        graphs.append(Graph.from_edge_list(int(n), pairs, label=int(index % REDDIT_STATS["classes"]),
                                           name=f"standin-{index}"))
    return GraphDataset(STANDIN, graphs, [str(c) for c in range(REDDIT_STATS["classes"])], source="generated")


def measure(name: str, args: argparse.Namespace) -> dict:
    """Load ``name`` and time ``args.epochs`` epochs of fold 0, in this process."""
    sys.path.insert(0, str(ROOT))
    import time

    import numpy as np
    import torch

    from core.data.datasets import load_dataset
    from core.train.settings import TrainSettings, feature_spec_for, model_config_for
    from core.train.crossval import cross_validate

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    dataset = reddit_standin() if name == STANDIN else load_dataset(name, data_dir=args.data_dir, download=False)
    load_seconds = time.perf_counter() - started
    settings = TrainSettings(dataset=dataset.name, variant=args.variant, folds=FOLDS, epochs=args.epochs,
                             only_folds=[0], max_clusters=args.max_clusters, adjacency=args.adjacency,
                             device=args.device)
    spec = feature_spec_for(dataset, settings.features)
    config = model_config_for(dataset, spec, settings)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    summary = cross_validate(dataset, settings, progress=False)
    fold = summary["folds"][0]
    seconds = [row["seconds"] for row in fold["history"]]
    steady = seconds[1:] if len(seconds) > 1 else seconds
    epoch = statistics.median(steady)
    sizes = np.array([g.num_nodes for g in dataset.graphs])
    edges = np.array([g.num_edges for g in dataset.graphs])
    result = dict(
        dataset=name, graphs=len(dataset), mean_nodes=round(float(sizes.mean()), 1), max_nodes=int(sizes.max()),
        mean_edges=round(float(edges.mean()), 1), features=spec.kind,
        clusters=config.cluster_counts, train_graphs=fold["sizes"]["train"], load_seconds=round(load_seconds, 1),
        epoch_seconds=[round(s, 2) for s in seconds], median_epoch_seconds=round(epoch, 2),
        cell_hours_100=round(epoch * TABLE_EPOCHS * FOLDS / 3600, 2),
        cell_hours_1000=round(epoch * REFERENCE_EPOCHS * FOLDS / 3600, 1),
        peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    )
    if args.device.startswith("cuda"):
        result["peak_cuda_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["gpu"] = torch.cuda.get_device_name()
    return result


def markdown(report: dict) -> str:
    lines = [
        "# Cost of one table cell, measured",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        f"Machine: {report['machine']}. Variant `{report['variant']}`, device `{report['device']}`, "
        f"{report['threads']} torch thread(s), level-1 clusters capped at {report['max_clusters']}, "
        f"adjacency `{report['adjacency']}`. Epoch = training + validation + test evaluation of fold 0; "
        f"median of epochs 2..{report['epochs']}. A cell = {FOLDS} folds on one worker.",
        "",
        "| dataset | graphs | nodes mean / max | edges mean | clusters | s / epoch | peak memory "
        f"| cell, {TABLE_EPOCHS} epochs | cell, {REFERENCE_EPOCHS} epochs |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        if "error" in r:
            lines.append(f"| {r['dataset']} | failed: {r['error']} |||||||| ")
            continue
        memory = f"{r['peak_rss_gib']} GiB RSS" + (f", {r['peak_cuda_gib']} GiB CUDA" if "peak_cuda_gib" in r else "")
        lines.append(
            f"| {r['dataset']} | {r['graphs']:,} | {r['mean_nodes']} / {r['max_nodes']:,} | {r['mean_edges']} "
            f"| {r['clusters']} | {r['median_epoch_seconds']} | {memory} | {r['cell_hours_100']} h "
            f"| {r['cell_hours_1000']} h |")
    lines += ["", f"{STANDIN}: generated with REDDIT-MULTI-12K's published sizes (bench/epoch_cost.py "
              "docstring); its cost, not its accuracy, stands for the real dataset's."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["COLLAB", STANDIN])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--variant", default="diffpool")
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed (the first is excluded when >1)")
    parser.add_argument("--max-clusters", type=int, default=100)
    parser.add_argument("--adjacency", default="auto", choices=("auto", "dense", "sparse"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: measure one in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return 0

    rows = []
    for name in args.datasets:
        command = [sys.executable, __file__, "--one", name, "--variant", args.variant, "--epochs", str(args.epochs),
                   "--max-clusters", str(args.max_clusters), "--adjacency", args.adjacency,
                   "--device", args.device, "--threads", str(args.threads)]
        if args.data_dir:
            command += ["--data-dir", args.data_dir]
        print(f"measuring {name} ...", flush=True)
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            rows.append(dict(dataset=name, error=done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"))
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)

    report = dict(
        generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command="python bench/epoch_cost.py " + " ".join(sys.argv[1:] if argv is None else argv),
        machine=f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        variant=args.variant, device=args.device, threads=args.threads, max_clusters=args.max_clusters,
        adjacency=args.adjacency, epochs=args.epochs, rows=rows,
    )
    suffix = "" if args.device == "cpu" else f"-{args.device.split(':')[0]}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"epoch_cost{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"epoch_cost{suffix}.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
