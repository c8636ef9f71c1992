"""Two classifiers on the same graphs: accuracy of each and where their predictions differ.

Pure numpy; the Model card page (and any view setting a DiffPool model beside a model without
pooling) reads these numbers instead of computing its own.

>>> result = prediction_agreement([0, 1, 1, 0], [0, 1, 0, 0], [0, 1, 1, 1])
>>> result["accuracy_a"], result["accuracy_b"], result["agreement"], result["only_a_correct"]
(0.75, 0.5, 0.75, 1)
"""

from __future__ import annotations

import math

import numpy as np


#: A classifier whose accuracy is not this far above always answering the largest class has not
#: learned to classify (the margin every shipped model clears on its held-out fold).
MAJORITY_MARGIN = 0.05


def majority_share(labels) -> float | None:
    """Accuracy of always answering the most common of ``labels`` (None for no labels).

    >>> majority_share([0, 1, 1, 2])
    0.5
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    return float(np.bincount(labels).max() / labels.size) if labels.size else None


def mcnemar_exact_p(only_a_correct: int, only_b_correct: int) -> float:
    """Two-sided exact McNemar test: P(a split at least this uneven of the discordant graphs | both models equally good).

    Under the null each of the ``n = only_a + only_b`` graphs where exactly one model is right is
    equally likely to favour either, so ``min(only_a, only_b) ~ Binomial(n, 1/2)``; the p-value is
    twice its lower tail, capped at 1. No discordant graphs gives 1.

    >>> round(mcnemar_exact_p(10, 2), 4)
    0.0386
    >>> mcnemar_exact_p(3, 3)
    1.0
    """
    if only_a_correct < 0 or only_b_correct < 0:
        raise ValueError(f"counts must be non-negative, got {only_a_correct} and {only_b_correct}")
    n = only_a_correct + only_b_correct
    if n == 0:
        return 1.0
    low = min(only_a_correct, only_b_correct)
    tail = sum(math.comb(n, k) for k in range(low + 1)) / 2.0 ** n
    return float(min(1.0, 2.0 * tail))


def prediction_agreement(predicted_a, predicted_b, labels) -> dict:
    """Compare two models' per-graph predictions against the true classes of the same graphs.

    Args:
        predicted_a, predicted_b: int [G] predicted class per graph (same graph order).
        labels: int [G] true class per graph.

    Returns a dict: ``graphs`` (G), ``accuracy_a`` / ``accuracy_b`` (shares correct),
    ``agreement`` (share of graphs with the same prediction), the 2×2 counts ``both_correct``,
    ``only_a_correct``, ``only_b_correct``, ``neither_correct``, ``mcnemar_p``
    (:func:`mcnemar_exact_p`: is one model's lead more than chance on these graphs?) and
    ``disagreements`` (int positions where the predictions differ).
    """
    a, b, y = (np.asarray(v, dtype=np.int64).reshape(-1) for v in (predicted_a, predicted_b, labels))
    if not (len(a) == len(b) == len(y)):
        raise ValueError(f"predicted_a, predicted_b and labels must have one entry per graph, "
                         f"got lengths {len(a)}, {len(b)} and {len(y)}")
    if len(y) == 0:
        raise ValueError("prediction_agreement needs at least one graph")
    right_a, right_b = a == y, b == y
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    return {
        "graphs": int(len(y)),
        "accuracy_a": float(right_a.mean()),
        "accuracy_b": float(right_b.mean()),
        "agreement": float(np.mean(a == b)),
        "both_correct": int(np.sum(right_a & right_b)),
        "only_a_correct": only_a,
        "only_b_correct": only_b,
        "neither_correct": int(np.sum(~right_a & ~right_b)),
        "mcnemar_p": mcnemar_exact_p(only_a, only_b),
        "disagreements": np.flatnonzero(a != b),
    }
