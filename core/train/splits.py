"""Stratified splits: outer K folds, the validation hold-out inside a training fold, and stratified
subsets."""

from __future__ import annotations

import numpy as np

from core.train.settings import TrainingError


# ---------------------------------------------------------------------------- splits
def stratified_subset(labels: np.ndarray, size: int) -> np.ndarray:
    """Dataset indices of ``size`` graphs with the class proportions of ``labels``: the first graphs of each class.

    Per-class counts by largest remainder; returned sorted. ``size >= len(labels)`` keeps all.

    >>> stratified_subset(np.array([0, 0, 1, 1, 0, 1]), 4).tolist()
    [0, 1, 2, 3]
    """
    labels = np.asarray(labels)
    if size >= len(labels):
        return np.arange(len(labels))
    counts = _proportional_counts(labels, size)
    chosen = [np.flatnonzero(labels == c)[:k] for c, k in counts.items()]
    return np.sort(np.concatenate(chosen))


def _proportional_counts(labels: np.ndarray, total: int) -> dict[int, int]:
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * total / sizes.sum()
    counts = np.floor(exact).astype(int)
    # Largest remainder; ties to the larger class, then the lower class id.
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - counts[i]), -sizes[i], i))
    for i in order[: total - counts.sum()]:
        counts[i] += 1
    return {int(c): int(k) for c, k in zip(classes, counts)}


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (train positions, test positions) pairs from sklearn's shuffled StratifiedKFold."""
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels)
    present = np.bincount(labels)
    smallest = int(present[present > 0].min()) if len(labels) else 0
    if smallest < folds:
        raise TrainingError(
            f"{folds}-fold stratified CV needs at least {folds} graphs of every class, the smallest class has "
            f"{smallest}; use fewer folds or a larger subset"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(labels)), labels)]


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(labels)-1`` into (kept, held out) with ``round(fraction · n)`` held out.

    Per-class counts by largest remainder (so tiny classes may contribute none), random within
    each class; both results sorted. Unlike sklearn's splitter this works when the held-out set
    is smaller than the number of classes.
    """
    labels = np.asarray(labels)
    total = int(round(fraction * len(labels)))
    if fraction > 0:
        total = max(1, total)
    rng = np.random.default_rng(seed)
    held = []
    for c, k in _proportional_counts(labels, total).items():
        members = np.flatnonzero(labels == c)
        held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out
