"""Running a model over graphs: predictions and traces, batched by size."""

from __future__ import annotations

import numpy as np
import torch

from core.data.batching import collate, prepare_graphs, size_batches
from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.model.diffpool import DiffPool, traces_from_output
from core.model.trace import GraphTrace


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
        output = model(batch.x, batch.adj, batch.mask, batch.fixed, keep_levels=True, edge_types=batch.edge_types)
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
        logits[positions] = model(batch.x, batch.adj, batch.mask, batch.fixed,
                                  edge_types=batch.edge_types).logits.cpu().numpy()
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
    """Pre-softmax assignment scores of a :class:`~core.model.trace.LevelTrace`: ([n_l, n_{l+1}], recorded).

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


# ---------------------------------------------------------------------------- occlusion
@torch.no_grad()
def cluster_occlusion(
    model: DiffPool,
    graph: Graph,
    spec: FeatureSpec,
    level: int = 0,
    index: int | None = None,
    seed: int = 0,
    target: int | None = None,
    max_batch_elements: int = 1 << 25,
) -> dict:
    """Does pooling matter to the prediction? Remove each cluster of one level and watch p(class).

    For every cluster k of pooling ``level``, column k of that level's assignment S is removed
    and each row re-normalised over the remaining clusters (learned variants: the assignment
    logit of k is set to −inf before the softmax; fixed variants: the column is zeroed and rows
    re-divided, a row that sat wholly in k then drops out). The rest of the network runs as
    usual. delta_k = p_target(without k) − p_target(full graph): negative = cluster k supports the
    prediction, positive = it argues against it, ≈ 0 = the prediction ignores it.

    model, spec: a loaded checkpoint; graph: the graph (``index``: its dataset position, which
    seeds the ``random`` variant's fixed assignments, as in training); target: class to watch
    (default: the predicted class). Copies of the graph are batched so that B·N² stays under
    ``max_batch_elements``.

    Returns {"deltas": float64 [C_level], "log_odds_deltas": float64 [C_level] (the same change
    in log(p / (1 − p)), which does not saturate when p ≈ 1), "target": int, "probability":
    p_target of the full graph, "node_effect" / "node_log_odds_effect": float64 [N] =
    Σ_k (S₀…S_level)ᵢₖ delta_k — each input node's expected change through its soft membership,
    for painting on the graph}.
    """
    from core.analysis.flows import composed_assignment

    model.eval()
    config = model.config
    if config.num_pooling == 0:
        raise ValueError("this model has no pooling levels (graphsage variant): there is no cluster to remove")
    if not 0 <= level < config.num_pooling:
        raise ValueError(f"level must be in 0..{config.num_pooling - 1}, got {level}")
    device = next(model.parameters()).device
    position = 0 if index is None else int(index)
    trace = trace_graphs(model, [graph], spec, [position], seed=seed)[0]
    probabilities = trace.probabilities
    if probabilities is None:
        raise ValueError("the model has no classifier output to occlude")
    target = trace.predicted if target is None else int(target)
    if not 0 <= target < probabilities.size:
        raise ValueError(f"target class {target} out of range 0..{probabilities.size - 1}")
    clusters = trace.levels[level].num_clusters
    prepared = prepare_graphs([graph], spec, config.variant, config.cluster_counts, seed, [position])[0]
    per_copy = max(1, graph.num_nodes) ** 2
    chunk = max(1, min(clusters, max_batch_elements // per_copy))
    removed: list[int] = []

    def drop_logit(module, inputs, output):
        output = output.clone()
        output[torch.arange(len(removed)), :, torch.tensor(removed)] = float("-inf")
        return output

    hook = model.assign_heads[level].register_forward_hook(drop_logit) if config.variant in ("diffpool", "diffpool-nolp") \
        else None
    deltas = np.zeros(clusters, dtype=np.float64)
    log_odds = np.zeros(clusters, dtype=np.float64)
    base_log_odds = float(_log_odds(torch.as_tensor(trace.logits, dtype=torch.float64)[None], target)[0])
    try:
        for start in range(0, clusters, chunk):
            removed[:] = list(range(start, min(start + chunk, clusters)))
            batch = collate([prepared] * len(removed), device, adjacency="auto")
            fixed = batch.fixed
            if hook is None and fixed is not None:
                fixed = [f.clone() for f in fixed]
                for row, k in enumerate(removed):
                    fixed[level][row, :, k] = 0
                    sums = fixed[level][row].sum(dim=-1, keepdim=True)
                    fixed[level][row] = torch.where(sums > 0, fixed[level][row] / sums.clamp_min(1e-12), 0.0)
            logits = model(batch.x, batch.adj, batch.mask, fixed).logits.double()
            occluded = torch.softmax(logits, dim=-1)[:, target].cpu().numpy()
            deltas[removed] = occluded - float(probabilities[target])
            log_odds[removed] = _log_odds(logits, target).cpu().numpy() - base_log_odds
    finally:
        if hook is not None:
            hook.remove()
    membership = composed_assignment(trace.levels[: level + 1]).astype(np.float64)
    return {"deltas": deltas, "log_odds_deltas": log_odds, "target": target,
            "probability": float(probabilities[target]), "node_effect": membership @ deltas,
            "node_log_odds_effect": membership @ log_odds}


def _log_odds(logits: torch.Tensor, target: int) -> torch.Tensor:
    """[B] log(p_target / (1 − p_target)) from logits [B, C], without saturating at p ≈ 1."""
    others = torch.cat([logits[:, :target], logits[:, target + 1:]], dim=1)
    return logits[:, target] - torch.logsumexp(others, dim=1)
