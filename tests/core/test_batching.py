"""Batching: every graph exactly once, padding kept low, huge graphs alone, determinism."""

from __future__ import annotations

import numpy as np

from core.data.batching import bucket_batches, size_batches


def _padding_factor(sizes: np.ndarray, batches: list[list[int]]) -> float:
    return sum(len(b) * sizes[b].max() for b in batches) / sizes.sum()


def test_bucket_batches_cover_every_graph_once_with_little_padding():
    sizes = np.random.default_rng(0).integers(5, 130, 600)
    batches = bucket_batches(sizes, 20, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(600))
    assert all(len(b) <= 20 for b in batches)
    random_order = np.random.default_rng(3).permutation(600)
    random_batches = [random_order[i:i + 20].tolist() for i in range(0, 600, 20)]
    assert _padding_factor(sizes, batches) < 0.75 * _padding_factor(sizes, random_batches)


def test_bucket_batches_mix_sizes_across_the_dataset_unlike_a_global_sort():
    sizes = np.arange(400)
    bucket_spread = np.mean([np.ptp(sizes[b]) for b in bucket_batches(sizes, 20, seed=0)])
    sorted_spread = np.mean([np.ptp(sizes[b]) for b in size_batches(sizes, 20, shuffle=True, seed=0)])
    # Each bucket batch spans a window's local size band (wider than a global sort's adjacent sizes).
    assert bucket_spread > 2 * sorted_spread


def test_bucket_batches_give_huge_graphs_their_own_batch_and_are_deterministic():
    sizes = np.array([10] * 50 + [5000])
    batches = bucket_batches(sizes, 20, seed=1, max_elements=8_000_000)
    assert [50] in batches
    assert batches == bucket_batches(sizes, 20, seed=1)
    assert batches != bucket_batches(sizes, 20, seed=2)
