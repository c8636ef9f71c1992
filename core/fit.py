"""Fit DiffPool's pooling to one graph, self-supervised (no class labels).

For a graph someone uploads there is no classification task, so the assignment networks are
trained on DiffPool's two auxiliary objectives alone:

- link prediction ``‖A − S Sᵀ‖_F²`` with edges and non-edges weighted to count equally
  (clusters should cover the edges; unweighted, the rare edges of a sparse graph are drowned
  out by its N² non-edges and the loss prefers blurred assignments), and
- assignment entropy ``mean_i H(S_i) / log C`` (each node should pick one cluster),

with the entropy weight ramped up over the first third of training so that clusters form from
the structure before they are forced to be sharp.

Node features are structural: degree features plus ``positional_dim`` smooth "positional"
coordinates (a few steps of orthogonal power iteration of the normalised adjacency from a
seeded random start), because degree alone cannot tell apart nodes of equal degree in
different communities.

Memory: the first level never forms an N×N matrix: the loss needs ``S_i·S_j`` on the E edges
and ``‖Sᵀ S‖_F²`` (O(E·C + N·C²)); later levels are small (C×C) and dense.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.features import FeatureSpec
from core.graphs import Graph
from core.trace import GraphTrace, LevelTrace


@dataclass
class FitSettings:
    """Settings of a self-supervised fit.

    cluster_counts: clusters per level, e.g. ``[8]`` or ``[16, 4]``.
    epochs / lr: Adam steps and learning rate. entropy_weight: final weight of the entropy term.
    hidden_dim: width of the GNNs. positional_dim: number of positional features.
    seed: everything random (init, positional start) derives from it.
    patience / min_improvement: stop once the loss has not dropped by ``min_improvement``
    (relative) for ``patience`` epochs after the entropy ramp.
    """

    cluster_counts: list[int] = field(default_factory=lambda: [8])
    epochs: int = 150
    lr: float = 0.02
    entropy_weight: float = 0.5
    collapse_weight: float = 1.0
    hidden_dim: int = 32
    positional_dim: int = 16
    max_degree: int = 20
    seed: int = 0
    patience: int = 15
    min_improvement: float = 1e-3
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.cluster_counts or any(int(c) < 2 for c in self.cluster_counts):
            raise ValueError(f"cluster_counts must be one or more integers ≥ 2, got {self.cluster_counts}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        self.cluster_counts = [int(c) for c in self.cluster_counts]


# ---------------------------------------------------------------------------- features
def _normalised_adjacency(adjacency: sp.csr_matrix) -> sp.csr_matrix:
    """D^{-1/2} (A + I) D^{-1/2} as float32 CSR."""
    with_self = adjacency + sp.identity(adjacency.shape[0], dtype=np.float32, format="csr")
    degree = np.asarray(with_self.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12))).astype(np.float32)
    return (scale @ with_self @ scale).tocsr().astype(np.float32)


def positional_features(adjacency: sp.csr_matrix, dim: int, seed: int, steps: int = 12) -> np.ndarray:
    """float32 [N, dim]: orthogonal power iteration of the normalised adjacency (smooth coordinates).

    Approximates the leading eigenvectors in O(steps · E · dim); columns scaled to unit RMS.
    """
    n = adjacency.shape[0]
    dim = max(1, min(dim, n))
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((n, dim)).astype(np.float32)
    operator = _normalised_adjacency(adjacency)
    for _ in range(steps):
        basis, _ = np.linalg.qr(operator @ basis)
    return (basis * math.sqrt(n)).astype(np.float32)


def structural_features(graph: Graph, settings: FitSettings) -> np.ndarray:
    """Degree features (:class:`FeatureSpec` ``degree``) followed by positional features: [N, F]."""
    degree = FeatureSpec("degree", max_degree=settings.max_degree).build(graph)
    positional = positional_features(graph.sparse_adjacency(), settings.positional_dim, settings.seed)
    return np.concatenate([degree, positional], axis=1)


# ---------------------------------------------------------------------------- model
def _torch_sparse(matrix: sp.csr_matrix, device: str) -> Tensor:
    coo = matrix.tocoo()
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=False).coalesce().to(device)


class _Level(nn.Module):
    """Two mean-aggregation GraphSAGE layers for embeddings and two for assignment logits."""

    def __init__(self, in_dim: int, hidden: int, clusters: int) -> None:
        super().__init__()
        self.embed = nn.ModuleList([nn.Linear(2 * in_dim, hidden), nn.Linear(2 * hidden, hidden)])
        self.assign = nn.ModuleList([nn.Linear(2 * in_dim, hidden), nn.Linear(2 * hidden, clusters)])

    @staticmethod
    def _run(layers: nn.ModuleList, x: Tensor, propagate, first_input: Tensor) -> Tensor:
        for i, layer in enumerate(layers):
            x = layer(first_input if i == 0 else torch.cat([propagate(x), x], dim=-1))
            if i < len(layers) - 1:
                x = F.relu(x)
        return x

    def forward(self, x: Tensor, propagate, propagated: Tensor | None = None, embed: bool = True):
        """(Z [n, H] or None, S [n, C]) for x: [n, F].

        ``propagated`` = propagate(x) when the caller has it cached (constant input); ``embed``
        False skips the embedding GNN (the last level's Z feeds no loss during training).
        """
        first_input = torch.cat([propagate(x) if propagated is None else propagated, x], dim=-1)
        z = self._run(self.embed, x, propagate, first_input) if embed else None
        s = torch.softmax(self._run(self.assign, x, propagate, first_input), dim=-1)
        return z, s


class GraphPooler(nn.Module):
    """A DiffPool hierarchy without a classifier: per level an embedding GNN and an assignment GNN."""

    def __init__(self, in_dim: int, settings: FitSettings) -> None:
        super().__init__()
        dims = [in_dim] + [settings.hidden_dim] * len(settings.cluster_counts)
        self.levels = nn.ModuleList(
            _Level(dims[i], settings.hidden_dim, c) for i, c in enumerate(settings.cluster_counts)
        )


@dataclass
class _SparseInput:
    """The first level's adjacency, prepared once: sparse A [N, N], mean-aggregation degrees, and
    each undirected edge once (``edges`` [2, M], ``edge_weight`` [M] = Â_ij counted twice off the diagonal)."""

    adjacency: Tensor
    degree: Tensor
    edges: Tensor
    edge_weight: Tensor

    @classmethod
    def build(cls, adjacency: Tensor) -> "_SparseInput":
        index, values = adjacency.indices(), adjacency.values()
        upper = index[0] <= index[1]
        index, values = index[:, upper], values[upper]
        multiplicity = torch.where(index[0] == index[1], 1.0, 2.0).to(values.dtype)
        weight = values / values.max().clamp(min=1e-12) * multiplicity
        degree = torch.sparse.sum(adjacency, dim=1).to_dense().clamp(min=1).unsqueeze(-1)
        return cls(adjacency, degree, index.contiguous(), weight)

    def propagate(self, h: Tensor) -> Tensor:
        """Mean over neighbours: (A h) / degree."""
        return torch.sparse.mm(self.adjacency, h) / self.degree


def _link_loss_sparse(sparse: _SparseInput, s: Tensor) -> Tensor:
    """Balanced link loss for the sparse first level; no N×N intermediate.

    With Â = A / max(A) and P = S Sᵀ:
    ``Σ_ij Â_ij (1 − P_ij)² / Σ_ij Â_ij  +  Σ_ij (1 − Â_ij) P_ij² / N²`` — the edges and the
    non-edges of ``‖A − S Sᵀ‖_F²`` weighted to count equally (as graph auto-encoders weight the
    rare positive entries). The second sum is ``‖SᵀS‖_F² − Σ_edges Â_ij P_ij²``; O(E·C + N·C²).
    """
    weight = sparse.edge_weight
    edge_similarity = (s[sparse.edges[0]] * s[sparse.edges[1]]).sum(dim=-1)
    positive = (weight * (1 - edge_similarity) ** 2).sum() / weight.sum().clamp(min=1e-12)
    gram = s.T @ s
    negative = ((gram * gram).sum() - (weight * edge_similarity**2).sum()) / s.shape[0] ** 2
    return positive + negative


def _link_loss_dense(adjacency: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """The balanced link loss of :func:`_link_loss_sparse` for a small dense (coarsened) A."""
    scaled = adjacency / adjacency.max().clamp(min=1e-12)
    similarity = s @ s.T
    positive = (scaled * (1 - similarity) ** 2).sum() / scaled.sum().clamp(min=1e-12)
    negative = ((1 - scaled) * similarity**2).sum() / s.shape[0] ** 2
    return positive + negative, s.T @ adjacency @ s


def _entropy(s: Tensor) -> Tensor:
    return -(s * torch.log(s + 1e-15)).sum(dim=-1)


@dataclass
class FitResult:
    """A fitted pooler, its trace (same record as a classifier's, without logits) and the loss history."""

    model: GraphPooler
    trace: GraphTrace
    history: list[dict]
    seconds: float


def _forward(model: GraphPooler, x: Tensor, sparse: _SparseInput, propagated: Tensor, training: bool = False):
    """Run every level: the first on the sparse input adjacency, later ones dense on A'.

    ``training`` skips what feeds no loss: the last level's embeddings and coarsened adjacency.
    """
    levels, link_total, entropy_total, collapse_total = [], x.new_zeros(()), x.new_zeros(()), x.new_zeros(())
    current_adjacency = None
    last = len(model.levels) - 1
    for position, level in enumerate(model.levels):
        clusters = level.assign[-1].out_features
        needed = not training or position < last
        if position == 0:
            z, s = level(x, sparse.propagate, propagated, needed)
            link = _link_loss_sparse(sparse, s)
            coarsened = s.T @ torch.sparse.mm(sparse.adjacency, s) if needed else None
        else:
            degree = current_adjacency.sum(dim=1, keepdim=True).clamp(min=1)
            propagate = lambda h, a=current_adjacency, d=degree: (a @ h) / d  # noqa: E731
            z, s = level(x, propagate, None, needed)
            link, coarsened = _link_loss_dense(current_adjacency, s)
        entropy = _entropy(s)
        collapse = torch.linalg.vector_norm(s.sum(dim=0)) * math.sqrt(clusters) / s.shape[0] - 1
        collapse_total = collapse_total + collapse
        link_total = link_total + link
        entropy_total = entropy_total + entropy.mean() / math.log(clusters)
        pooled = s.T @ z if z is not None else None
        levels.append(dict(assignment=s, coarsened_adjacency=coarsened, pooled_features=pooled,
                           node_embeddings=z, node_entropy=entropy, link_loss=link))
        x, current_adjacency = pooled, coarsened
    return levels, link_total, entropy_total, collapse_total, x


def fit_graph(graph: Graph, settings: FitSettings | None = None, on_epoch=None) -> FitResult:
    """Fit a pooling hierarchy to ``graph``; returns the model, its :class:`GraphTrace` and history.

    ``on_epoch(epoch, epochs, metrics)`` is called after every step (for a progress bar); if it
    returns False the fit stops early.
    """
    settings = settings or FitSettings()
    if graph.num_nodes < 2:
        raise ValueError(f"graph {graph.name!r} has {graph.num_nodes} node(s); pooling needs at least 2")
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    device = settings.device
    features = torch.from_numpy(structural_features(graph, settings)).to(device)
    adjacency_csr = graph.sparse_adjacency()
    sparse = _SparseInput.build(_torch_sparse(adjacency_csr, device))
    model = GraphPooler(features.shape[1], settings).to(device)
    # The input features never change, so their first propagation is computed once.
    propagated = sparse.propagate(features)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr)
    history, best_loss, stale = [], math.inf, 0
    for epoch in range(settings.epochs):
        model.train()
        ramp = min(1.0, epoch / max(1, settings.epochs // 3))
        levels, link, entropy, collapse, _ = _forward(model, features, sparse, propagated, training=True)
        loss = link + settings.entropy_weight * ramp * entropy + settings.collapse_weight * collapse
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        metrics = dict(epoch=epoch + 1, loss=float(loss.detach()), link_loss=float(link.detach()),
                       entropy=float(entropy.detach()), collapse=float(collapse.detach()))
        history.append(metrics)
        if on_epoch is not None and on_epoch(epoch + 1, settings.epochs, metrics) is False:
            break
        if ramp >= 1.0:  # the objective only stops changing once the entropy weight is fixed
            stale = 0 if metrics["loss"] < best_loss * (1 - settings.min_improvement) else stale + 1
            best_loss = min(best_loss, metrics["loss"])
            if stale >= settings.patience:
                break
    model.eval()
    with torch.no_grad():
        levels, _, _, _, final = _forward(model, features, sparse, propagated)
    trace = GraphTrace(
        levels=[
            LevelTrace(
                assignment=level["assignment"].cpu().numpy().astype(np.float32),
                coarsened_adjacency=level["coarsened_adjacency"].cpu().numpy().astype(np.float32),
                pooled_features=level["pooled_features"].cpu().numpy().astype(np.float32),
                node_embeddings=level["node_embeddings"].cpu().numpy().astype(np.float32),
                node_entropy=level["node_entropy"].cpu().numpy().astype(np.float32),
                link_loss=float(level["link_loss"]),
                entropy_loss=float(level["node_entropy"].mean()),
            )
            for level in levels
        ],
        adjacency=adjacency_csr if graph.num_nodes > 2000 else adjacency_csr.toarray(),
        final_embeddings=final.cpu().numpy().astype(np.float32),
        graph_embedding=final.max(dim=0).values.cpu().numpy().astype(np.float32),
        logits=None,
        label=graph.label,
        meta=dict(fit="self-supervised", cluster_counts=settings.cluster_counts, graph_name=graph.name),
    )
    return FitResult(model=model, trace=trace, history=history, seconds=time.perf_counter() - started)
