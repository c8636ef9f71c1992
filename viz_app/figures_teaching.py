"""Plotly figures of the teaching and upload pages that :mod:`viz_app.figures` does not have.

Pure functions, data in and ``go.Figure`` out, using :func:`viz_app.figures.cluster_color` so a
cluster keeps its colour across every figure of the app. :func:`matrix_svg` draws the same
heatmap as :func:`matrix_heatmap` as a static SVG picture, and :func:`graph_svg` a small graph:
the browser shows a picture at once, where a plotly heatmap with every cell annotated (or a pyvis
network) takes it a good part of a second.

Example
-------
>>> import numpy as np
>>> fig = matrix_heatmap(np.eye(2), ["a", "b"], ["x", "y"], "I")
>>> fig.data[0].texttemplate
'%{text}'
"""

from __future__ import annotations

import math
from functools import lru_cache
from html import escape
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from viz_app.figures import cluster_color

#: Cells are annotated with their value up to this many cells (beyond, hover only).
MAX_ANNOTATED_CELLS = 900
#: Colour levels a static picture uses (colours are looked up, not interpolated per cell).
SVG_COLOR_LEVELS = 256


def _format(value: float, decimals: int) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.{decimals}f}"


def matrix_heatmap(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    colorscale: str = "Blues",
    zmin: float | None = None,
    zmax: float | None = None,
    zmid: float | None = None,
    decimals: int = 2,
    annotate: bool | None = None,
    col_colors: Sequence[str] | None = None,
    row_colors: Sequence[str] | None = None,
    colorbar_title: str = "",
    height: int | None = None,
) -> go.Figure:
    """Heatmap of any small matrix [r, c] with each cell's value written in it.

    ``annotate`` None: write values when the matrix has at most :data:`MAX_ANNOTATED_CELLS` cells.
    ``col_colors`` / ``row_colors``: coloured squares beside the columns / rows (e.g. cluster colours,
    or the hard cluster of each node row). Trace 0 is the heatmap.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {values.shape}")
    rows, cols = values.shape
    rows_text = [str(r) for r in row_labels]
    cols_text = [str(c) for c in col_labels]
    if len(rows_text) != rows or len(cols_text) != cols:
        raise ValueError(f"{len(rows_text)} row and {len(cols_text)} column labels for a {rows}×{cols} matrix")
    annotate = values.size <= MAX_ANNOTATED_CELLS if annotate is None else annotate
    heat = dict(
        z=values, x=cols_text, y=rows_text, colorscale=colorscale, zmin=zmin, zmax=zmax, zmid=zmid,
        colorbar=dict(title=colorbar_title), xgap=1, ygap=1,
        hovertemplate="row %{y}, column %{x}<br>value %{z:.4f}<extra></extra>",
    )
    if annotate:
        heat["text"] = [[_format(v, decimals) for v in row] for row in values]
        heat["texttemplate"] = "%{text}"
        heat["textfont"] = dict(size=9 if cols > 12 else 11)
    fig = go.Figure(go.Heatmap(**heat))
    if col_colors is not None:
        fig.add_trace(go.Scatter(
            x=cols_text, y=[1.02] * cols, yaxis="y2", mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(symbol="square", size=11, color=list(col_colors)),
        ))
    if row_colors is not None:
        fig.add_trace(go.Scatter(
            x=[1.02] * rows, y=rows_text, xaxis="x2", mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(symbol="square", size=9, color=list(row_colors)),
        ))
    layout = dict(
        yaxis=dict(autorange="reversed", domain=[0, 0.94] if col_colors is not None else [0, 1],
                   showticklabels=rows <= 80, type="category"),
        xaxis=dict(domain=[0.04, 1] if row_colors is not None else [0, 1], showticklabels=cols <= 60,
                   type="category", side="bottom"),
    )
    if col_colors is not None:
        layout["yaxis2"] = dict(domain=[0.95, 1.0], range=[1.0, 1.04], visible=False)
    if row_colors is not None:
        layout["xaxis2"] = dict(domain=[0, 0.03], range=[1.0, 1.04], visible=False, anchor="y")
    fig.update_layout(**layout)
    fig.update_layout(title=title, margin=dict(l=40, r=20, t=50, b=40),
                      height=height or int(max(260, min(820, 18 * rows + 130))))
    return fig


def _color_range(values: np.ndarray, zmin: float | None, zmax: float | None, zmid: float | None) -> tuple[float, float]:
    """The value range a colour scale spans, as plotly sets it: the data's range unless given; with
    ``zmid`` and a missing bound, symmetric around ``zmid``."""
    finite = values[np.isfinite(values)]
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    if zmid is not None and (zmin is None or zmax is None):
        reach = max(abs(high - zmid), abs(low - zmid))
        low, high = zmid - reach, zmid + reach
    low = low if zmin is None else float(zmin)
    high = high if zmax is None else float(zmax)
    return low, high


@lru_cache(maxsize=16)
def _palette(colorscale: str) -> tuple[tuple[str, bool], ...]:
    """:data:`SVG_COLOR_LEVELS` colours of a named plotly scale, as (``#rrggbb``, dark enough for white text)."""
    levels = []
    for rgb in sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, SVG_COLOR_LEVELS))):
        red, green, blue = (round(float(v)) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(","))
        levels.append((f"#{red:02x}{green:02x}{blue:02x}", 0.299 * red + 0.587 * green + 0.114 * blue < 140))
    return tuple(levels)


def matrix_svg(
    matrix: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    colorscale: str = "Blues",
    zmin: float | None = None,
    zmax: float | None = None,
    zmid: float | None = None,
    decimals: int = 2,
    annotate: bool | None = None,
    cell_px: int | None = None,
) -> str:
    """Heatmap of a small matrix [r, c] as a static SVG picture, each cell's value written in it.

    The same picture as :func:`matrix_heatmap` (same colour scale, range and number format; rows
    top to bottom, a colour bar with the range under the title) without hover or zoom. One
    ``<rect class="cell">`` per cell, row by row; ``annotate`` None writes values up to
    :data:`MAX_ANNOTATED_CELLS` cells. ``cell_px``: side of a cell in pixels; by default the
    picture is about 640 px wide. Non-finite cells are grey, written as they are.

    >>> svg = matrix_svg(np.array([[0.0, 1.0]]), ["a"], ["x", "y"], "A")
    >>> svg.count('class="cell"'), ">1</text>" in svg
    (2, True)
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {values.shape}")
    rows, cols = values.shape
    rows_text = [str(r) for r in row_labels]
    cols_text = [str(c) for c in col_labels]
    if len(rows_text) != rows or len(cols_text) != cols:
        raise ValueError(f"{len(rows_text)} row and {len(cols_text)} column labels for a {rows}×{cols} matrix")
    annotate = values.size <= MAX_ANNOTATED_CELLS if annotate is None else annotate
    cell = int(cell_px) if cell_px else int(min(28, max(10, 640 // max(cols, 1))))
    texts = [[_format(v, decimals) if np.isfinite(v) else str(v) for v in row] for row in values] if annotate else []
    widest = max((len(t) for row in texts for t in row), default=1)
    # small enough that the widest value fits its cell (a digit is about 0.56 em wide)
    font = round(max(5.0, min(11.0, cell * 0.42, (cell - 3) / (0.56 * widest))), 1)
    label_font = 10
    char = 0.6 * label_font  # an average glyph's width in a sans-serif font
    left = int(8 + char * max((len(t) for t in rows_text), default=1))
    top = 56  # the title, then the colour bar
    bottom = int(8 + char * max((len(t) for t in cols_text), default=1))  # column labels, written upwards
    width, height = left + cols * cell + 12, top + rows * cell + bottom

    low, high = _color_range(values, zmin, zmax, zmid)
    palette = _palette(colorscale)
    span = high - low if high > low else 1.0
    with np.errstate(invalid="ignore"):
        levels = np.clip(np.rint((values - low) / span * (SVG_COLOR_LEVELS - 1)), 0, SVG_COLOR_LEVELS - 1)

    bar = min(200, cols * cell)
    stops = "".join(f'<stop offset="{f:.1f}" stop-color="{palette[round(f * (SVG_COLOR_LEVELS - 1))][0]}"/>'
                    for f in np.linspace(0, 1, 11))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" font-family="sans-serif">',
             f"<title>{escape(title)}</title>",
             f'<text x="{left}" y="18" font-size="15">{escape(title)}</text>',
             f'<defs><linearGradient id="scale">{stops}</linearGradient></defs>',
             f'<rect x="{left}" y="28" width="{bar}" height="9" fill="url(#scale)" stroke="#999" stroke-width="0.5"/>',
             f'<g font-size="{label_font}"><text x="{left}" y="48">{escape(_format(low, decimals))}</text>',
             f'<text x="{left + bar}" y="48" text-anchor="end">{escape(_format(high, decimals))}</text>',
             '<g text-anchor="end">']
    parts += [f'<text x="{left - 4}" y="{top + i * cell + cell / 2 + 3.5:.1f}">{escape(label)}</text>'
              for i, label in enumerate(rows_text)]
    parts += [f'<text transform="translate({left + j * cell + cell / 2 + 3.5:.1f},{top + rows * cell + 4}) rotate(-90)">'
              f"{escape(label)}</text>" for j, label in enumerate(cols_text)]
    parts.append("</g></g>")
    # one group per row: cells only need their x; text is centred by its anchor and a baseline shift
    text_y = (cell - 1) / 2 + font * 0.35
    for i in range(rows):
        parts.append(f'<g transform="translate({left},{top + i * cell})" font-size="{font}" text-anchor="middle">')
        for j in range(cols):
            value = values[i, j]
            finite = bool(np.isfinite(value))
            fill, dark = palette[int(levels[i, j])] if finite else ("#c8c8c8", False)
            parts.append(f'<rect class="cell" x="{j * cell}" width="{cell - 1}" height="{cell - 1}" fill="{fill}"/>')
            if annotate:
                ink = ' fill="#fff"' if dark else ""
                parts.append(f'<text x="{j * cell + (cell - 1) / 2:g}" y="{text_y:.1f}"{ink}>{texts[i][j]}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def graph_svg(
    positions: np.ndarray,
    edges: np.ndarray,
    labels: Sequence[str],
    node_color: str = "#4C78A8",
    size_px: int = 420,
) -> str:
    """A small graph as a static SVG picture: nodes at ``positions`` [n, 2] (layout units; y grows
    downwards, as in the pyvis network), ``edges`` int [E, 2] as lines (self-loops skipped), each
    node's label under it. The picture keeps the layout's aspect ratio within ``size_px``.

    >>> svg = graph_svg(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0, 1]]), ["a", "b"])
    >>> svg.count("<circle"), svg.count("<line")
    (2, 1)
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    names = [str(m) for m in labels]
    if len(names) != len(pos):
        raise ValueError(f"{len(names)} labels for {len(pos)} node positions")
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(pos)):
        raise ValueError(f"edges name nodes outside 0..{len(pos) - 1}")
    radius, pad = 8.0, 22.0
    low = pos.min(axis=0) if len(pos) else np.zeros(2)
    extent = np.maximum(pos.max(axis=0) - low, 1e-9) if len(pos) else np.ones(2)
    scale = (size_px - 2 * pad) / float(extent.max())
    xy = (pos - low) * scale + pad
    width, height = (extent * scale + 2 * pad).round().astype(int)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 12}" width="{width}" '
             f'height="{height + 12}" font-family="sans-serif"><g stroke="#9AA3AE" stroke-width="1.2">']
    parts += [f'<line x1="{xy[i, 0]:.1f}" y1="{xy[i, 1]:.1f}" x2="{xy[j, 0]:.1f}" y2="{xy[j, 1]:.1f}"/>'
              for i, j in pairs if i != j]
    parts.append(f'</g><g fill="{escape(node_color)}" stroke="#fff" stroke-width="1">')
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:g}"/>' for x, y in xy]
    parts.append('</g><g font-size="10" text-anchor="middle" fill="#333">')
    parts += [f'<text x="{x:.1f}" y="{y + radius + 10:.1f}">{escape(name)}</text>' for (x, y), name in zip(xy, names)]
    parts.append("</g></svg>")
    return "".join(parts)


def node_entropy_bar(
    node_entropy: np.ndarray, node_names: Sequence[str], hard_clusters: np.ndarray, num_clusters: int,
    title: str = "Entropy of each node's assignment",
) -> go.Figure:
    """Bar per node of H(S_i) (nats), bars in the colour of the node's hard cluster, with the bound log C."""
    entropy = np.asarray(node_entropy, dtype=np.float64)
    bound = math.log(max(int(num_clusters), 1))
    fig = go.Figure(go.Bar(
        x=[str(n) for n in node_names], y=entropy,
        marker=dict(color=[cluster_color(c) for c in np.asarray(hard_clusters)]),
        hovertemplate="node %{x}<br>H = %{y:.3f} nats<extra></extra>",
    ))
    fig.add_hline(y=bound, line_dash="dash", line_color="#E45756",
                  annotation_text=f"log C = {bound:.2f} (uniform row)", annotation_position="top left")
    fig.update_layout(title=title, height=320, margin=dict(l=40, r=20, t=50, b=40),
                      xaxis=dict(title="node (colour = most likely cluster)", type="category"),
                      yaxis=dict(title="H(S_i), nats", range=[0, max(bound * 1.1, 1e-3)]))
    return fig


def epoch_curves(
    epochs: Sequence[int], series: dict[str, Sequence[float]], current_epoch: int | None = None,
    title: str = "Over training", y_title: str = "value",
) -> go.Figure:
    """Lines of several quantities per epoch, with a dashed marker line and dots at ``current_epoch``."""
    fig = go.Figure()
    palette = ("#4C78A8", "#E45756", "#54A24B", "#B279A2", "#F58518")
    epochs = list(epochs)
    for i, (name, values) in enumerate(series.items()):
        values = list(values)
        color = palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=epochs, y=values, mode="lines+markers", name=name,
                                 line=dict(color=color), marker=dict(size=4)))
        if current_epoch is not None and current_epoch in epochs:
            at = epochs.index(current_epoch)
            fig.add_trace(go.Scatter(x=[current_epoch], y=[values[at]], mode="markers", showlegend=False,
                                     marker=dict(size=12, color=color, line=dict(width=2, color="black")),
                                     hovertemplate=f"{name} at epoch %{{x}}: %{{y:.4f}}<extra></extra>"))
    if current_epoch is not None:
        fig.add_vline(x=current_epoch, line_dash="dash", line_color="#555")
    fig.update_layout(title=title, height=320, margin=dict(l=40, r=20, t=50, b=40),
                      xaxis_title="epoch", yaxis_title=y_title, legend=dict(orientation="h", y=-0.25))
    return fig


def describe_features(names: list[str]) -> str:
    """One sentence on what X's columns are, from their names (``deg=3``, ``eigvec 2``, ``label 0``, ...)."""
    groups = [("deg=", "deg≥"), ("log(1+deg)",), ("eigvec", "pos"), ("label",), ("attr",)]
    words = ["a one-hot of the degree", "log(1+degree)", "Laplacian eigenvectors (positions)", "a one-hot of the node label",
             "the dataset's numeric node attributes"]
    counts = [sum(name.startswith(prefixes) for name in names) for prefixes in groups]
    parts = [f"{word} ({count} column{'s' if count != 1 else ''})" for word, count in zip(words, counts) if count]
    other = len(names) - sum(counts)
    if other:
        parts.append(f"{other} other column{'s' if other != 1 else ''}")
    structural = not counts[3] and not counts[4] and not other
    return (f"Here its {len(names)} columns are {', '.join(parts)}"
            + ("; they describe only the structure, so the model works on any graph." if structural
               else "; some come from the dataset's own node data, so the model needs graphs that carry it."))
