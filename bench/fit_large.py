"""Self-supervised DiffPool fit on large sparse graphs (the upload path's sparse first level).

    python bench/fit_large.py [--sizes 10000 100000] [--edges-per-node 10] [--epochs 100]

For each size N, a stochastic block model with N/10,000 ... (10 blocks, ~N·edges_per_node
edges) is generated in O(E) memory and fitted by ``core.fit.fit_graph`` with 10 clusters, each in
a fresh subprocess so that its peak resident memory (ru_maxrss) is its own. Reports wall time of
the fit (features + training + final trace), epochs run (early stopping), peak memory, and NMI/ARI
of the hard level-1 clusters against the planted blocks. Target (issue 4): 100,000 nodes /
1,000,000 edges in under 60 s within 4 GiB on the 2-core CPU. Prints a table and writes
bench/results/fit_large.json and .md. Reports; never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def run_one(num_nodes: int, edges_per_node: float, epochs: int, seed: int) -> dict:
    """Generate and fit one graph in this process; returns the measurements."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from core.analysis import agreement
    from core.fit import FitSettings, fit_graph
    from core.synthetic import make_large_sbm_graph

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    blocks = 10
    size = num_nodes // blocks
    # Within-block probability so that the expected edge count is ~edges_per_node·N (95 % inside blocks).
    p_in = 0.95 * edges_per_node * num_nodes / (blocks * size * (size - 1) / 2)
    p_out = 0.05 * edges_per_node * num_nodes / (blocks * (blocks - 1) / 2 * size * size)
    started = time.perf_counter()
    graph = make_large_sbm_graph([size] * blocks, p_in=p_in, p_out=p_out, seed=seed)
    generated = time.perf_counter() - started
    result = fit_graph(graph, FitSettings(cluster_counts=[blocks], epochs=epochs, seed=seed))
    scores = agreement(np.array(graph.node_data["block"]), result.trace.levels[0].hard_assignment)
    return dict(nodes=graph.num_nodes, edges=graph.num_edges, generate_seconds=round(generated, 2),
                fit_seconds=round(result.seconds, 2), epochs_run=len(result.history), max_epochs=epochs,
                peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
                nmi=round(scores["nmi"], 4), ari=round(scores["ari"], 4), torch_threads=torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--edges-per-node", type=float, default=10.0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.sizes[0], args.edges_per_node, args.epochs, args.seed)))
        return 0
    rows = []
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", "--sizes", str(size), "--edges-per-node",
                   str(args.edges_per_node), "--epochs", str(args.epochs), "--seed", str(args.seed)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    header = "| nodes | edges | fit s | epochs run / max | peak memory GiB | NMI | ARI |\n|---:|---:|---:|---:|---:|---:|---:|\n"
    table = header + "".join(
        f"| {r['nodes']:,} | {r['edges']:,} | {r['fit_seconds']} | {r['epochs_run']} / {r['max_epochs']} | "
        f"{r['peak_rss_gib']} | {r['nmi']} | {r['ari']} |\n" for r in rows
    )
    machine = dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version(),
                   load_average=os.getloadavg())
    command_line = "python bench/fit_large.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = dict(command=command_line.strip(), date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                machine=machine, target="100,000 nodes / 1,000,000 edges in < 60 s within 4 GiB")
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fit_large.json").write_text(json.dumps(dict(meta, rows=rows), indent=2) + "\n", encoding="utf-8")
    (RESULTS / "fit_large.md").write_text(
        f"# Self-supervised fit on large sparse graphs\n\nCommand: `{meta['command']}`  \nDate: {meta['date']}  \n"
        f"Machine: {machine['platform']}, {machine['cpus']} CPUs (load average before: "
        f"{', '.join(f'{x:.2f}' for x in machine['load_average'])})  \nTarget: {meta['target']}\n\n{table}\n"
        "Fit time = structural features + training (early stopping) + final trace; the graph's generation is "
        "not included. Memory = the child process's peak resident set (ru_maxrss), Python and torch included.\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
