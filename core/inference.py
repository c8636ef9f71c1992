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


def feature_names(spec: FeatureSpec, width: int | None = None) -> list[str]:
    """Short names of the columns of ``spec.build(graph)``; ``width`` (default ``spec.dim``) pads
    with ``x<j>`` names for columns the kind does not name (e.g. a fit's positional features).

    >>> feature_names(FeatureSpec("degree", max_degree=2))
    ['deg=0', 'deg=1', 'deg≥2', 'log(1+deg)']
    """
    width = spec.dim if width is None else int(width)
    names: list[str] = []
    if spec.kind in ("labels", "labels+attributes"):
        names += [f"label {j}" for j in range(spec.num_node_labels)]
    if spec.kind in ("attributes", "labels+attributes"):
        names += [f"attr {j}" for j in range(spec.attribute_dim)]
    if spec.kind in ("degree", "degree+spectral"):
        names += [f"deg={d}" for d in range(spec.max_degree)] + [f"deg≥{spec.max_degree}", "log(1+deg)"]
    if spec.kind == "degree+spectral":
        names += [f"eigvec {j + 2}" for j in range(spec.spectral_dim)]
    if spec.kind == "constant":
        names += ["1"]
    names = names[:width]
    return names + [f"x{j}" for j in range(len(names), width)]


def node_features(spec: FeatureSpec, graph: Graph) -> tuple[np.ndarray, list[str]]:
    """The model input X of ``graph``: (float32 [N, F] features, F column names).

    Raises ValueError when the graph lacks what the feature kind needs (node labels, attributes).
    """
    features = spec.build(graph)
    return features, feature_names(spec, features.shape[1])


def level_scores(level) -> tuple[np.ndarray, bool]:
    """Pre-softmax assignment scores of a :class:`~core.trace.LevelTrace`: ([n_l, n_{l+1}], recorded).

    The trace's ``assignment_scores`` when its producer recorded them (``recorded`` True). Else
    log S, the scores shifted so that each row's log-sum-exp is 0: softmax ignores a per-row
    shift, so softmax(log S) = S exactly, but the raw scale of the model's scores is not known.
    """
    if level.assignment_scores is not None:
        return np.asarray(level.assignment_scores, dtype=np.float32), True
    return np.log(np.clip(np.asarray(level.assignment, dtype=np.float64), 1e-12, None)).astype(np.float32), False


def link_reconstruction_error(adjacency, assignment: np.ndarray) -> tuple[float, float]:
    """(‖A − SSᵀ‖_F, ‖A − SSᵀ‖_F / n²) of one level: the quantity the link-prediction loss penalises.

    ``adjacency``: [n, n] dense or scipy sparse; ``assignment``: S [n, C]. Computed from the trace
    itself, so it has one meaning whichever producer (classifier or self-supervised fit) made it.
    """
    import scipy.sparse as sp

    s = np.asarray(assignment, dtype=np.float64)
    n = s.shape[0]
    if sp.issparse(adjacency):
        a = adjacency.tocsr().astype(np.float64)
        # ‖A − SSᵀ‖² = ‖A‖² − 2 tr(SᵀAS) + ‖SᵀS‖², without forming the n × n product.
        squared = float(a.multiply(a).sum()) - 2.0 * float(np.sum(s * (a @ s))) + float(np.sum((s.T @ s) ** 2))
        norm = float(np.sqrt(max(squared, 0.0)))
    else:
        norm = float(np.linalg.norm(np.asarray(adjacency, dtype=np.float64) - s @ s.T))
    return norm, norm / max(n, 1) ** 2
