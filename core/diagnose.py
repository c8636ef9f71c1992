"""``python -m core.diagnose``: the diagnosis of a model's pooling, graph by graph and level by level.

    python -m core.diagnose --model NAME_OR_PATH --dataset NAME [--graphs 0,5,9 | --all] [--json]

Also the public entry of the diagnosis functions (``diagnose_level``, ``diagnose_trace``, ...), which live
in ``core.analysis.diagnosis`` (pure functions); this module adds what runs a model over a dataset.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from core.analysis.diagnosis import (  # noqa: F401  (re-exported: the diagnosis' public entry)
    COLLAPSE_SHARE,
    CONNECTED_SHARE,
    EXPLANATIONS,
    LABEL_NMI,
    MIN_LOUVAIN_MODULARITY,
    MODULARITY_RATIO,
    NEGATIVE_MODULARITY,
    UNIFORM_ENTROPY,
    VERDICTS,
    connected_share,
    diagnose_level,
    diagnose_trace,
    explain,
    level_explanation,
    is_collapsed,
    louvain_partition,
    mean_conductance,
    partition_modularity,
    row_entropy,
    verdict_shares,
)
from core.model.card import structure_sentences  # noqa: F401  (re-exported)


# ====================================================================== whole datasets
def _slim_entropy_rows(per_level: list[dict]) -> list[dict]:
    """Rows shaped like :func:`core.analysis.dataset_level_entropy` from running sums."""
    rows = []
    for level, acc in enumerate(per_level):
        if not acc["graphs"]:
            continue
        mean = acc["sum"] / acc["nodes"]
        rows.append({
            "level": level,
            "num_graphs": acc["graphs"],
            "num_nodes": acc["nodes"],
            "mean_entropy": mean,
            "std_entropy": math.sqrt(max(acc["sum_sq"] / acc["nodes"] - mean * mean, 0.0)),
            "mean_normalized_entropy": acc["sum_normalised"] / acc["nodes"],
            "mean_effective_clusters": acc["effective"] / acc["graphs"],
            "collapsed_fraction": acc["collapsed"] / acc["graphs"],
        })
    return rows


def diagnose_dataset(model, spec, dataset, indices: Sequence[int] | None = None, seed: int = 0,
                     truth_key: str | None = None, chunk: int = 64, progress=None) -> dict:
    """Run ``model`` over graphs of ``dataset`` and diagnose every pooling level of each.

    model, spec: a loaded checkpoint (:func:`core.checkpoint.load_checkpoint`); dataset: a
    :class:`core.data.graphs.GraphDataset`; indices: graphs to judge (default all); seed: the card's
    seed (fixed assignments of the ``random`` variant); truth_key: a ``graph.node_data`` column
    with known groups (e.g. ``"community"`` of the synthetic dataset), compared when present;
    progress: optional callable(done, total).

    Graphs are traced ``chunk`` at a time and only the numbers are kept, so memory stays small on
    D&D. Returns ``{"graphs": [...], "shares": verdict_shares(...), "entropy": rows}`` where each
    graph entry is ``{"index", "num_nodes", "label", "predicted", "probability" (of the predicted
    class), "logits", "graph_embedding", "levels": diagnose_trace(...)}`` and ``entropy`` has the
    rows of :func:`core.analysis.dataset_level_entropy` (same keys, same numbers).
    """
    from core.model.inference import trace_graphs

    indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    graphs, per_level = [], []
    for start in range(0, len(indices), chunk):
        part = indices[start:start + chunk]
        traces = trace_graphs(model, [dataset[i] for i in part], spec, part, seed=seed)
        for index, trace in zip(part, traces):
            graph = dataset[index]
            truth = None
            if truth_key and graph.node_data and truth_key in graph.node_data:
                truth = np.asarray(graph.node_data[truth_key])
            levels = diagnose_trace(trace, graph.node_labels, truth)
            for level, (record, result) in enumerate(zip(trace.levels, levels)):
                if level >= len(per_level):
                    per_level.append({"graphs": 0, "nodes": 0, "sum": 0.0, "sum_sq": 0.0,
                                      "sum_normalised": 0.0, "effective": 0.0, "collapsed": 0})
                acc = per_level[level]
                entropy = row_entropy(np.asarray(record.assignment, dtype=np.float64))
                c = record.num_clusters
                acc["graphs"] += 1
                acc["nodes"] += entropy.size
                acc["sum"] += float(entropy.sum())
                acc["sum_sq"] += float((entropy ** 2).sum())
                acc["sum_normalised"] += float(entropy.sum() / math.log(c)) if c > 1 else 0.0
                acc["effective"] += result["effective_clusters"]
                acc["collapsed"] += int(result["verdict"] == "collapsed")
            probabilities = trace.probabilities
            predicted = trace.predicted
            graphs.append({
                "index": index,
                "num_nodes": graph.num_nodes,
                "label": graph.label,
                "predicted": predicted,
                "probability": None if probabilities is None else float(probabilities[predicted]),
                "logits": None if trace.logits is None else np.asarray(trace.logits, dtype=np.float32),
                "graph_embedding": np.asarray(trace.graph_embedding, dtype=np.float32),
                "levels": levels,
            })
        if progress is not None:
            progress(min(start + chunk, len(indices)), len(indices))
    return {
        "graphs": graphs,
        "shares": verdict_shares([g["levels"] for g in graphs]),
        "entropy": _slim_entropy_rows(per_level),
    }


# ====================================================================== stored whole-dataset results
#: Beside a shipped checkpoint ``NAME``: ``NAME.dataset-results.npz``, :func:`diagnose_dataset` of the
#: model over its whole dataset (which also holds what the app's dataset summary needs: logits, graph
#: embeddings, entropy rows), so the Atlas, Embeddings, Model card and Compare pages answer at once
#: on the shipped defaults (on D&D the run takes tens of seconds). ``bench/make_pretrained.py
#: --results-only`` writes it; a test fails when one is stale.
STORED_RESULTS_SUFFIX = ".dataset-results.npz"
STORED_RESULTS_FORMAT = "diffpool-explorer-dataset-results/1"


def default_truth_key(dataset) -> str | None:
    """``"community"`` when the dataset's graphs carry planted communities (synthetic), else None:
    the known groups the diagnosis compares clusters with by default (CLI and app)."""
    return "community" if dataset.graphs and "community" in (dataset.graphs[0].node_data or {}) else None


def dataset_digest(dataset) -> str:
    """SHA-256 (hex) of every graph's model input and class label, in order."""
    import hashlib

    digest = hashlib.sha256(f"dataset/1 {len(dataset)}".encode())
    for graph in dataset.graphs:
        digest.update(f"|{graph.label}|{graph.content_digest()}".encode())
    return digest.hexdigest()


def stored_results_key(stem: str | Path, dataset, truth_key: str | None) -> dict:
    """What stored results are saved and looked up with: the checkpoint's two files, the dataset's
    graphs and the known-groups column compared (``truth_key``)."""
    from core.model.trace import checkpoint_digest

    return {"checkpoint": checkpoint_digest(stem), "dataset": str(dataset.name), "graphs": dataset_digest(dataset),
            "truth": truth_key}


def save_dataset_results(path: str | Path, result: dict, key: dict) -> None:
    """Write a :func:`diagnose_dataset` result of every graph under ``key`` (arrays and JSON text in a
    compressed ``.npz``: nothing pickled). Graph embeddings are kept as float16 (they only feed a 2-D
    projection; float32 would double D&D's file to ~2.5 MB), logits as float32."""
    import json

    graphs = result["graphs"]
    arrays = {"logits": np.stack([g["logits"] for g in graphs]).astype(np.float32),
              "graph_embeddings": np.stack([g["graph_embedding"] for g in graphs]).astype(np.float16)}
    header = {"format": STORED_RESULTS_FORMAT, "key": key, **_json_ready(result)}
    arrays["header"] = np.array(json.dumps(header, sort_keys=True, default=_plain))
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_dataset_results(path: str | Path, key: dict) -> dict | None:
    """The stored :func:`diagnose_dataset` result at ``path`` if it was computed under ``key``, else
    None (no file, unreadable, another format, or another key: a retrained model, other data)."""
    import json

    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != STORED_RESULTS_FORMAT or header.get("key") != key:
                return None
            logits, embeddings = data["logits"], data["graph_embeddings"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None
    graphs = [dict(g, logits=logits[i], graph_embedding=embeddings[i]) for i, g in enumerate(header["graphs"])]
    for graph in graphs:  # the sentences are today's wording, not the one of the day the file was written
        for level in graph.get("levels", []):
            level["explanation"] = level_explanation(level)
    return {"graphs": graphs, "shares": header["shares"], "entropy": header["entropy"]}


def held_out_structure(model, spec, card: dict, dataset, max_graphs: int | None = None) -> dict:
    """What a model's pooling is on the graphs of its card's held-out test fold: the ``structure``
    field of a shipped card (``bench/make_pretrained.py``) and a row of ``bench/structure_vs_accuracy.py``.

    Returns ``{"graphs": G, "levels": [...]}`` with, per pooling level (``level`` counted from 1):
    ``clusters``, ``graphs``, ``shares`` (fraction of graphs per verdict, every verdict listed),
    ``verdict`` (the most common one), ``modularity_ratio`` (mean over graphs with a Louvain
    reference, the partition's modularity over Louvain's) and ``label_nmi`` (mean NMI of the clusters
    with the node labels; None without labels or at coarsened levels).
    """
    indices = [int(i) for i in card["test_indices"]][:max_graphs]
    result = diagnose_dataset(model, spec, dataset, indices, seed=card.get("seed", 0))
    levels = []
    for level, row in enumerate(result["shares"]):
        diagnosed = [g["levels"][level] for g in result["graphs"] if len(g["levels"]) > level]
        ratios = [d["modularity_ratio"] for d in diagnosed if d["modularity_ratio"] is not None]
        nmi = [d["label_nmi"] for d in diagnosed if d["label_nmi"] is not None]
        levels.append({
            "level": level + 1,
            "clusters": int(model.config.cluster_counts[level]),
            "graphs": row["graphs"],
            "shares": row["shares"],
            "verdict": max(VERDICTS, key=lambda v: row["shares"][v]),
            "modularity_ratio": float(np.mean(ratios)) if ratios else None,
            "label_nmi": float(np.mean(nmi)) if nmi else None,
        })
    return {"graphs": len(indices), "levels": levels}


def card_structure(model, spec, card: dict, dataset) -> dict | None:
    """A card's ``structure`` field: :func:`held_out_structure` on all held-out graphs, saying what
    it was computed on; None for a model without pooling levels (nothing to diagnose)."""
    if not model.config.num_pooling:
        return None
    return {"on": "the graphs of the held-out test fold (test_indices)",
            "computed_by": "core.diagnose.held_out_structure", **held_out_structure(model, spec, card, dataset)}


# ====================================================================== command line
_NUMBER_KEYS = ("clusters_used", "num_clusters", "largest_share", "effective_clusters", "entropy_normalised",
                "modularity", "modularity_louvain", "modularity_ratio", "conductance", "connected_share",
                "label_nmi", "truth_nmi", "truth_ari")


def _resolve_model(name_or_path: str) -> Path:
    """A checkpoint stem from a path (with or without extension) or a shipped model's name."""
    path = Path(name_or_path)
    for suffix in (".safetensors", ".json"):
        if path.name.endswith(suffix):
            path = path.with_name(path.name[: -len(suffix)])
    if Path(str(path) + ".json").is_file():
        return path
    shipped = Path(__file__).resolve().parents[1] / "pretrained" / path.name
    if Path(str(shipped) + ".json").is_file():
        return shipped
    raise FileNotFoundError(f"no model {name_or_path!r}: give a checkpoint path (stem, .json or .safetensors) "
                            f"or the name of a shipped model in {shipped.parent}")


def _format(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _plain(value):
    """JSON for what ``json`` does not know: numpy scalars and arrays as numbers and lists."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _json_ready(result: dict) -> dict:
    graphs = [{k: v for k, v in g.items() if k not in ("logits", "graph_embedding")} for g in result["graphs"]]
    return {**{k: v for k, v in result.items() if k != "graphs"}, "graphs": graphs}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m core.diagnose --model NAME_OR_PATH --dataset NAME [--graphs 0,5,9 | --all] [--json]``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m core.diagnose", description=(
        "Diagnose what a pooling model learned on graphs of a dataset: per graph and level the verdict "
        f"({', '.join(VERDICTS)}) and its numbers, then the dataset's share of each verdict."))
    parser.add_argument("--model", required=True, help="checkpoint path (stem/.json/.safetensors) or shipped name, "
                        "e.g. proteins-diffpool-structural")
    parser.add_argument("--dataset", required=True, help="dataset name (synthetic-hierarchy or a TU name)")
    parser.add_argument("--data-dir", default=None, help="folder with TU datasets (default $DIFFPOOL_DATA / cache)")
    parser.add_argument("--no-download", action="store_true",
                        help="never download a missing TU dataset (by default it is fetched from TU Dortmund "
                             "into the cache, as core.train does)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--graphs", default="0", help="comma-separated graph indices (default 0)")
    which.add_argument("--all", action="store_true", help="every graph of the dataset")
    parser.add_argument("--truth", default=None, help="node_data column with known groups (default: 'community' "
                        "when the graphs have it, as the synthetic dataset does)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)

    import torch

    from core.data.datasets import DatasetError, DatasetNotFoundError, load_dataset
    from core.model.card import CheckpointError
    from core.model.checkpoint import load_checkpoint
    from core.model.compat import check_compatibility

    torch.set_num_threads(max(1, args.threads))
    try:
        stem = _resolve_model(args.model)
        model, spec, card = load_checkpoint(stem, "cpu")
    except (FileNotFoundError, CheckpointError) as error:
        parser.error(str(error))
    try:
        dataset = load_dataset(args.dataset, data_dir=args.data_dir, download=not args.no_download, progress=True)
    except DatasetError as error:
        if isinstance(error, DatasetNotFoundError):
            error.hint = "run without --no-download to fetch it" if args.no_download else None
        parser.error(str(error))
    if len(dataset) == 0:
        parser.error(f"{dataset.name} has no graphs")
    fits = check_compatibility(card, spec, dataset.name, dataset[0], need_pooling=True)
    if not fits.ok:
        parser.error(f"{stem.name} cannot run on {dataset.name}: {fits.problem}")
    if fits.warning:  # e.g. trained on another dataset: said before the table, on stderr (stdout stays data)
        print(f"warning: {fits.warning.replace('**', '')}", file=sys.stderr)
    if args.all:
        indices = list(range(len(dataset)))
    else:
        try:
            indices = [int(part) for part in args.graphs.split(",") if part.strip()]
        except ValueError:
            parser.error(f"--graphs must be comma-separated integers, got {args.graphs!r}")
        bad = [i for i in indices if not 0 <= i < len(dataset)]
        if bad:
            parser.error(f"graph index {bad[0]} out of range: {dataset.name} has {len(dataset)} graphs (0 … "
                         f"{len(dataset) - 1})")
    truth_key = args.truth if args.truth is not None else default_truth_key(dataset)
    result = diagnose_dataset(model, spec, dataset, indices, seed=int(card.get("seed", 0) or 0), truth_key=truth_key)
    if args.json:
        document = {"model": str(stem), "dataset": dataset.name, "truth": truth_key, **_json_ready(result)}
        print(json.dumps(document, indent=1, default=_plain))
        return 0
    print(f"model {stem.name} on {dataset.name} ({len(indices)} graph{'s' if len(indices) != 1 else ''})")
    header = ["graph", "level", "verdict", *_NUMBER_KEYS]
    print("\t".join(header))
    for entry in result["graphs"]:
        for level in entry["levels"]:
            print("\t".join([str(entry["index"]), str(level["level"]), level["verdict"],
                             *(_format(level[k]) for k in _NUMBER_KEYS)]))
    print("\nshare of graphs per verdict")
    print("\t".join(["level", "graphs", *VERDICTS]))
    for row in result["shares"]:
        print("\t".join([str(row["level"]), str(row["graphs"]), *(f"{row['shares'][v]:.1%}" for v in VERDICTS)]))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    raise SystemExit(main())
