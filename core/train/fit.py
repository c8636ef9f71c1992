"""Fit DiffPool's pooling to one graph, self-supervised (no class labels).

For a graph someone uploads there is no classification task, so each pooling level's
assignment network is trained on a clustering objective alone. What is fitted, level by level
(level 0 on the input graph A, level l > 0 on the coarsened graph A' = SᵀAS of level l − 1):

1. **Positional features** X [n, d]: the C leading eigenvectors of the degree-regularised
   normalised adjacency (D + τ)^{-1/2} A (D + τ)^{-1/2} (τ = mean degree; dense up to 600 nodes,
   Lanczos up to 20,000, beyond that block subspace iteration from a seeded start, O(E·q) per
   step with q = C + 8 columns), rows scaled to unit length as in normalised spectral clustering. With C > ``projection_dim`` clusters the C-dimensional embedding is multiplied
   by a seeded random Gaussian matrix down to ``projection_dim`` columns (distances survive a
   random projection; the training cost then grows with N·C·d, not N·C²).
2. **Warm start**: k-means++ then Lloyd iterations on X (the best of ``kmeans_restarts`` by
   inertia), giving C centroids c_k.
3. **Assignment network** (one GraphSAGE-style layer, as in DiffPool's assignment GNN):
   ``scores = X W_self + mean_neighbours(X) W_neigh + b``, ``S = softmax(scores)``, initialised at
   W_self = β·[c_k], W_neigh = 0, b_k = −β‖c_k‖²/2 — i.e. S starts as the soft k-means assignment
   of spectral clustering (β = ``init_sharpness``).
4. **Objective** (DMoN, Tsitsulin et al. 2023): maximise the soft modularity
   ``Q_γ(S) = (tr(SᵀAS) − γ‖Sᵀd‖² / 2m) / 2m`` (γ = ``resolution``) with the collapse regulariser
   ``‖Σᵢ Sᵢ‖ √C / n − 1`` (0 when the mass is spread evenly, √C − 1 when one cluster takes all).
   Adam for at most ``epochs`` steps; the parameters kept are those of the step whose *hard*
   partition argmaxₖ Sᵢₖ had the highest modularity (so training never returns something worse
   than its own warm start on that score), and training stops after ``patience`` steps without
   improvement. Cost per step: O(E·C + N·d·C).

Earlier versions trained DiffPool's two auxiliary losses (balanced link prediction + entropy)
from random initialisation; they trailed spectral clustering and two-level fits ended uniform;
``bench/results/fit_quality.md`` records the measurements.

The trace is built by :func:`level_trace` with the meanings of :mod:`core.model.trace`:
``link_loss`` is ‖A − SSᵀ‖_F / n² (computed without an N×N matrix), ``entropy_loss`` the mean
row entropy; the training objective's values live in :attr:`FitResult.history`.
``node_embeddings`` of a level are its positional features X (the level's input), and
``pooled_features`` = SᵀX.

Memory: O(E + N·(C + q)); no N×N matrix is formed at level 0; later levels are C×C and dense.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from core.data.graphs import Graph
from core.model.trace import GraphTrace, LevelTrace


@dataclass
class FitSettings:
    """Settings of a self-supervised fit.

    cluster_counts: clusters per level, strictly decreasing, e.g. ``[8]`` or ``[16, 4]``.
    epochs / lr: at most this many Adam steps per level, and the learning rate.
    collapse_weight: weight of the DMoN collapse regulariser.
    init_sharpness: β of the warm start (scores = β·(x·c_k − ‖c_k‖²/2)).
    projection_dim: positional features are randomly projected to this many columns when C is larger.
    power_steps: subspace-iteration steps for the eigenvectors. kmeans_restarts / kmeans_steps: warm start.
    patience: stop a level after this many steps without a better hard modularity.
    resolution: γ of the modularity Q_γ that is trained (1 = Newman's); 1.2 measured best on the
    LFR graphs of ``bench/fit_quality.py`` (γ > 1 keeps K fixed clusters from growing unequal).
    regularization: τ / mean degree of the degree regularisation of the positional features
    (D + τ)^{-1/2} A (D + τ)^{-1/2} (Qin & Rohe 2013), as ``core.analysis.spectral_clusters`` uses.
    diagnose: attach :func:`core.diagnose.diagnose_trace` to the result.
    seed: everything random (eigenvector start, k-means, projection) derives from it.
    """

    cluster_counts: list[int] = field(default_factory=lambda: [8])
    epochs: int = 150
    lr: float = 0.5
    collapse_weight: float = 0.02
    init_sharpness: float = 20.0
    projection_dim: int = 48
    power_steps: int = 30
    kmeans_restarts: int = 4
    kmeans_steps: int = 30
    patience: int = 10
    resolution: float = 1.2
    regularization: float = 1.0
    diagnose: bool = True
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.cluster_counts or any(int(c) < 2 for c in self.cluster_counts):
            raise ValueError(f"cluster_counts must be one or more integers ≥ 2, got {self.cluster_counts}")
        counts = [int(c) for c in self.cluster_counts]
        if any(later >= earlier for earlier, later in zip(counts, counts[1:])):
            raise ValueError(f"cluster_counts must decrease from level to level (each level merges the "
                             f"clusters of the one before), got {counts}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be ≥ 1, got {self.epochs}")
        self.cluster_counts = counts
        at_least = {"patience": 1, "power_steps": 1, "kmeans_restarts": 1, "kmeans_steps": 1, "projection_dim": 1,
                    "seed": 0}
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be ≥ {low}, got {getattr(self, name)}")
        positive = {"lr": self.lr, "resolution": self.resolution, "init_sharpness": self.init_sharpness}
        at_least_zero = {"collapse_weight": self.collapse_weight, "regularization": self.regularization}
        for name, value in {**positive, **at_least_zero}.items():
            if not math.isfinite(value) or value < 0 or (name in positive and value == 0):
                raise ValueError(f"{name} must be a number {'> 0' if name in positive else '≥ 0'}, got {value}")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r}: CUDA is not available here; use 'cpu'")


# ---------------------------------------------------------------------------- level input
@dataclass
class _LevelGraph:
    """One level's graph held for training: A as torch (sparse CSR at level 0, dense later).

    adjacency [n, n]; degree d [n] (weighted); total_weight 2m = Σ d; edges [2, E'] / edge_weight
    [E'] every stored entry of A (both directions), for the hard modularity.
    """

    adjacency: Tensor
    degree: Tensor
    total_weight: float
    rows: Tensor
    cols: Tensor
    values: Tensor

    @classmethod
    def from_scipy(cls, matrix: sp.spmatrix | np.ndarray, device: str) -> "_LevelGraph":
        if sp.issparse(matrix):
            csr = sp.csr_matrix(matrix, dtype=np.float32)
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is stable
                warnings.simplefilter("ignore", UserWarning)
                adjacency = torch.sparse_csr_tensor(
                    torch.from_numpy(csr.indptr.astype(np.int64)), torch.from_numpy(csr.indices.astype(np.int64)),
                    torch.from_numpy(csr.data), size=csr.shape, check_invariants=False).to(device)
        else:
            csr = sp.csr_matrix(np.asarray(matrix, dtype=np.float32))
            adjacency = torch.from_numpy(np.asarray(matrix, dtype=np.float32)).to(device)
        coo = csr.tocoo()
        degree = np.asarray(csr.sum(axis=1), dtype=np.float32).ravel()
        return cls(adjacency, torch.from_numpy(degree).to(device), float(degree.sum()),
                   torch.from_numpy(coo.row.astype(np.int64)).to(device),
                   torch.from_numpy(coo.col.astype(np.int64)).to(device),
                   torch.from_numpy(coo.data.astype(np.float32)).to(device))

    def multiply(self, h: Tensor) -> Tensor:
        """A h for h [n, k]."""
        return self.adjacency @ h

    def propagate(self, h: Tensor) -> Tensor:
        """Mean over neighbours (weighted): (A h) / d."""
        return self.multiply(h) / self.degree.clamp(min=1e-12).unsqueeze(-1)

    def soft_modularity(self, s: Tensor, resolution: float = 1.0) -> Tensor:
        """Q_γ(S) = (tr(SᵀAS) − γ‖Sᵀd‖²/2m) / 2m for S [n, C]; O(E·C)."""
        two_m = max(self.total_weight, 1e-12)
        inside = (s * self.multiply(s)).sum()
        expected = (s.T @ self.degree).pow(2).sum() / two_m
        return (inside - resolution * expected) / two_m

    def hard_modularity(self, labels: Tensor, clusters: int, resolution: float = 1.0) -> float:
        """Modularity Q_γ of the hard partition ``labels`` [n]; O(E)."""
        two_m = max(self.total_weight, 1e-12)
        same = labels[self.rows] == labels[self.cols]
        inside = float(self.values[same].sum())
        volume = torch.zeros(clusters, dtype=self.degree.dtype, device=self.degree.device)
        volume.index_add_(0, labels, self.degree)
        return inside / two_m - resolution * float((volume / two_m).pow(2).sum())


# ---------------------------------------------------------------------------- features
#: Up to this many nodes the eigenvectors come from Lanczos (scipy ``eigsh``, converged to 1e-6);
#: beyond, from a fixed number of block subspace-iteration steps (time linear in E, no restarts).
LANCZOS_MAX_NODES = 20_000
#: k-means fits its centroids on a seeded sample of at most this many nodes.
KMEANS_SAMPLE = 20_000

def positional_features(adjacency, dim: int, seed: int, steps: int = 30, oversample: int = 8,
                        regularization: float = 0.0) -> np.ndarray:
    """float32 [n, dim]: the ``dim`` leading eigenvectors of D^{-1/2} A D^{-1/2}, rows unit length.

    adjacency: scipy sparse or dense [n, n]. Dense eigendecomposition up to 600 nodes, Lanczos up to
    :data:`LANCZOS_MAX_NODES`, else block
    subspace iteration on (M + I)/2 (so the spectrum is in [0, 1] and the largest eigenvalues of M
    dominate) with ``dim + oversample`` columns, Cholesky re-orthonormalisation and a final
    Rayleigh–Ritz step; O(steps · (E + n·q) · q). Isolated nodes get a zero row.
    """
    matrix = sp.csr_matrix(adjacency, dtype=np.float64) if sp.issparse(adjacency) else sp.csr_matrix(
        np.asarray(adjacency, dtype=np.float64))
    n = matrix.shape[0]
    dim = max(1, min(dim, n))
    degree = np.asarray(matrix.sum(axis=1)).ravel()
    degree = degree + regularization * float(degree.mean())
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
    normalised = sp.diags(inv_sqrt) @ matrix @ sp.diags(inv_sqrt)
    if n <= 600:
        _, vectors = np.linalg.eigh(normalised.toarray())
        vectors = vectors[:, ::-1][:, :dim]
    elif n <= LANCZOS_MAX_NODES:
        from scipy.sparse.linalg import eigsh

        start = np.random.default_rng(seed).random(n) + 0.5
        values, vectors = eigsh(normalised, k=dim, which="LA", v0=start, tol=1e-6, maxiter=max(1000, 20 * n))
        vectors = vectors[:, np.argsort(-values)]
    else:
        vectors = _subspace_iteration(normalised, dim, seed, steps, oversample)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _subspace_iteration(normalised: sp.csr_matrix, dim: int, seed: int, steps: int, oversample: int) -> np.ndarray:
    """float32 [n, dim] leading eigenvectors of a symmetric sparse M with spectrum in [−1, 1].

    Block power iteration on (M + I)/2 with q = dim + oversample columns (torch sparse CSR product,
    O(E·q) per step; Cholesky re-orthonormalisation, O(n·q²), every 4th step), then Rayleigh–Ritz.
    """
    n = normalised.shape[0]
    csr = normalised.astype(np.float32).tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        operator = torch.sparse_csr_tensor(torch.from_numpy(csr.indptr.astype(np.int64)),
                                           torch.from_numpy(csr.indices.astype(np.int64)),
                                           torch.from_numpy(csr.data), size=csr.shape, check_invariants=False)
    q = min(n, dim + oversample)
    basis = torch.randn(n, q, generator=torch.Generator().manual_seed(seed))
    for step in range(steps):
        basis = 0.5 * (operator @ basis + basis)
        if step % 4 == 3 or step == steps - 1:  # (M + I)/2 is a contraction: a few steps apart are safe
            basis = _orthonormalise(basis)
    small = (basis.T @ (operator @ basis)).double()
    values, rotation = torch.linalg.eigh((small + small.T) / 2)
    order = torch.argsort(values, descending=True)[:dim]
    return (basis @ rotation[:, order].float()).numpy()


def _orthonormalise(basis: Tensor) -> Tensor:
    """Columns of ``basis`` [n, q] made orthonormal (Cholesky QR; Householder QR when ill-conditioned)."""
    gram = (basis.T @ basis).double()
    gram = gram + 1e-9 * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        result = torch.linalg.solve_triangular(factor.float(), basis.T, upper=False).T
        if bool(torch.isfinite(result).all()):
            return result.contiguous()
    return torch.linalg.qr(basis)[0]


def _project(features: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """[n, min(d, dim)]: a seeded Gaussian random projection when d > dim, rows re-normalised."""
    if features.shape[1] <= dim:
        return features
    rng = np.random.default_rng(seed + 7919)
    projected = features @ (rng.standard_normal((features.shape[1], dim)) / math.sqrt(dim)).astype(np.float32)
    norms = np.linalg.norm(projected, axis=1, keepdims=True)
    return (projected / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def kmeans(points: Tensor, clusters: int, seed: int, restarts: int = 4, steps: int = 30) -> Tensor:
    """Centroids [C, d] of k-means (k-means++ start, Lloyd steps; best of ``restarts`` by inertia).

    points: [n, d]; beyond :data:`KMEANS_SAMPLE` rows the centroids are fitted on a seeded random sample
    of that many. O(restarts · steps · min(n, sample)·d·C). Empty clusters are re-seeded at the point
    farthest from its centroid.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    if points.shape[0] > KMEANS_SAMPLE:  # centroids from a seeded sample: k-means cost independent of n
        points = points[torch.randperm(points.shape[0], generator=generator)[:KMEANS_SAMPLE]]
    n = points.shape[0]
    squared = (points * points).sum(dim=1)
    best, best_inertia = None, math.inf
    for _ in range(max(1, restarts)):
        first = int(torch.randint(n, (1,), generator=generator))
        chosen = [first]
        closest = ((points - points[first]) ** 2).sum(dim=1)
        for _ in range(1, clusters):
            weights = closest.clamp(min=0).cpu().double()
            if float(weights.sum()) <= 0:
                pick = int(torch.randint(n, (1,), generator=generator))
            else:
                pick = int(torch.multinomial(weights, 1, generator=generator))
            chosen.append(pick)
            closest = torch.minimum(closest, ((points - points[pick]) ** 2).sum(dim=1))
        centroids = points[chosen].clone()
        for _ in range(steps):
            distance = squared.unsqueeze(1) - 2 * points @ centroids.T + (centroids * centroids).sum(dim=1)
            nearest_distance, labels = distance.min(dim=1)
            counts = torch.bincount(labels, minlength=clusters).to(points.dtype)
            sums = torch.zeros_like(centroids).index_add_(0, labels, points)
            updated = sums / counts.clamp(min=1).unsqueeze(1)
            empty = counts == 0
            if bool(empty.any()):
                far = torch.argsort(nearest_distance, descending=True)[: int(empty.sum())]
                updated[empty] = points[far]
            if torch.allclose(updated, centroids, atol=1e-6):
                centroids = updated
                break
            centroids = updated
        distance = squared.unsqueeze(1) - 2 * points @ centroids.T + (centroids * centroids).sum(dim=1)
        inertia = float(distance.min(dim=1).values.clamp(min=0).sum())
        if inertia < best_inertia:
            best, best_inertia = centroids, inertia
    return best


# ---------------------------------------------------------------------------- model
class AssignmentLayer(nn.Module):
    """DiffPool's assignment GNN for one level, one GraphSAGE-style layer:
    ``scores = X W_self + mean_neighbours(X) W_neigh + b`` [n, C]; ``S = softmax(scores)``."""

    def __init__(self, in_dim: int, clusters: int) -> None:
        super().__init__()
        self.self_weight = nn.Linear(in_dim, clusters)
        self.neighbour_weight = nn.Linear(in_dim, clusters, bias=False)

    def warm_start(self, centroids: Tensor, sharpness: float) -> None:
        """Start at the soft k-means assignment softmax(−β‖x − c_k‖²/2) (up to a per-row constant)."""
        with torch.no_grad():
            self.self_weight.weight.copy_(sharpness * centroids)
            self.self_weight.bias.copy_(-0.5 * sharpness * (centroids * centroids).sum(dim=1))
            self.neighbour_weight.weight.zero_()

    def forward(self, x: Tensor, propagated: Tensor) -> Tensor:
        """Assignment scores [n, C] (pre-softmax) for x, propagated = mean_neighbours(x): [n, d]."""
        return self.self_weight(x) + self.neighbour_weight(propagated)


class GraphPooler(nn.Module):
    """The fitted hierarchy: one :class:`AssignmentLayer` per level (no classifier)."""

    def __init__(self, layers: list[AssignmentLayer]) -> None:
        super().__init__()
        self.levels = nn.ModuleList(layers)


@dataclass
class FitResult:
    """A fitted pooler and what it did.

    model: the :class:`GraphPooler`. trace: the :class:`GraphTrace` (same record as a classifier's,
    without logits). history: one dict per training step (level, step, loss, soft modularity,
    collapse, hard modularity). seconds: the fit's wall time (diagnosis excluded).
    diagnoses: :func:`core.diagnose.diagnose_trace` of the trace (empty when not asked for).
    features / assignment_scores: per level, the positional features X [n_l, d] and the
    pre-softmax scores [n_l, C_l] of the kept parameters. settings: the settings used.
    """

    model: GraphPooler
    trace: GraphTrace
    history: list[dict]
    seconds: float
    diagnoses: list[dict] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    assignment_scores: list[np.ndarray] = field(default_factory=list)
    settings: FitSettings | None = None
    diagnosis_seconds: float = 0.0

    @property
    def healthy(self) -> bool:
        """True when every level was diagnosed and every verdict is ``healthy``."""
        return bool(self.diagnoses) and all(d["verdict"] == "healthy" for d in self.diagnoses)


def _fit_level(graph: _LevelGraph, features: np.ndarray, clusters: int, settings: FitSettings, level: int,
               history: list[dict], on_epoch) -> tuple[AssignmentLayer, Tensor, bool]:
    """Warm-start and train one level; returns (layer with the kept parameters, scores [n, C], stopped)."""
    device = settings.device
    x = torch.from_numpy(features).to(device)
    propagated = graph.propagate(x)
    centroids = kmeans(x, clusters, settings.seed + 1000 * level, settings.kmeans_restarts, settings.kmeans_steps)
    layer = AssignmentLayer(x.shape[1], clusters).to(device)
    layer.warm_start(centroids, settings.init_sharpness)
    optimiser = torch.optim.Adam(layer.parameters(), lr=settings.lr)
    best_modularity, best_state = -math.inf, None
    stale, stopped = 0, False
    for step in range(settings.epochs + 1):
        scores = layer(x, propagated)
        # the hard partition of the parameters *before* this step (the warm start at step 0)
        hard = graph.hard_modularity(scores.detach().argmax(dim=1), clusters, settings.resolution)
        if hard > best_modularity + 1e-6:
            best_modularity, stale = hard, 0
            best_state = {k: v.detach().clone() for k, v in layer.state_dict().items()}
        else:
            stale += 1
        if step == settings.epochs or stale >= settings.patience:
            break
        s = torch.softmax(scores, dim=-1)
        modularity = graph.soft_modularity(s, settings.resolution)
        collapse = torch.linalg.vector_norm(s.sum(dim=0)) * math.sqrt(clusters) / s.shape[0] - 1
        loss = -modularity + settings.collapse_weight * collapse
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        metrics = dict(level=level, epoch=step + 1, loss=float(loss.detach()), modularity=float(modularity.detach()),
                       collapse=float(collapse.detach()), hard_modularity=hard)
        history.append(metrics)
        if on_epoch is not None and on_epoch(len(history), settings.epochs * len(settings.cluster_counts), metrics) is False:
            stopped = True
            break
    layer.load_state_dict(best_state)
    with torch.no_grad():
        scores = layer(x, propagated)
    return layer, scores, stopped


def link_loss(adjacency, assignment: np.ndarray) -> float:
    """‖A − S Sᵀ‖_F / n² (core.model.trace's ``link_loss``) without forming an N×N matrix.

    ‖A − SSᵀ‖² = ‖A‖² − 2 tr(SᵀAS) + ‖SᵀS‖²; O(E·C + N·C²). adjacency: scipy sparse or dense [n, n];
    assignment: [n, C].
    """
    s = np.asarray(assignment, dtype=np.float64)
    n = s.shape[0]
    if sp.issparse(adjacency):
        a = sp.csr_matrix(adjacency, dtype=np.float64)
        squared_a = float(a.multiply(a).sum())
    else:
        a = np.asarray(adjacency, dtype=np.float64)
        squared_a = float((a * a).sum())
    cross = float((s * (a @ s)).sum())
    gram = s.T @ s
    value = squared_a - 2 * cross + float((gram * gram).sum())
    return math.sqrt(max(value, 0.0)) / n**2


def _entropy(s: np.ndarray) -> np.ndarray:
    """float32 [n] H(S_i) in nats."""
    return -(s * np.log(s + 1e-15)).sum(axis=1).astype(np.float32)


def level_trace(adjacency, assignment: np.ndarray, features: np.ndarray, scores: np.ndarray | None = None) -> LevelTrace:
    """The one place the fit builds a :class:`LevelTrace`, with core.model.trace's meanings.

    adjacency [n, n] (scipy sparse or dense), assignment S [n, C], features X [n, d] (the level's
    node embeddings), scores [n, C] pre-softmax assignment scores (None when not recorded).
    """
    s = np.asarray(assignment, dtype=np.float32)
    coarsened = np.asarray(s.T @ (adjacency @ s), dtype=np.float32)
    entropy = _entropy(s)
    return LevelTrace(
        assignment=s, coarsened_adjacency=coarsened, pooled_features=(s.T @ features).astype(np.float32),
        node_embeddings=features.astype(np.float32), node_entropy=entropy, link_loss=link_loss(adjacency, s),
        entropy_loss=float(entropy.mean()),
        assignment_scores=None if scores is None else np.asarray(scores, dtype=np.float32),
    )


def fit_graph(graph: Graph, settings: FitSettings | None = None, on_epoch=None) -> FitResult:
    """Fit a pooling hierarchy to ``graph``; returns the model, its :class:`GraphTrace`, history and diagnosis.

    ``on_epoch(step, max_steps, metrics)`` is called after every training step of every level
    (for a progress bar); if it returns False the fit stops (levels not reached yet are not fitted
    and the trace holds the levels done). Raises ValueError when the graph is too small for the
    requested cluster counts.
    """
    settings = settings or FitSettings()
    n = graph.num_nodes
    if n < 2:
        raise ValueError(f"graph {graph.name!r} has {n} node(s); pooling needs at least 2")
    if settings.cluster_counts[0] > n:
        raise ValueError(f"graph {graph.name!r} has {n} nodes, fewer than the {settings.cluster_counts[0]} "
                         "level-1 clusters asked for; choose at most as many clusters as nodes")
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    adjacency = graph.sparse_adjacency()
    current = adjacency
    history: list[dict] = []
    levels, layers, features_per_level, scores_per_level = [], [], [], []
    for index, clusters in enumerate(settings.cluster_counts):
        size = current.shape[0]
        clusters = min(clusters, size)
        features = positional_features(current, clusters, settings.seed + index, steps=settings.power_steps,
                                       regularization=settings.regularization)
        features = _project(features, settings.projection_dim, settings.seed + index)
        level_graph = _LevelGraph.from_scipy(current, settings.device)
        layer, scores, stopped = _fit_level(level_graph, features, clusters, settings, index, history, on_epoch)
        s = torch.softmax(scores, dim=-1).cpu().numpy()
        levels.append(level_trace(current, s, features, scores.cpu().numpy()))
        layers.append(layer)
        features_per_level.append(features)
        scores_per_level.append(scores.cpu().numpy().astype(np.float32))
        current = levels[-1].coarsened_adjacency.astype(np.float64)
        if stopped:
            break
    final = levels[-1].pooled_features
    trace = GraphTrace(
        levels=levels,
        adjacency=adjacency if n > 2000 else adjacency.toarray(),
        final_embeddings=final,
        graph_embedding=final.max(axis=0).astype(np.float32),
        logits=None,
        label=graph.label,
        meta=dict(fit="self-supervised", cluster_counts=settings.cluster_counts, graph_name=graph.name,
                  seed=settings.seed, epochs=settings.epochs,
                  objective="DMoN modularity + collapse, spectral warm start"),
    )
    seconds = time.perf_counter() - started
    diagnoses, diagnosis_seconds = [], 0.0
    if settings.diagnose:
        from core.analysis.diagnosis import diagnose_trace

        clock = time.perf_counter()
        diagnoses = diagnose_trace(trace, seed=settings.seed)
        diagnosis_seconds = time.perf_counter() - clock
    return FitResult(model=GraphPooler(layers), trace=trace, history=history, seconds=seconds, diagnoses=diagnoses,
                     features=features_per_level, assignment_scores=scores_per_level, settings=settings,
                     diagnosis_seconds=diagnosis_seconds)
