"""Plotly figures of the teaching and upload pages that :mod:`viz_app.figures` does not have.

Pure functions, data in and ``go.Figure`` out, using :func:`viz_app.figures.cluster_color` so a
cluster keeps its colour across every figure of the app.

Example
-------
>>> import numpy as np
>>> fig = matrix_heatmap(np.eye(2), ["a", "b"], ["x", "y"], "I")
>>> fig.data[0].texttemplate
'%{text}'
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from viz_app.figures import cluster_color

#: Cells are annotated with their value up to this many cells (beyond, hover only).
MAX_ANNOTATED_CELLS = 900


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
