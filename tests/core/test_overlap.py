"""core/analysis/overlap.py: covers from list-valued attributes and the overlapping NMI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import normalized_mutual_info_score

from core.analysis.overlap import (
    cover_from_labels,
    cover_from_lists,
    first_group_labels,
    is_list_valued,
    overlapping_nmi,
    score_overlapping,
)


def test_member_lists_and_group_lists_give_the_same_cover():
    # networkx's LFR stores each node's whole community; other tools store group ids.
    as_members = [[0, 1], [0, 1], [2, 3, 4], [2, 3, 4], [2, 3, 4]]
    as_groups = [["a"], ["a"], ["b"], ["b"], ["b"]]
    assert set(cover_from_lists(as_members)) == set(cover_from_lists(as_groups))


def test_identical_overlapping_covers_score_one_and_a_partition_scores_less():
    truth = [[0], [0], [0, 1], [1], [1], [1]]
    cover = cover_from_lists(truth)
    assert overlapping_nmi(cover, cover) == pytest.approx(1.0)
    assert overlapping_nmi(cover, cover_from_labels([0, 0, 0, 1, 1, 1])) < 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=4, max_size=30), st.lists(st.integers(0, 3), min_size=4, max_size=30))
def test_overlapping_nmi_is_symmetric_bounded_and_label_free(a, b):
    n = min(len(a), len(b))
    a, b = np.array(a[:n]), np.array(b[:n])
    score = overlapping_nmi(cover_from_labels(a), cover_from_labels(b), n)
    assert 0.0 <= score <= 1.0
    assert score == pytest.approx(overlapping_nmi(cover_from_labels(b), cover_from_labels(a), n))
    assert score == pytest.approx(overlapping_nmi(cover_from_labels((a + 1) % 4), cover_from_labels(b), n))


def test_partitions_track_the_classical_nmi():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 50)
    noisy = truth.copy()
    noisy[:40] = rng.integers(0, 4, 40)
    unrelated = rng.integers(0, 4, 200)
    close = overlapping_nmi(cover_from_labels(truth), cover_from_labels(noisy))
    far = overlapping_nmi(cover_from_labels(truth), cover_from_labels(unrelated))
    assert far < 0.05 < 0.6 < close
    assert abs(close - normalized_mutual_info_score(truth, noisy)) < 0.15


def test_score_overlapping_counts_and_first_group_reading():
    truth = [[5, 2], [5], [2], None]
    report = score_overlapping(truth, [0, 0, 1, 1])
    assert report["truth_groups"] == 2 and report["nodes_in_several_groups"] == 1
    assert report["nodes_in_no_group"] == 1
    assert first_group_labels(truth).tolist() == [0, 0, 1, 2]
    assert report["first_group_nmi"] == pytest.approx(normalized_mutual_info_score([0, 0, 1, 2], [0, 0, 1, 1]))
    assert is_list_valued(truth) and not is_list_valued([1, 2])
    with pytest.raises(ValueError, match="4 nodes but the clustering 3"):
        score_overlapping(truth, [0, 1, 1])
