"""Ship a trained checkpoint in pretrained/: copy it, check it, and precompute its graph-embedding map.

    python bench/make_pretrained.py RUN_STEM NAME [--data-dir DIR]

RUN_STEM is a checkpoint written by ``python -m core.train`` (``runs/x/ENZYMES-diffpool``);
NAME the shipped stem (``pretrained/enzymes-diffpool``). The script

1. re-evaluates the model on its card's held-out test fold and refuses to ship it when the
   accuracy differs from the card's (the same check the test suite runs on every shipped model);
2. copies weights and card (adding ``shipped_from`` and ``structure``: the diagnosis of every pooling
   level on the held-out fold's graphs, ``core.diagnose.held_out_structure``, which the app's Model
   card page states in words);
3. writes ``NAME.projection.json``: 2-D coordinates (UMAP, seed 0) of every graph's embedding, so
   the app's Embeddings page opens without fitting UMAP (~20 s the first time in a process);
4. writes ``NAME.first-trace.npz``: the trace of graph 0 of the model's dataset, keyed by the
   checkpoint's and the graph's digests, so the app draws its first figure without importing torch;
5. with ``--results``: writes ``NAME.dataset-results.npz``, the diagnosis of every graph of the
   model's dataset with its logits and graph embeddings, keyed by the checkpoint's and the
   dataset's digests, so the Atlas, Embeddings, Model card and Compare pages answer at once
   (``core.diagnose.STORED_RESULTS_SUFFIX``; the models the app opens a dataset on ship one).

    python bench/make_pretrained.py --first-trace-only pretrained/*.safetensors   # refresh step 4 only
    python bench/make_pretrained.py --results-only pretrained/NAME.safetensors    # (re)write step 5 only
    python bench/make_pretrained.py --structure-only pretrained/*.safetensors     # refresh ``structure`` (4, 5)

How each shipped model was trained is recorded in ``pretrained/README.md`` and in its card
(``command``, ``machine``, ``training_seconds``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.analysis.projection import project_2d  # noqa: E402
from core.model.checkpoint import checkpoint_paths, load_checkpoint  # noqa: E402
from core.data.datasets import load_dataset  # noqa: E402
from core.diagnose import (  # noqa: E402
    STORED_RESULTS_SUFFIX, card_structure, default_truth_key, diagnose_dataset, save_dataset_results, stored_results_key,
)
from core.model.inference import predict_logits, trace_graphs  # noqa: E402
from core.model.trace import STORED_TRACE_SUFFIX, save_trace, stored_trace_key  # noqa: E402


def held_out_accuracy(stem: str | Path, data_dir: str | None) -> tuple[float, float]:
    """(accuracy on the card's test indices, the card's test accuracy)."""
    model, spec, card = load_checkpoint(stem)
    dataset = load_dataset(card["dataset"], data_dir=data_dir, download=False)
    indices = list(card["test_indices"])
    logits = predict_logits(model, [dataset[i] for i in indices], spec, indices=indices, seed=card.get("seed", 0))
    labels = dataset.labels[indices]
    return float((logits.argmax(axis=1) == labels).mean()), float(card["accuracy"]["test"])


def graph_embedding_map(stem: str | Path, data_dir: str | None) -> dict:
    """UMAP coordinates of every graph's readout vector (PCA when too few graphs)."""
    model, spec, card = load_checkpoint(stem)
    dataset = load_dataset(card["dataset"], data_dir=data_dir, download=False)
    indices = list(range(len(dataset)))
    traces = trace_graphs(model, dataset.graphs, spec, indices=indices, seed=card.get("seed", 0))
    points = np.stack([trace.graph_embedding for trace in traces])
    coords, method = project_2d(points, seed=0)
    return {"graph_indices": indices, "coords": np.round(coords, 4).tolist(), "method": method}


def write_first_trace(stem: str | Path, data_dir: str | None) -> Path:
    """``<stem>.first-trace.npz``: graph 0's trace under the shipped checkpoint (CPU), keyed by digests."""
    stem = checkpoint_paths(stem)[0].with_suffix("")
    model, spec, card = load_checkpoint(stem)
    dataset = load_dataset(card["dataset"], data_dir=data_dir, download=False)
    trace = trace_graphs(model, [dataset[0]], spec, indices=[0], seed=int(card.get("seed", 0) or 0))[0]
    path = Path(str(stem) + STORED_TRACE_SUFFIX)
    save_trace(path, trace, stored_trace_key(stem, dataset.name, 0, dataset[0]))
    return path


def write_dataset_results(stem: str | Path, data_dir: str | None) -> Path:
    """``<stem>.dataset-results.npz``: every graph of the model's dataset diagnosed (CPU), keyed by digests."""
    stem = checkpoint_paths(stem)[0].with_suffix("")
    model, spec, card = load_checkpoint(stem)
    dataset = load_dataset(card["dataset"], data_dir=data_dir, download=False)
    truth = default_truth_key(dataset)
    result = diagnose_dataset(model, spec, dataset, seed=int(card.get("seed", 0) or 0), truth_key=truth)
    path = Path(str(stem) + STORED_RESULTS_SUFFIX)
    save_dataset_results(path, result, stored_results_key(stem, dataset, truth))
    return path


def write_structure(stem: str | Path, data_dir: str | None) -> Path:
    """Store ``core.diagnose.card_structure`` in the card of the checkpoint ``stem`` (none without pooling)."""
    _, card_path = checkpoint_paths(stem)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    model, spec, _ = load_checkpoint(stem)
    structure = card_structure(model, spec, card, load_dataset(card["dataset"], data_dir=data_dir, download=False))
    card.pop("structure", None)
    if structure is not None:
        card["structure"] = structure
    card_path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return card_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_stem", help="checkpoint to ship (with --first-trace-only: shipped checkpoints)")
    parser.add_argument("name", nargs="*", help="shipped stem, e.g. pretrained/enzymes-diffpool")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--first-trace-only", action="store_true",
                        help="only (re)write NAME.first-trace.npz of each shipped checkpoint given")
    parser.add_argument("--results", action="store_true",
                        help="also write NAME.dataset-results.npz (every graph diagnosed; for the app's defaults)")
    parser.add_argument("--results-only", action="store_true",
                        help="only (re)write NAME.dataset-results.npz of each shipped checkpoint given")
    parser.add_argument("--structure-only", action="store_true",
                        help="only (re)write the card's structure field of each shipped checkpoint given, "
                             "then its first trace and dataset results where it has them (keyed by the card)")
    args = parser.parse_args(argv)
    if args.structure_only:
        for stem in [args.run_stem, *args.name]:
            written = [write_structure(stem, args.data_dir)]
            shipped = str(checkpoint_paths(stem)[0].with_suffix(""))
            if Path(shipped + STORED_TRACE_SUFFIX).is_file():
                written.append(write_first_trace(stem, args.data_dir))  # its key holds the card's digest
            if Path(shipped + STORED_RESULTS_SUFFIX).is_file():
                written.append(write_dataset_results(stem, args.data_dir))  # likewise
            print("wrote " + ", ".join(map(str, written)))
        return 0
    if args.first_trace_only:
        for stem in [args.run_stem, *args.name]:
            print(f"wrote {write_first_trace(stem, args.data_dir)}")
        return 0
    if args.results_only:
        for stem in [args.run_stem, *args.name]:
            print(f"wrote {write_dataset_results(stem, args.data_dir)}")
        return 0
    if len(args.name) != 1:
        parser.error("give RUN_STEM and one NAME (or --first-trace-only with shipped checkpoints)")
    args.name = args.name[0]

    accuracy, claimed = held_out_accuracy(args.run_stem, args.data_dir)
    print(f"held-out fold accuracy {accuracy:.4f} (card says {claimed:.4f})")
    if abs(accuracy - claimed) > 1e-6:
        print("error: the model does not reproduce its card's test accuracy; not shipping it", file=sys.stderr)
        return 1
    source_weights, source_card = checkpoint_paths(args.run_stem)
    target_weights, target_card = checkpoint_paths(args.name)
    target_weights.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source_weights, target_weights)
    card = json.loads(source_card.read_text(encoding="utf-8"))
    card["shipped_from"] = str(Path(args.run_stem))
    target_card.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_structure(args.name, args.data_dir)
    started = time.perf_counter()
    projection = graph_embedding_map(args.name, args.data_dir)
    projection_path = Path(str(Path(args.name)) + ".projection.json")
    projection_path.write_text(json.dumps(projection) + "\n", encoding="utf-8")
    first_trace = write_first_trace(args.name, args.data_dir)
    results = f", {write_dataset_results(args.name, args.data_dir)}" if args.results else ""
    print(f"wrote {target_weights}, {target_card}, {projection_path} "
          f"({projection['method']}, {time.perf_counter() - started:.1f} s), {first_trace}{results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
