"""Dense vs sparse first-level adjacency: training epoch time of the same model, side by side.

    python bench/adjacency_formats.py [--datasets ENZYMES PROTEINS DD] [--epochs 5]

For each dataset: one DiffPool (core.train defaults, level-1 clusters capped at
``--max-clusters``), trained with ``core.train``'s default batches, alternating epochs with the
batch adjacency collated as a dense [B, N, N] tensor and as a
:class:`core.data.adjacency.SparseAdjacency`, the latter multiplied two ways (``product``: gathering
messages and summing them into rows, as before 2026-12-01, and one sparse CSR product, now). The same
batches and weights for all three in each round: the model is reset to the same state before each
epoch. One warm-up epoch each, then ``--epochs`` interleaved timed epochs; medians and the ratios of
medians. The formats' first-step losses (same weights, same batch) are compared too: they must
agree to float rounding. Prints a table, writes
bench/results/adjacency_formats.json and .md. Never asserts.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.data.adjacency import SparseAdjacency  # noqa: E402
from core.data.batching import collate, prepare_graphs  # noqa: E402
from core.data.datasets import load_dataset  # noqa: E402
from core.model.diffpool import DiffPool  # noqa: E402
from core.train.settings import TrainSettings, feature_spec_for, model_config_for
from core.train.loop import cpu_model, epoch_batches, train_step  # noqa: E402

#: The batch adjacency as a dense tensor; as an edge list multiplied by gathering messages and summing
#: them into rows (the product before 2026-12-01); as an edge list multiplied as one CSR matrix (now).
FORMATS = ("dense", "sparse-gather", "sparse")


def one_epoch(model: DiffPool, prepared, batches, adjacency: str) -> tuple[float, float]:
    """Train one epoch from a copy of ``model``; returns (seconds, loss of the first step)."""
    model = copy.deepcopy(model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=TrainSettings().lr)
    SparseAdjacency.product = "gather" if adjacency == "sparse-gather" else "csr"
    started, losses = time.perf_counter(), []
    try:
        for positions in batches:
            batch = collate([prepared[i] for i in positions], adjacency=adjacency.removesuffix("-gather"))
            loss, _ = train_step(model, model, optimizer, batch, TrainSettings().clip)
            losses.append(float(loss))
    finally:
        SparseAdjacency.product = "csr"
    return time.perf_counter() - started, losses[0]


def measure(name: str, args: argparse.Namespace) -> dict:
    dataset = load_dataset(name, data_dir=args.data_dir, download=False)
    settings = TrainSettings(dataset=name, max_clusters=args.max_clusters)
    spec = feature_spec_for(dataset)
    config = model_config_for(dataset, spec, settings)
    prepared = prepare_graphs(dataset.graphs, spec, config.variant, config.cluster_counts)
    torch.manual_seed(0)
    model = DiffPool(config)
    times = {f: [] for f in FORMATS}
    loss_gap = 0.0
    for round_ in range(args.epochs + 1):
        batches = epoch_batches([g.num_nodes for g in prepared], settings.batch_size, round_, settings.batching)
        losses = {}
        for adjacency in FORMATS:
            seconds, losses[adjacency] = one_epoch(model, prepared, batches, adjacency)
            if round_ > 0:  # round 0 is the warm-up
                times[adjacency].append(seconds)
        loss_gap = max(loss_gap, *(abs(losses["dense"] - losses[f]) / max(abs(losses["dense"]), 1e-12)
                                   for f in FORMATS[1:]))
    dense, gather, sparse = (statistics.median(times[f]) for f in FORMATS)
    return dict(dataset=name, graphs=len(dataset), max_nodes=dataset.max_nodes, clusters=config.cluster_counts,
                dense_seconds=round(dense, 3), gather_seconds=round(gather, 3), sparse_seconds=round(sparse, 3),
                speedup=round(dense / sparse, 2), csr_speedup=round(gather / sparse, 2),
                dense_all=[round(t, 3) for t in times["dense"]], gather_all=[round(t, 3) for t in times["sparse-gather"]],
                sparse_all=[round(t, 3) for t in times["sparse"]], max_relative_loss_gap=float(f"{loss_gap:.2e}"))


def markdown(report: dict) -> str:
    lines = [
        "# Dense vs sparse first-level adjacency (training epoch, same batches and weights)",
        "",
        f"Generated {report['generated']} by `{report['command']}` on {report['machine']}, "
        f"{report['threads']} torch thread(s). Median of {report['epochs']} interleaved epochs after one warm-up "
        "each; an epoch = every graph of the dataset once, core.train's default batches.",
        "",
        "| dataset | graphs | max nodes | clusters | dense s/epoch | sparse, gather s/epoch | sparse, CSR s/epoch "
        "| dense / sparse CSR | gather / CSR | loss gap |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(f"| {r['dataset']} | {r['graphs']:,} | {r['max_nodes']:,} | {r['clusters']} | {r['dense_seconds']} "
                     f"| {r.get('gather_seconds', '—')} | {r['sparse_seconds']} | **{r['speedup']}×** "
                     f"| {r.get('csr_speedup', '—')}× | {r['max_relative_loss_gap']} |")
    lines += ["", "Sparse, gather: the edge-list product before 2026-12-01 (gather each entry's message with "
              "`index_select`, sum into rows with `index_add_`); sparse, CSR: one `torch.sparse.mm` of the "
              "batch's CSR matrix (now). Loss gap: largest relative difference between a sparse format's and the "
              "dense format's first-step losses (same weights, same batch) over the rounds; "
              "tests/core/test_adjacency.py checks outputs and gradients."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ENZYMES", "PROTEINS", "DD"])
    parser.add_argument("--data-dir", default=os.environ.get("DIFFPOOL_DATA", str(ROOT.parent / "shared" / "data" / "TU")))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-clusters", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())  # the machine may be shared: say how busy it was
    rows = []
    for name in args.datasets:
        rows.append(measure(name, args))
        print(json.dumps(rows[-1]), flush=True)
    report = dict(
        generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        command="python bench/adjacency_formats.py " + " ".join(sys.argv[1:] if argv is None else argv),
        machine=f"{cpu_model()}, {platform.platform()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                f"load average {load} at the start and {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        threads=args.threads, epochs=args.epochs, rows=rows,
    )
    out = ROOT / "bench" / "results"
    (out / "adjacency_formats.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "adjacency_formats.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
