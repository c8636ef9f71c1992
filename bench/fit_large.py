"""Self-supervised DiffPool fit on large sparse graphs, beside Leiden.

    python bench/fit_large.py                                   # 100k nodes / ~1M edges, 100 groups, seeds 0 1 2
    python bench/fit_large.py --nodes 1000000 --edges 10000000 --seeds 0 --no-leiden --stem fit_large_1m

A planted partition (``core.data.synthetic.make_large_sbm_graph``, sampled in O(E) memory): ``groups``
equal groups, ``inside`` (80 %) of the ~``edges`` edges inside groups. Each run happens in a fresh
subprocess with torch at one thread, so its peak resident memory (ru_maxrss) is its own:

- ours: ``core.fit.fit_graph(graph, FitSettings(cluster_counts=[groups], seed=s, diagnose=False))``
  — wall time and CPU time of the fit (features + warm start + training + trace), training steps;
- Leiden: leidenalg's modularity partition (γ = 1, its partition taken as is) on python-igraph,
  graph conversion included.

NMI / ARI against the planted groups. Then a threads line: the same small fit (a 1,000-node LFR-like
planted partition) at one torch thread (the CLI and the app's setting) and at torch's default
thread count, side by side in one process, as the upload page calls it (``fit_graph``). Writes
bench/results/<stem>.json and .md. Reports; never asserts. On a busy machine wall time exceeds CPU
time; both are recorded, with the load average.
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


def _graph(nodes: int, edges: int, groups: int, inside: float, seed: int):
    from core.data.synthetic import make_large_sbm_graph

    size = nodes // groups
    p_in = inside * edges / (groups * size * (size - 1) / 2)
    p_out = (1 - inside) * edges / (groups * (groups - 1) / 2 * size * size)
    return make_large_sbm_graph([size] * groups, p_in=p_in, p_out=p_out, seed=seed)


def run_one(method: str, nodes: int, edges: int, groups: int, inside: float, seed: int) -> dict:
    """Generate one graph and cluster it in this process; returns the measurements."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from core.analysis.agreement import agreement

    torch.set_num_threads(1)
    graph = _graph(nodes, edges, groups, inside, seed)
    truth = np.array(graph.node_data["block"])
    wall, cpu = time.perf_counter(), time.process_time()
    if method == "ours":
        from core.train.fit import FitSettings, fit_graph

        result = fit_graph(graph, FitSettings(cluster_counts=[groups], seed=seed, diagnose=False))
        labels, steps = result.trace.levels[0].hard_assignment, len(result.history)
    else:
        import igraph as ig
        import leidenalg

        g = ig.Graph(n=graph.num_nodes, edges=graph.edges)
        labels = np.asarray(leidenalg.find_partition(g, leidenalg.ModularityVertexPartition, seed=seed).membership)
        steps = None
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = agreement(truth, labels)
    return dict(method=method, seed=seed, nodes=graph.num_nodes, edges=graph.num_edges, groups=groups,
                clusters_found=int(len(np.unique(labels))), wall_seconds=round(wall, 2), cpu_seconds=round(cpu, 2),
                steps=steps, peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
                nmi=round(scores["nmi"], 4), ari=round(scores["ari"], 4))


def threads_line() -> dict:
    """The same 1,000-node fit at one torch thread and at torch's default count, alternating, 3 times each."""
    sys.path.insert(0, str(ROOT))
    import torch

    from core.train.fit import FitSettings, fit_graph

    default_threads = torch.get_num_threads()
    graph = _graph(1000, 10_000, 10, 0.7, 0)
    fit_graph(graph, FitSettings(cluster_counts=[10], diagnose=False))  # warm-up (imports, allocator)
    times = {1: [], default_threads: []}
    for _ in range(3):
        for threads in times:
            torch.set_num_threads(threads)
            started = time.perf_counter()
            fit_graph(graph, FitSettings(cluster_counts=[10], seed=0, diagnose=False))
            times[threads].append(round(time.perf_counter() - started, 3))
    return dict(graph="planted partition, 1,000 nodes, ~10,000 edges, K = 10", default_threads=default_threads,
                seconds={str(k): v for k, v in times.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--inside", type=float, default=0.8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-leiden", action="store_true")
    parser.add_argument("--no-threads", action="store_true", help="skip the one-thread vs default-threads line")
    parser.add_argument("--stem", default="fit_large")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args.child[0], args.nodes, args.edges, args.groups, args.inside, int(args.child[1]))))
        return 0
    load_before = os.getloadavg()
    rows = []
    for seed in args.seeds:
        for method in ["ours"] + ([] if args.no_leiden else ["leiden"]):
            command = [sys.executable, __file__, "--child", method, str(seed), "--nodes", str(args.nodes), "--edges",
                       str(args.edges), "--groups", str(args.groups), "--inside", str(args.inside)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    threads = None if args.no_threads else threads_line()
    header = ("| method | seed | nodes | edges | K | clusters found | wall s | CPU s | steps | peak memory GiB | NMI | ARI |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    table = header + "".join(
        f"| {r['method']} | {r['seed']} | {r['nodes']:,} | {r['edges']:,} | {r['groups']} | {r['clusters_found']} | "
        f"{r['wall_seconds']} | {r['cpu_seconds']} | {r['steps'] if r['steps'] is not None else '—'} | "
        f"{r['peak_rss_gib']} | {r['nmi']} | {r['ari']} |\n" for r in rows)
    if threads:
        table += (f"\nThreads ({threads['graph']}, `fit_graph` as the upload page calls it, 3 runs each, alternating): "
                  + "; ".join(f"{k} thread(s): {v} s" for k, v in threads["seconds"].items()) + "\n")
    from bench.machine import cpu_model

    machine = dict(platform=platform.platform(), cpus=os.cpu_count(), cpu=cpu_model(), python=platform.python_version(),
                   load_average_before=load_before, load_average_after=os.getloadavg())
    command_line = "python bench/fit_large.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = dict(command=command_line.strip(), date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                machine=machine, target="100,000 nodes / 1,000,000 edges, K = 100: ≤ 30 s on one core, NMI ≥ 0.95, < 4 GiB")
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.stem}.json").write_text(json.dumps(dict(meta, rows=rows, threads=threads), indent=2) + "\n",
                                               encoding="utf-8")
    (RESULTS / f"{args.stem}.md").write_text(
        f"# Self-supervised fit on a large planted partition, beside Leiden\n\nCommand: `{meta['command']}`  \n"
        f"Date: {meta['date']}  \nMachine: {machine['cpu']}, {machine['cpus']} CPUs, torch at one thread (load average before: "
        f"{', '.join(f'{x:.2f}' for x in load_before)}; after: {', '.join(f'{x:.2f}' for x in machine['load_average_after'])})"
        f"  \nTarget: {meta['target']}\n\n{table}\n"
        "Ours = `fit_graph` (features + warm start + training + trace; diagnosis off); Leiden = igraph conversion + "
        "`leidenalg.ModularityVertexPartition` (γ = 1, partition as is). The graph's generation is not timed. Memory = "
        "the child process's peak resident set (ru_maxrss), Python and torch included. CPU s is the process's CPU "
        "time: on a shared machine wall time is larger by the load.\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
