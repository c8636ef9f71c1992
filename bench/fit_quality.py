"""Quality of the self-supervised fit against spectral clustering and Leiden, at K = the true group count.

    python bench/fit_quality.py            # every row of bench/results/fit_quality.md (a few minutes)
    python bench/fit_quality.py --quick    # fewer seeds and graphs (a smoke run; writes *_quick files)

Graphs: LFR benchmark graphs (``networkx.LFR_benchmark_graph``, n = 1000, τ1 = 3, τ2 = 1.5,
average degree 20, smallest community 50, μ ∈ {0.1, 0.3, 0.5}; the generator's seed is the first
of 0, 1, 2, … for which it converges), Zachary's karate club (networkx, 2 clubs), and a planted
two-level hierarchy (``core.data.synthetic.make_synthetic_hierarchy``: 4 groups × 3 communities).

Per graph, with K = the number of true groups:
- spectral: ``core.analysis.spectral_clusters`` (normalised, degree-regularised, k-means), seed 0..4;
- Leiden: leidenalg's RBConfiguration (modularity with a resolution γ) on python-igraph, γ found by
  bisection so that Leiden returns K communities (the closest count when no γ gives exactly K);
- ours one-level: ``core.fit.fit_graph(graph, FitSettings(cluster_counts=[K], seed=s))`` for 5 seeds:
  median and worst NMI;
- ours two-level: ``cluster_counts=[K, K2]``; level-1 NMI vs the truth, level-2 NMI vs the group
  truth where the graph has one (hierarchy), else the level-2 verdict of ``core.diagnose``.
Medians over seeds for spectral and Leiden too. One torch thread. Reports; never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.machine import cpu_model  # noqa: E402
RESULTS = ROOT / "bench" / "results"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.analysis.agreement import agreement
from core.analysis.clustering import spectral_clusters  # noqa: E402
from core.data.graphs import Graph  # noqa: E402


def lfr_graph(n: int, mu: float, average_degree: float = 20, min_community: int = 50, tau1: float = 3,
              tau2: float = 1.5, first_seed: int = 0, max_seed: int = 40) -> tuple[Graph, np.ndarray, int]:
    """(graph, truth [n], generator seed): the first generator seed 0, 1, … for which LFR converges
    (within 30 s: a seed whose generation runs longer counts as not converging), starting at ``first_seed``."""
    import signal

    import networkx as nx

    def give_up(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, give_up)
    try:
        for seed in range(first_seed, max_seed):
            signal.alarm(30)  # some seeds make the generator run for many minutes: skip them like failures
            try:
                nxg = nx.LFR_benchmark_graph(n, tau1, tau2, mu, average_degree=average_degree,
                                             min_community=min_community, seed=seed)
            except (nx.ExceededMaxIterations, TimeoutError):
                continue
            finally:
                signal.alarm(0)
            break
        else:
            raise RuntimeError(f"LFR did not converge for n={n} μ={mu} in {max_seed} seeds")
    finally:
        signal.signal(signal.SIGALRM, previous)
    communities = {}
    truth = np.array([communities.setdefault(frozenset(nxg.nodes[v]["community"]), len(communities))
                      for v in range(n)])
    nxg.remove_edges_from(nx.selfloop_edges(nxg))
    return Graph.from_edge_list(n, np.array(list(nxg.edges())), name=f"LFR n={n} μ={mu}"), truth, seed


#: The first converging LFR generator seed per μ for n = 1000 (found by :func:`lfr_graph` from 0 on this
#: machine; μ = 0.5 seed 0 ran for over 5 minutes), so that every run uses the same graphs.
LFR_SEEDS = {0.1: 9, 0.3: 1, 0.5: 1}


def karate_graph() -> tuple[Graph, np.ndarray]:
    import networkx as nx

    nxg = nx.karate_club_graph()
    truth = np.array([0 if nxg.nodes[v]["club"] == "Mr. Hi" else 1 for v in nxg])
    return Graph.from_edge_list(nxg.number_of_nodes(), np.array(list(nxg.edges())), name="karate club"), truth


def hierarchy_graph(seed: int = 0, groups: int = 4, per_group: int = 3, size=(30, 40),
                    p_community: float = 0.3, p_group: float = 0.04, p_between: float = 0.004):
    """(graph, community truth, group truth): one graph of ``make_synthetic_hierarchy`` with ``groups`` groups."""
    from core.data.synthetic import make_synthetic_hierarchy

    classes = groups - 1  # class c has c + 2 groups
    dataset = make_synthetic_hierarchy(num_graphs=classes, seed=seed, num_classes=classes, communities_per_group=per_group,
                                       community_size=size, p_community=p_community, p_group=p_group,
                                       p_between=p_between)
    graph = next(g for g in dataset.graphs if g.label == groups - 2)
    return graph, np.array(graph.node_data["community"]), np.array(graph.node_data["group"])


def leiden_at_k(graph: Graph, k: int, seed: int = 0, iterations: int = 40) -> tuple[np.ndarray, float]:
    """(labels, γ): Leiden (RBConfiguration) with γ bisected (log scale) towards k communities."""
    import igraph as ig
    import leidenalg

    g = ig.Graph(n=graph.num_nodes, edges=graph.edges.tolist())
    weights = graph.weights().tolist()

    def run(gamma: float) -> np.ndarray:
        partition = leidenalg.find_partition(g, leidenalg.RBConfigurationVertexPartition, weights=weights,
                                             resolution_parameter=gamma, seed=seed)
        return np.asarray(partition.membership)

    low, high, best = 1e-3, 1e3, None
    gamma = 1.0
    for _ in range(iterations):
        labels = run(gamma)
        count = int(labels.max()) + 1
        if best is None or abs(count - k) < abs(int(best[0].max()) + 1 - k):
            best = (labels, gamma)
        if count == k:
            return labels, gamma
        if count < k:
            low = gamma
        else:
            high = gamma
        gamma = float(np.sqrt(low * high))
    return best


def nmi(a, b) -> float:
    return float(agreement(np.asarray(a), np.asarray(b))["nmi"])


def evaluate(name: str, graph: Graph, truth: np.ndarray, seeds: list[int], second: int,
             group_truth: np.ndarray | None = None, **fit_kwargs) -> dict:
    from core.train.fit import FitSettings, fit_graph

    k = int(truth.max()) + 1
    spectral = [nmi(truth, spectral_clusters(graph, k, seed=s)) for s in seeds]
    leiden, gammas = [], []
    for s in seeds:
        labels, gamma = leiden_at_k(graph, k, seed=s)
        leiden.append(nmi(truth, labels))
        gammas.append(gamma)
    ours, seconds, verdicts = [], [], []
    for s in seeds:
        result = fit_graph(graph, FitSettings(cluster_counts=[k], seed=s, **fit_kwargs))
        ours.append(nmi(truth, result.trace.levels[0].hard_assignment))
        seconds.append(result.seconds)
        verdicts.append(result.diagnoses[0]["verdict"])
    two_first, two_second, two_verdicts = [], [], []
    for s in (seeds if second is not None else []):
        result = fit_graph(graph, FitSettings(cluster_counts=[k, second], seed=s, **fit_kwargs))
        first, level2 = result.trace.levels
        two_first.append(nmi(truth, first.hard_assignment))
        if group_truth is not None:
            composed = first.assignment @ level2.assignment
            two_second.append(nmi(group_truth, composed.argmax(axis=1)))
        two_verdicts.append("/".join(d["verdict"] for d in result.diagnoses))
    row = dict(graph=name, n=graph.num_nodes, m=graph.num_edges, k=k, k2=second, seeds=seeds,
               spectral=spectral, leiden=leiden, leiden_gamma=gammas, ours=ours, ours_seconds=seconds,
               ours_verdicts=verdicts, two_level_first=two_first, two_level_second=two_second,
               two_level_verdicts=two_verdicts)
    median = statistics.median
    row["summary"] = dict(spectral=median(spectral), leiden=median(leiden), ours_median=median(ours),
                          ours_worst=min(ours),
                          two_first=median(two_first) if two_first else None,
                          two_second=median(two_second) if two_second else None)
    print(f"{name}: n={graph.num_nodes} m={graph.num_edges} K={k} spectral {median(spectral):.3f} leiden "
          f"{median(leiden):.3f} ours {median(ours):.3f} (worst {min(ours):.3f}, {median(seconds):.2f} s) {verdicts} "
          f"two-level {row['summary']['two_first']}/{row['summary']['two_second']} {two_verdicts}", flush=True)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| graph | n | m | K | spectral | Leiden (γ search) | ours one-level median / worst | "
             "ours two-level (K → K2) level 1 / level 2 | level verdicts (two-level, seed 0) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        s = r["summary"]
        second = f"{s['two_second']:.3f}" if s["two_second"] is not None else "no truth"
        first = f"{s['two_first']:.3f}" if s["two_first"] is not None else "—"
        levels = f"({r['k']} → {r['k2']})" if isinstance(r["k2"], int) else f"({r['k2']})"
        lines.append(f"| {r['graph']} | {r['n']} | {r['m']} | {r['k']} | {s['spectral']:.3f} | {s['leiden']:.3f} | "
                     f"{s['ours_median']:.3f} / {s['ours_worst']:.3f} | {levels} {first} / {second} | "
                     f"{r['two_level_verdicts'][0]} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, μ = 0.3 only, no karate repeat")
    parser.add_argument("--out", default=None, help="results stem (default bench/results/fit_quality[_quick])")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [0, 1, 2] if args.quick else [0, 1, 2, 3, 4]
    mus = [0.3] if args.quick else [0.1, 0.3, 0.5]
    started = time.perf_counter()
    rows = []
    for mu in mus:
        graph, truth, generator_seed = lfr_graph(1000, mu, first_seed=LFR_SEEDS.get(mu, 0))
        k = int(truth.max()) + 1
        row = evaluate(f"LFR μ={mu} (generator seed {generator_seed})", graph, truth, seeds, max(2, k // 3))
        rows.append(row)
    graph, truth = karate_graph()
    rows.append(evaluate_karate(graph, truth, seeds))
    graph, communities, groups = hierarchy_graph()
    rows.append(evaluate("planted hierarchy 4 groups × 3 communities", graph, communities, seeds,
                         int(groups.max()) + 1, groups))
    elapsed = time.perf_counter() - started
    stem = Path(args.out) if args.out else RESULTS / ("fit_quality_quick" if args.quick else "fit_quality")
    machine = dict(platform=platform.platform(), cpus=os.cpu_count(), cpu=cpu_model(), python=platform.python_version(),
                   torch=torch.__version__, torch_threads=torch.get_num_threads(), load_average=os.getloadavg())
    command = "python bench/fit_quality.py" + (" --quick" if args.quick else "")
    meta = dict(command=command, date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                machine=machine, seconds=round(elapsed, 1))
    text = table(rows)
    print(text)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(dict(meta, rows=rows), indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".table.md").write_text(
        f"Command: `{command}` · {meta['date']} · {machine['cpu']}, {machine['cpus']} CPUs, torch threads 1 · "
        f"{elapsed:.0f} s\n\n{text}", encoding="utf-8")
    return 0


def evaluate_karate(graph: Graph, truth: np.ndarray, seeds: list[int]) -> dict:
    """Karate club: K = 2 clubs; its two-level fit is 4 → 2 (level 2 scored against the clubs)."""
    from core.train.fit import FitSettings, fit_graph

    row = evaluate("karate club (networkx)", graph, truth, seeds, None)
    second, verdicts = [], []
    for s in seeds:
        result = fit_graph(graph, FitSettings(cluster_counts=[4, 2], seed=s))
        composed = result.trace.levels[0].assignment @ result.trace.levels[1].assignment
        second.append(nmi(truth, composed.argmax(axis=1)))
        verdicts.append("/".join(d["verdict"] for d in result.diagnoses))
    # K = 2 leaves no room for a second level below it: the two-level row is 4 → 2 instead.
    row["k2"] = "4 → 2"
    row["two_level_second"], row["two_level_verdicts"] = second, verdicts
    row["summary"]["two_first"] = None
    row["summary"]["two_second"] = statistics.median(second)
    return row




if __name__ == "__main__":
    sys.exit(main())
