"""Cluster colours that stay apart: sRGB → CIELAB, the CIEDE2000 distance, and a palette distinct for
any number of used clusters."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations; keeps the import graph one-way
    pass



def srgb_to_lab(colors) -> np.ndarray:
    """CIELAB (D65) of sRGB colours: float64 [n, 3] (L*, a*, b*) from hex strings or [n, 3] in 0..1.

    >>> (srgb_to_lab(["#ffffff", "#000000"]).round(1) + 0.0).tolist()
    [[100.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    if len(colors) and isinstance(colors[0], str):
        rgb = np.array([[int(c.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)] for c in colors])
    else:
        rgb = np.asarray(colors, dtype=np.float64).reshape(-1, 3)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = np.array([[0.4124564, 0.3575761, 0.1804375],
                       [0.2126729, 0.7151522, 0.0721750],
                       [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1) + 0.0


def ciede2000(lab_1, lab_2) -> np.ndarray:
    """CIEDE2000 colour difference ΔE₀₀ between CIELAB colours (broadcasting [..., 3] arrays).

    ΔE₀₀ ≈ 1 is a just-noticeable difference; ≥ 10 reads as clearly different colours. Follows
    Sharma, Wu & Dalal (2005), including their test pair:

    >>> float(ciede2000([50, 2.6772, -79.7751], [50, 0, -82.7485]).round(4))
    2.0425
    """
    lab_1, lab_2 = np.asarray(lab_1, dtype=np.float64), np.asarray(lab_2, dtype=np.float64)
    l1, a1, b1 = lab_1[..., 0], lab_1[..., 1], lab_1[..., 2]
    l2, a2, b2 = lab_2[..., 0], lab_2[..., 1], lab_2[..., 2]
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(np.abs(h1p - h2p) > 180, np.where(h_sum < 360, h_sum + 360, h_sum - 360), h_sum) / 2
    h_mean = np.where(c1p * c2p == 0, h_sum, h_mean)
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean ** 7 / (cp_mean ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dhh / s_h) ** 2 + r_t * (dc / s_c) * (dhh / s_h))


#: Lightness band of generated cluster colours: dark enough to see on white, light enough to
#: tell apart from black edges and text.
PALETTE_LIGHTNESS = (30.0, 82.0)


@functools.lru_cache(maxsize=4)
def _palette_sequence(length: int) -> tuple[str, ...]:
    levels = np.linspace(0, 1, 18)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = srgb_to_lab(grid)
    keep = (lab[:, 0] >= PALETTE_LIGHTNESS[0]) & (lab[:, 0] <= PALETTE_LIGHTNESS[1])
    grid, lab = grid[keep], lab[keep]
    # Start from a saturated blue, then repeatedly take the candidate farthest (CIEDE2000) from
    # every colour picked so far, and from white (the page background).
    start = int(np.argmin(ciede2000(lab, srgb_to_lab(["#1f77b4"])[0])))
    picked = [start]
    nearest = np.minimum(ciede2000(lab, lab[start]), ciede2000(lab, np.array([100.0, 0.0, 0.0])))
    while len(picked) < length:
        choice = int(np.argmax(nearest))
        picked.append(choice)
        nearest = np.minimum(nearest, ciede2000(lab, lab[choice]))
    return tuple("#" + "".join(f"{round(v * 255):02x}" for v in grid[i]) for i in picked)


def distinct_palette(count: int) -> list[str]:
    """``count`` hex colours, each as far (CIEDE2000) as possible from the ones before it.

    Greedy farthest-point sampling over an 18³ sRGB grid limited to :data:`PALETTE_LIGHTNESS`;
    the sequence is fixed, so ``distinct_palette(k)`` is the first k of ``distinct_palette(k + 1)``.
    For up to 20 colours every pair differs by ΔE₀₀ > 10 (tested). Colour only the clusters in
    use (:func:`used_cluster_colors`) so a level with 100 clusters but 5 used gets 5 far-apart colours.

    >>> distinct_palette(3)
    ['#1e78b4', '#5a5a00', '#d2003c']
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count == 0:
        return []
    return list(_palette_sequence(max(64, 1 << (count - 1).bit_length()))[:count])


def used_cluster_colors(used_ids) -> dict[int, str]:
    """Cluster id → colour for the clusters in use: the i-th smallest used id gets ``distinct_palette``'s i-th colour.

    >>> used_cluster_colors([42, 7]) == {7: distinct_palette(2)[0], 42: distinct_palette(2)[1]}
    True
    """
    ids = sorted({int(i) for i in np.asarray(used_ids).reshape(-1)})
    return dict(zip(ids, distinct_palette(len(ids))))
