"""2-D projections of embeddings: UMAP from a few points on, PCA below that."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    pass


#: project_2d uses UMAP from this many points on (fewer points: PCA).
UMAP_MIN_POINTS = 15


# ====================================================================== 6. embeddings
def _pca_2d(points: np.ndarray) -> np.ndarray:
    """float32 [n, 2] principal-component scores (zeros where there is no variance)."""
    n = points.shape[0]
    coords = np.zeros((n, 2))
    if n >= 2:
        centred = points - points.mean(axis=0)
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        rank = min(2, s.size)
        scores = u[:, :rank] * s[:rank]
        # deterministic sign: the largest-magnitude score of each component is positive
        pivot = np.abs(scores).argmax(axis=0)
        signs = np.sign(scores[pivot, np.arange(rank)])
        signs[signs == 0] = 1.0
        coords[:, :rank] = scores * signs
        coords[:, (s[:2] <= 1e-12 * max(s[0], 1e-300)).nonzero()[0]] = 0.0
    return coords.astype(np.float32)


def project_2d(points, seed: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
    """2-D projection of embeddings for a scatter plot.

    points: [n, d]. method: "auto" (UMAP when n >= 15 and the data is not constant, else PCA),
    "umap" (the same; the fallback still applies since UMAP needs neighbours), or "pca".
    UMAP runs with ``n_neighbors=min(15, n-1)`` and ``random_state=seed`` (deterministic,
    single-threaded). ``umap`` is imported here, not at module import (it takes seconds and its
    first fit in a process JIT-compiles for ~20 s); cache results in the app.

    Returns (float32 [n, 2], method_used) with method_used "umap" or "pca".

    >>> coords, used = project_2d(np.arange(6.0).reshape(3, 2))
    >>> coords.shape, used
    ((3, 2), 'pca')
    """
    if method not in ("auto", "umap", "pca"):
        raise ValueError(f"method must be 'auto', 'umap' or 'pca', got {method!r}")
    array = np.asarray(points, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"points must be [n, d], got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("points contain NaN or inf")
    n = array.shape[0]
    constant = n == 0 or float(np.ptp(array, axis=0).max(initial=0.0)) == 0.0
    if method == "pca" or n < UMAP_MIN_POINTS or constant:
        return _pca_2d(array), "pca"

    import umap  # lazy: ~3 s to import and ~20 s for the first fit in a process (numba JIT)

    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
    with warnings.catch_warnings():
        # a seeded fit is single-threaded on purpose; the warning says so
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")
        warnings.filterwarnings("ignore", message=".*(Spectral initialisation|not connected).*")
        coords = reducer.fit_transform(array)
    return np.asarray(coords, dtype=np.float32), "umap"


def nearest_others(points: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
    """int [n, k]: each point's ``k`` nearest other points (Euclidean, exact), nearest first, equal
    distances in index order; the point itself is never one of them (an exact copy of it may be).

    Brute force over row chunks with NumPy (REDDIT-MULTI-12K's ~12,000 graphs: 12 chunks of a
    1,024 × 12,000 distance block). Not scikit-learn's ``NearestNeighbors``: importing it costs ~1 s
    on a busy 2-core machine, which the Embeddings page's first visit paid.
    """
    array = np.asarray(points, dtype=np.float64)
    n = array.shape[0]
    if not 0 < k < n:
        raise ValueError(f"k must be between 1 and {n - 1} for {n} points, not {k}")
    squares = np.einsum("ij,ij->i", array, array)
    result = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        distances = squares[rows, None] - 2.0 * (array[rows] @ array.T) + squares[None, :]
        np.maximum(distances, 0.0, out=distances)
        distances[np.arange(rows.size), rows] = np.inf  # never the point itself
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k] if k < n - 1 else np.argsort(distances, axis=1)[:, :k]
        picked = np.take_along_axis(distances, nearest, axis=1)
        order = np.lexsort((nearest, picked), axis=1)  # by distance, then by index
        result[rows] = np.take_along_axis(nearest, order, axis=1)
    return result


def neighbour_class_agreement(points, labels, k: int = 5) -> dict | None:
    """How class-structured an embedding space is, before any 2-D projection: each point's ``k``
    nearest other points (Euclidean) vote on its class (ties: the smallest class id), leave-one-out.

    points: [n, d]; labels: int [n]. Returns {"accuracy": share of points whose neighbours' vote is
    their own class, "majority": share of the largest class (what a constant guess scores), "k": the
    k used (at most n − 1)}; None for fewer than 3 points.

    >>> pts = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> neighbour_class_agreement(pts, np.array([0, 0, 0, 1, 1, 1]), k=2)
    {'accuracy': 1.0, 'majority': 0.5, 'k': 2}
    """
    array = np.asarray(points, dtype=np.float64)
    classes = np.asarray(labels, dtype=np.int64)
    n = array.shape[0]
    if n < 3:
        return None
    k = int(min(k, n - 1))
    others = nearest_others(array, k)
    votes = np.stack([np.bincount(classes[row], minlength=int(classes.max()) + 1) for row in others])
    predicted = votes.argmax(axis=1)
    return {"accuracy": float((predicted == classes).mean()), "majority": float(np.bincount(classes).max() / n),
            "k": k}
