"""core.analysis.layout.separate on a pair list gives the same discs as the dense [m, m] formulation."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.layout import separate


def dense_separate(positions, radius, iterations=300, bound=1.0):
    """The [m, m]-matrix formulation ``separate`` had before (the reference)."""
    pos = np.array(positions, dtype=np.float64).reshape(-1, 2)
    m = len(pos)
    radii = np.broadcast_to(np.asarray(radius, dtype=np.float64), (m,))
    if m < 2:
        return np.clip(pos, -bound, bound)
    need = radii[:, None] + radii[None, :]
    upper = np.triu(np.ones((m, m), dtype=bool), 1)
    index = np.arange(m)
    fallback = np.stack([np.cos(index[:, None] * 2.399 + index[None, :]),
                         np.sin(index[:, None] * 2.399 + index[None, :])], axis=-1)
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        distance = np.linalg.norm(delta, axis=-1)
        overlap = np.where(upper, need - distance, 0.0)
        if overlap.max() <= 1e-9:
            break
        direction = np.where(distance[..., None] > 1e-9, delta / np.maximum(distance, 1e-12)[..., None], fallback)
        push = np.where(overlap > 0, overlap, 0.0)[..., None] * direction * 0.5
        pos += push.sum(axis=1) - push.sum(axis=0)
        pos = np.clip(pos, -bound + radii[:, None], bound - radii[:, None]) if (radii < bound).all() else pos
    return pos


@pytest.mark.parametrize("seed", range(6))
def test_pair_list_matches_the_dense_formulation(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 40))
    positions = rng.uniform(-0.9, 0.9, (m, 2)) * rng.uniform(0.05, 1.0)  # crowded towards the middle
    positions[: m // 4] = positions[0]  # some centres coincide: split along the fixed directions
    radius = rng.uniform(0.02, 0.9 / np.sqrt(m), m) if seed % 2 else min(0.2, 0.9 / np.sqrt(m))
    np.testing.assert_allclose(separate(positions, radius), dense_separate(positions, radius), atol=1e-9)


def test_discs_wider_than_the_box_are_not_clipped_and_one_disc_is():
    positions = np.array([[0.0, 0.0], [0.1, 0.0]])
    np.testing.assert_allclose(separate(positions, 1.5), dense_separate(positions, 1.5), atol=1e-12)
    np.testing.assert_array_equal(separate(np.array([[3.0, -2.0]]), 0.1), [[1.0, -1.0]])
