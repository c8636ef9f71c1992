"""The two accuracy protocols computed from the same runs: honest (test fold at the best-validation
epoch) and the paper's (max over epochs of the mean test-fold accuracy)."""

from __future__ import annotations

import math

import numpy as np

HONEST_TEXT = (
    "honest: stratified {folds}-fold CV (shuffle, seed {seed}); {val:.0%} of each training fold held out "
    "(stratified) for validation; test-fold accuracy at the epoch of best validation accuracy "
    "(ties -> earlier epoch); mean ± std (ddof=0) over folds"
)
PAPER_TEXT = (
    "paper protocol: max over epochs of mean test-fold accuracy, no model selection "
    "(reference code benchmark_task_val; optimistic)"
)


# ---------------------------------------------------------------------------- protocols
def select_epoch(history: list[dict]) -> int:
    """Position in ``history`` of the best ``val_acc`` (ties -> earlier); the last epoch without validation."""
    best, best_position = -math.inf, len(history) - 1
    for position, row in enumerate(history):
        value = row.get("val_acc")
        if value is not None and value > best:
            best, best_position = value, position
    return best_position


def aggregate_protocols(histories: list[list[dict]]) -> dict:
    """Both accuracy protocols from per-fold histories (rows with ``epoch``, ``val_acc``, ``test_acc``).

    Returns ``{"honest": {...} or None, "paper": {...}}``:

    - honest: per fold the ``test_acc`` at :func:`select_epoch`; ``mean``, ``std`` (ddof=0),
      ``per_fold``, ``epochs`` (the selected epoch per fold). None when no fold has validation.
    - paper: ``curve`` = mean over folds of ``test_acc`` for each epoch that every fold reached
      (early stopping can shorten histories), ``accuracy`` = its max, ``epoch`` = its first argmax.

    >>> h = [[{"epoch": 1, "val_acc": .5, "test_acc": .4}, {"epoch": 2, "val_acc": .5, "test_acc": .8}],
    ...      [{"epoch": 1, "val_acc": .4, "test_acc": .6}, {"epoch": 2, "val_acc": .6, "test_acc": .6}]]
    >>> r = aggregate_protocols(h); r["honest"]["per_fold"], r["paper"]["accuracy"], r["paper"]["epoch"]
    ([0.4, 0.6], 0.7, 2)
    """
    honest = None
    if histories and all(any(row.get("val_acc") is not None for row in h) for h in histories):
        chosen = [h[select_epoch(h)] for h in histories]
        per_fold = [float(row["test_acc"]) for row in chosen]
        honest = {
            "mean": float(np.mean(per_fold)),
            "std": float(np.std(per_fold)),
            "per_fold": per_fold,
            "epochs": [int(row["epoch"]) for row in chosen],
        }
    paper = None
    common = min((len(h) for h in histories), default=0)
    if common:
        curve = [float(np.mean([h[i]["test_acc"] for h in histories])) for i in range(common)]
        best = int(np.argmax(curve))
        paper = {
            "accuracy": curve[best],
            "epoch": int(histories[0][best]["epoch"]),
            "curve": curve,
            "epochs_compared": common,
        }
    return {"honest": honest, "paper": paper}
