"""Running a model over graphs: predictions and traces, batched by size."""

from __future__ import annotations

import numpy as np
import torch

from core.batching import collate, prepare_graphs, size_batches
from core.features import FeatureSpec
from core.graphs import Graph
from core.model import DiffPool, traces_from_output
from core.trace import GraphTrace


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; raises a clear error for an unavailable CUDA."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


@torch.no_grad()
def trace_graphs(
    model: DiffPool,
    graphs: list[Graph],
    spec: FeatureSpec,
    indices: list[int] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    meta: dict | None = None,
) -> list[GraphTrace]:
    """Forward ``graphs`` through ``model`` (eval mode) and return one :class:`GraphTrace` each, in input order.

    ``indices`` are the graphs' positions in their dataset (recorded in the traces and used to
    seed the ``random`` variant's fixed assignments, as in training); ``seed`` is the card's seed.
    """
    model.eval()
    device = next(model.parameters()).device
    config = model.config
    indices = list(range(len(graphs))) if indices is None else list(indices)
    prepared = prepare_graphs(graphs, spec, config.variant, config.cluster_counts, seed, indices)
    traces: list[GraphTrace | None] = [None] * len(graphs)
    for positions in size_batches([p.num_nodes for p in prepared], batch_size):
        batch = collate([prepared[i] for i in positions], device, adjacency="auto")
        output = model(batch.x, batch.adj, batch.mask, batch.fixed, keep_levels=True)
        labels = [graphs[i].label for i in positions]
        for position, trace in zip(positions, traces_from_output(output, batch.num_nodes, labels, batch.indices, meta)):
            trace.meta.setdefault("graph_name", graphs[position].name)
            traces[position] = trace
    return traces  # type: ignore[return-value]


@torch.no_grad()
def predict_logits(
    model: DiffPool, graphs: list[Graph], spec: FeatureSpec, indices: list[int] | None = None,
    batch_size: int = 64, seed: int = 0,
) -> np.ndarray:
    """float32 [G, C] logits for ``graphs`` in input order."""
    model.eval()
    device = next(model.parameters()).device
    config = model.config
    indices = list(range(len(graphs))) if indices is None else list(indices)
    prepared = prepare_graphs(graphs, spec, config.variant, config.cluster_counts, seed, indices)
    logits = np.zeros((len(graphs), config.num_classes), dtype=np.float32)
    for positions in size_batches([p.num_nodes for p in prepared], batch_size):
        batch = collate([prepared[i] for i in positions], device, adjacency="auto")
        logits[positions] = model(batch.x, batch.adj, batch.mask, batch.fixed).logits.cpu().numpy()
    return logits
