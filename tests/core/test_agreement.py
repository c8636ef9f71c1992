"""core/analysis/predictions.py: two models' per-graph predictions compared (counts, accuracies, McNemar)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.analysis.predictions import mcnemar_exact_p, prediction_agreement


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=40))
def test_counts_partition_the_graphs_and_match_the_accuracies(rows):
    a, b, y = (np.array(column) for column in zip(*rows))
    result = prediction_agreement(a, b, y)
    counts = (result["both_correct"], result["only_a_correct"], result["only_b_correct"], result["neither_correct"])
    assert sum(counts) == result["graphs"] == len(y)
    assert result["accuracy_a"] == pytest.approx((counts[0] + counts[1]) / len(y))
    assert result["accuracy_b"] == pytest.approx((counts[0] + counts[2]) / len(y))
    assert result["agreement"] == pytest.approx(1 - len(result["disagreements"]) / len(y))
    assert np.array_equal(result["disagreements"], np.flatnonzero(a != b))
    swapped = prediction_agreement(b, a, y)
    assert swapped["mcnemar_p"] == result["mcnemar_p"]
    assert swapped["only_a_correct"] == result["only_b_correct"]


def test_mcnemar_matches_scipys_binomial_test():
    stats = pytest.importorskip("scipy.stats")
    for only_a, only_b in [(10, 2), (0, 5), (7, 7), (1, 30), (12, 9)]:
        expected = stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
        assert mcnemar_exact_p(only_a, only_b) == pytest.approx(expected)
    assert mcnemar_exact_p(0, 0) == 1.0


def test_identical_models_agree_everywhere_and_differ_by_chance_only():
    y = np.array([0, 1, 1, 0, 2])
    result = prediction_agreement(y, y, y)
    assert result["agreement"] == 1.0 and result["mcnemar_p"] == 1.0 and len(result["disagreements"]) == 0


def test_mismatched_or_empty_inputs_are_rejected():
    with pytest.raises(ValueError, match="one entry per graph"):
        prediction_agreement([0, 1], [0], [0, 1])
    with pytest.raises(ValueError, match="at least one graph"):
        prediction_agreement([], [], [])
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_exact_p(-1, 2)
