"""Cluster matching (Hungarian), stability across runs and the perceptual cluster palette (core/analysis/ §7)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import analysis

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula": published test pairs.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.694), (23.0331, 14.973, -42.5619), 2.0373),
]


@pytest.mark.parametrize("first, second, expected", SHARMA_PAIRS)
def test_ciede2000_matches_the_published_test_pairs(first, second, expected):
    assert float(analysis.ciede2000(first, second)) == pytest.approx(expected, abs=1e-4)
    assert float(analysis.ciede2000(second, first)) == pytest.approx(expected, abs=1e-4)


def _min_pairwise_difference(colors: list[str]) -> float:
    lab = analysis.srgb_to_lab(colors)
    distance = analysis.ciede2000(lab[:, None, :], lab[None, :, :])
    np.fill_diagonal(distance, np.inf)
    return float(distance.min())


@pytest.mark.parametrize("count", [2, 3, 5, 8, 12, 16, 20])
def test_palette_colours_are_perceptually_distinct_up_to_twenty_used_clusters(count):
    colors = analysis.distinct_palette(count)
    assert len(set(colors)) == count
    assert _min_pairwise_difference(colors) > 15.0  # ΔE00 ≈ 1 is just noticeable
    # none fades into the white page background
    white = analysis.srgb_to_lab(["#ffffff"])[0]
    assert analysis.ciede2000(analysis.srgb_to_lab(colors), white).min() > 15.0


def test_sparse_used_ids_of_a_hundred_cluster_level_get_distinct_colours():
    used = [3, 51, 52, 99]  # e.g. D&D: 4 of 100 clusters in use
    colors = analysis.used_cluster_colors(np.array([99, 3, 51, 52, 3, 99]))
    assert sorted(colors) == used
    assert _min_pairwise_difference(list(colors.values())) > 25.0
    assert analysis.distinct_palette(4) == list(colors.values())


def test_old_palette_near_duplicates_are_gone_from_the_id_palette():
    from viz_app import figures

    assert _min_pairwise_difference(list(figures.CLUSTER_PALETTE)) > 10.0


def test_match_clusters_undoes_a_permutation_and_keeps_the_partition():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 6, 80)
    permuted = np.array([4, 0, 5, 2, 1, 3])[reference] + 10
    assert analysis.match_clusters(reference, permuted).tolist() == reference.tolist()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=25))
def test_match_clusters_maximises_agreement_over_every_one_to_one_relabelling(pairs):
    reference = np.array([a for a, _ in pairs])
    labels = np.array([b for _, b in pairs])
    matched = analysis.match_clusters(reference, labels)
    # same partition
    assert analysis.agreement(labels, matched)["ari"] == pytest.approx(1.0) or len(set(labels)) == 1
    best = 0
    b_ids = sorted(set(labels.tolist()))
    for target in itertools.permutations(range(max(4, len(b_ids))), len(b_ids)):
        mapping = dict(zip(b_ids, target))
        best = max(best, int(sum(mapping[b] == a for a, b in zip(reference, labels))))
    assert int((matched == reference).sum()) == best


def test_stability_of_identical_runs_up_to_ids_is_perfect_and_a_moved_node_is_found():
    base = np.repeat(np.arange(3), 5)
    runs = [base, (base + 1) % 3, base.copy(), base.copy(), base.copy()]
    runs[4][0] = 2  # one run moves node 0
    result = analysis.clustering_stability(runs)
    assert result["node_agreement"][0] == pytest.approx(4 / 5)
    assert np.all(result["node_agreement"][1:] == 1.0)
    assert result["pairs"] == 10
    assert 0.8 < result["mean_nmi"] < 1.0
    assert (result["matched"][1] == base).all()


def test_stability_needs_two_runs_of_the_same_nodes():
    with pytest.raises(ValueError, match="at least 2"):
        analysis.clustering_stability([np.zeros(3, int)])
    with pytest.raises(ValueError, match="nodes"):
        analysis.clustering_stability([np.zeros(3, int), np.zeros(4, int)])
