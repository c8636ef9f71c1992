"""Plotly figures for the explorer: plain data in, ``go.Figure`` out.

Every function here is pure (no Streamlit, no model): pass arrays from a
:class:`core.model.trace.GraphTrace` or from :mod:`core.analysis` and get a figure back, so other pages
(upload, teaching) can reuse them.

Colours: only the clusters *in use* at a level (the argmax of at least one node) get a colour,
from :func:`core.analysis.used_cluster_colors` — the i-th smallest used id takes the i-th colour
of :func:`core.analysis.distinct_palette`, whose colours are far apart in CIEDE2000 for any count
(a level with 100 clusters and 5 in use gets 5 clearly different colours). Every figure of a level
derives the same used set, so a cluster keeps its colour across the heatmap header, the mass bars,
the graph drawings and the pyvis networks; unused clusters are grey (:data:`UNUSED_COLOR`).
Graph classes use a separate palette (:func:`class_color`) so they are not confused with clusters.
Entropy is drawn on :data:`ENTROPY_COLORSCALE` over 0 … log C (dark = decided); show it with
``theme=None`` (Streamlit's plotly theme would swap the colour scale's darkest colour).

Example
-------
>>> import numpy as np
>>> fig = cluster_mass_bar(np.array([3.0, 1.0]))
>>> fig.data[0].marker.color == tuple(distinct_palette(2))
True
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from core.analysis.colours import distinct_palette, used_cluster_colors

#: Palette by cluster id for figures that have no "used" set (teaching): the first 64 colours of
#: :func:`core.analysis.distinct_palette` (no near-duplicates); index = cluster id mod 64.
CLUSTER_PALETTE: tuple[str, ...] = tuple(distinct_palette(64))

#: Scatter plots with up to this many points are drawn as SVG (``go.Scatter``), larger ones with
#: WebGL (``go.Scattergl``). Every WebGL plot opens its own GL context, which is slow to start where
#: the browser renders GL in software: five 40-node graphs took 1.8 s to draw with WebGL and 0.6 s as
#: SVG in headless Chromium on the 2-core machine. SVG stays quick up to a few thousand markers.
SVG_MAX_POINTS = 1500


def scatter_trace(points: int, **properties) -> go.Scatter | go.Scattergl:
    """A scatter trace of ``points`` markers: SVG up to :data:`SVG_MAX_POINTS`, WebGL beyond."""
    return (go.Scatter if points <= SVG_MAX_POINTS else go.Scattergl)(**properties)


#: Colour of clusters no node picks.
UNUSED_COLOR = "#d9d9d9"

#: Agreement / stability colour scale: red (unstable) → yellow → green (stable in every run).
AGREEMENT_COLORSCALE = "RdYlGn"

#: Occlusion colour scale: red = removing the cluster lowers p(class), blue = it raises it.
OCCLUSION_COLORSCALE = "RdBu"

#: Entropy colour scale: plotly's Inferno with a pure black low end (dark = decided node).
ENTROPY_COLORSCALE = [[0.0, "#000000"], [0.111, "#1b0c41"], [0.222, "#4a0c6b"], [0.333, "#781c6d"],
                      [0.444, "#a52c60"], [0.555, "#cf4446"], [0.666, "#ed6925"], [0.777, "#fb9b06"],
                      [0.888, "#f7d13d"], [1.0, "#fcffa4"]]

#: Palette for graph classes (plotly "Set2"), distinct from the cluster palette.
CLASS_PALETTE: tuple[str, ...] = (
    "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3",
)

#: Plotly config used for every chart: keep the modebar so the camera (PNG) button is there.
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def cluster_color(cluster: int) -> str:
    """Hex colour of cluster id ``cluster`` (any level), from :data:`CLUSTER_PALETTE`."""
    return CLUSTER_PALETTE[int(cluster) % len(CLUSTER_PALETTE)]


def palette_of(colors: dict[int, str], ids) -> list[str]:
    """Colour of each id in ``ids`` from a used-cluster ``colors`` mapping (grey when unused)."""
    return [colors.get(int(c), UNUSED_COLOR) for c in np.asarray(ids).reshape(-1)]


def class_color(label: int) -> str:
    """Hex colour of graph class ``label``."""
    return CLASS_PALETTE[int(label) % len(CLASS_PALETTE)]


def figure_html(fig: go.Figure) -> str:
    """Standalone HTML of a figure that works offline (plotly.js embedded, ~4.6 MB)."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config=PLOTLY_CONFIG)


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=40, r=20, t=50, b=40))
    return fig


# ---------------------------------------------------------------------------- assignments
def _add_cluster_strip(fig: go.Figure, columns: Sequence[str], ids: Sequence[int] | None = None,
                       colors: dict[int, str] | None = None) -> None:
    """A row of squares above the heatmap columns, one per cluster id in ``ids`` (default 0..k-1), in the
    level's used-cluster ``colors`` (id -> colour, grey when unused; default: every column used)."""
    ids = list(range(len(columns))) if ids is None else [int(c) for c in ids]
    colors = used_cluster_colors(ids) if colors is None else colors
    fig.add_trace(go.Scatter(
        x=list(columns), y=[1.02] * len(columns), yaxis="y2", mode="markers", showlegend=False,
        marker=dict(symbol="square", size=12, color=palette_of(colors, ids)),
        hovertemplate="cluster %{x}<extra></extra>",
    ))


def assignment_heatmap(
    assignment: np.ndarray,
    order: np.ndarray | None = None,
    node_names: Sequence[str] | None = None,
    level: int = 0,
    clusters: Sequence[int] | None = None,
) -> go.Figure:
    """Heatmap of a soft assignment S [n, k], rows in ``order`` (e.g. ``analysis.cluster_order``).

    Trace 0 is the heatmap; trace 1 is a row of coloured squares above the columns, one per
    cluster in its used-cluster colour (grey when no node picks it), as in the other figures.
    ``clusters``: the cluster ids of the k columns when S is a column subset (default 0..k-1).
    """
    matrix = np.asarray(assignment, dtype=np.float64)
    n, k = matrix.shape
    order = np.arange(n) if order is None else np.asarray(order)
    names = [str(i) for i in range(n)] if node_names is None else [str(x) for x in node_names]
    rows = [names[i] for i in order]
    ids = list(range(k)) if clusters is None else [int(c) for c in clusters]
    columns = [f"c{c}" for c in ids]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=matrix[order], x=columns, y=rows, zmin=0.0, zmax=1.0, colorscale="Blues",
        colorbar=dict(title="S_ik"),
        hovertemplate="node %{y} → cluster %{x}<br>S = %{z:.3f}<extra></extra>",
    ))
    _add_cluster_strip(fig, columns, ids, used_cluster_colors(np.asarray(ids)[matrix.argmax(axis=1)]))
    fig.update_layout(
        # Category axis: node names such as "12" must keep the cluster-sorted row order, not sort as numbers.
        yaxis=dict(autorange="reversed", title=f"level-{level} nodes (grouped by hard cluster)",
                   type="category", showticklabels=n <= 80, domain=[0, 0.94]),
        yaxis2=dict(domain=[0.95, 1.0], range=[1.0, 1.04], visible=False),
        xaxis=dict(title=f"level-{level + 1} clusters"),
    )
    return _layout(fig, f"Assignment S, level {level} → {level + 1} ({n} nodes × {k} clusters)",
                   height=max(360, min(900, 12 * n + 140)))


def coarsened_adjacency_heatmap(coarsened_adjacency: np.ndarray, level: int = 1,
                                clusters: Sequence[int] | None = None,
                                used: Sequence[int] | None = None) -> go.Figure:
    """Heatmap of A' = Sᵀ A S [k, k] (diagonal = weight inside a cluster); trace 1 = cluster colour strip.

    ``clusters``: the cluster ids of the k rows/columns when A' is a subset (default 0..k-1).
    ``used``: the level's clusters in use (argmax of some node), for the strip's colours; default all.
    """
    matrix = np.asarray(coarsened_adjacency, dtype=np.float64)
    k = matrix.shape[0]
    ids = list(range(k)) if clusters is None else [int(c) for c in clusters]
    labels = [f"c{c}" for c in ids]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(
        z=matrix, x=labels, y=labels, colorscale="Viridis", colorbar=dict(title="A'"),
        hovertemplate="%{y} – %{x}<br>weight %{z:.3f}<extra></extra>",
    ))
    _add_cluster_strip(fig, labels, ids, used_cluster_colors(ids if used is None else used))
    fig.update_layout(
        yaxis=dict(autorange="reversed", domain=[0, 0.94]),
        yaxis2=dict(domain=[0.95, 1.0], range=[1.0, 1.04], visible=False),
    )
    return _layout(fig, f"Coarsened adjacency A' at level {level} ({k} clusters)", height=460)


def cluster_mass_bar(cluster_mass: np.ndarray, level: int = 1, used: Sequence[int] | None = None) -> go.Figure:
    """Bar chart of Σ_i S_ik per cluster, bars in used-cluster colours (used: default clusters with
    mass ≥ :data:`EMPTY_CLUSTER_MASS`; pass the level's argmax ids to match the other figures)."""
    mass = np.asarray(cluster_mass, dtype=np.float64)
    k = mass.size
    colors = used_cluster_colors(np.flatnonzero(mass >= EMPTY_CLUSTER_MASS) if used is None else used)
    fig = go.Figure(go.Bar(
        x=[f"c{c}" for c in range(k)], y=mass, marker=dict(color=palette_of(colors, range(k))),
        hovertemplate="cluster %{x}<br>mass %{y:.2f} nodes<extra></extra>",
    ))
    fig.update_layout(xaxis_title=f"level-{level} cluster", yaxis_title="mass ΣᵢSᵢₖ (soft node count)")
    return _layout(fig, f"Cluster mass at level {level}", height=340)


# ---------------------------------------------------------------------------- entropy
def entropy_histogram(node_entropy: np.ndarray, num_clusters: int, level: int = 0) -> go.Figure:
    """Histogram of per-node assignment entropy H(S_i) with a dashed line at the bound log C."""
    entropy = np.asarray(node_entropy, dtype=np.float64)
    bound = math.log(max(int(num_clusters), 1))
    fig = go.Figure(go.Histogram(x=entropy, nbinsx=30, marker_color="#4C78A8", name="nodes"))
    fig.add_vline(x=bound, line_dash="dash", line_color="#E45756",
                  annotation_text=f"log C = {bound:.2f}", annotation_position="top left")
    fig.update_layout(xaxis_title="H(S_i), nats", yaxis_title="nodes", xaxis_range=[0, max(bound * 1.05, 1e-3)])
    return _layout(fig, f"Node entropy at level {level} → {level + 1} (C = {num_clusters})", height=340)


def dataset_entropy_bar(rows: Sequence[dict]) -> go.Figure:
    """Mean normalised entropy per level over a dataset (rows of ``analysis.dataset_level_entropy``)."""
    levels = [f"level {r['level']}→{r['level'] + 1}" for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=levels, y=[r["mean_normalized_entropy"] for r in rows], name="mean H / log C", marker_color="#4C78A8",
        customdata=[[r["mean_entropy"], r["mean_effective_clusters"], r["collapsed_fraction"]] for r in rows],
        hovertemplate="%{x}<br>mean H/log C %{y:.3f}<br>mean H %{customdata[0]:.3f} nats"
                      "<br>effective clusters %{customdata[1]:.2f}<br>collapsed graphs %{customdata[2]:.0%}<extra></extra>",
    ))
    fig.update_layout(yaxis=dict(range=[0, 1], title="mean H(S_i) / log C"))
    return _layout(fig, "Dataset-wide mean entropy per level", height=320)


# ---------------------------------------------------------------------------- graphs as scatter
#: Colour of the edges in graph drawings.
EDGE_COLOR = "#BBBBBB"


def edge_path(positions: np.ndarray, edges: np.ndarray) -> str:
    """SVG path of straight ``edges`` [E, 2] between ``positions`` [n, 2] (data coordinates): one
    ``M x,y L x,y`` per edge. Plotly draws such a path as one shape, which it lays out ~2–3× faster
    than a line trace with a gap after every edge (D&D's 327-node, 899-edge graph, headless
    Chromium: ~35 ms against ~90 ms a figure); graph pages draw up to five such figures at once.

    >>> edge_path(np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 1.0]]), np.array([[0, 1], [1, 2]]))
    'M0,0L1,0.5M1,0.5L2,1'
    """
    ends = np.asarray(positions, dtype=np.float64)[np.asarray(edges, dtype=np.int64).reshape(-1, 2)]
    return "".join(f"M{x0:.6g},{y0:.6g}L{x1:.6g},{y1:.6g}" for (x0, y0), (x1, y1) in ends.tolist())


def graph_figure(
    positions: np.ndarray,
    edges: np.ndarray,
    clusters: np.ndarray | None = None,
    values: np.ndarray | None = None,
    hover: Sequence[str] | None = None,
    title: str = "",
    value_label: str = "value",
    colorscale="Inferno",
    height: int = 420,
    colors: dict[int, str] | None = None,
    value_range: tuple[float, float] | None = None,
) -> go.Figure:
    """A graph drawn with plotly at fixed ``positions`` [n, 2].

    Colour nodes either by hard ``clusters`` [n] (``colors``: id → colour, default
    :func:`core.analysis.used_cluster_colors` of ``clusters``) or by continuous ``values`` [n]
    (``colorscale`` over ``value_range``, default the values' own range). The node trace is the last
    trace. Edges are one SVG path shape below it (:func:`edge_path`) while the nodes are SVG, and a
    WebGL line trace before it beyond :data:`SVG_MAX_POINTS` nodes.
    """
    pos = np.asarray(positions, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    edges = edges[edges[:, 0] != edges[:, 1]]
    fig = go.Figure()
    n = pos.shape[0]
    if n > SVG_MAX_POINTS:
        xs = np.full(3 * len(edges), np.nan)
        ys = np.full(3 * len(edges), np.nan)
        xs[0::3], xs[1::3] = pos[edges[:, 0], 0], pos[edges[:, 1], 0]
        ys[0::3], ys[1::3] = pos[edges[:, 0], 1], pos[edges[:, 1], 1]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="lines", line=dict(color=EDGE_COLOR, width=0.8),
                                   hoverinfo="skip", showlegend=False))
    elif len(edges):
        fig.add_shape(type="path", path=edge_path(pos, edges), xref="x", yref="y", layer="below",
                      line=dict(color=EDGE_COLOR, width=0.8))
    size = 10 if n <= 300 else 6 if n <= 2000 else 3
    if clusters is not None:
        colors = used_cluster_colors(clusters) if colors is None else colors
        marker = dict(size=size, color=palette_of(colors, clusters), line=dict(width=0.5, color="#333"))
    elif values is not None:
        marker = dict(size=size, color=np.asarray(values, dtype=np.float64), colorscale=colorscale, showscale=True,
                      colorbar=dict(title=value_label), line=dict(width=0.5, color="#333"))
        if value_range is not None:
            marker.update(cmin=float(value_range[0]), cmax=float(value_range[1]))
    else:
        marker = dict(size=size, color="#4C78A8")
    fig.add_trace(scatter_trace(
        n, x=pos[:, 0], y=pos[:, 1], mode="markers", marker=marker, showlegend=False,
        text=list(hover) if hover is not None else None, hoverinfo="text" if hover is not None else "x+y",
    ))
    fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
                      plot_bgcolor="white")
    return _layout(fig, title, height=height)


#: Clusters holding less soft mass than this (in nodes) count as empty in the coarsened-graph view.
EMPTY_CLUSTER_MASS = 0.05


def coarse_graph_figure(
    cluster_positions: np.ndarray,
    coarsened_adjacency: np.ndarray,
    cluster_mass: np.ndarray,
    level: int,
    hard_members: np.ndarray | None = None,
    min_edge_weight: float = 1e-3,
    height: int = 440,
    hide_empty: bool = False,
) -> go.Figure:
    """The coarsened graph after pooling ``level`` as a plotly network (no iframe, so it redraws fast).

    Node = cluster (cluster colour), marker size ∝ √(cluster mass ΣᵢSᵢₖ), label ``c{k} (A'ₖₖ)``
    with the self-loop (intra-cluster) weight; edge width ∝ A'ₖₘ (edges binned into 5 widths,
    one trace each). Traces: edge bins first, the node trace last. ``hide_empty`` leaves out
    clusters with mass < :data:`EMPTY_CLUSTER_MASS` (and their edges); the title says how many.
    Cluster ids and colours stay those of the full level either way.
    """
    pos = np.asarray(cluster_positions, dtype=np.float64).reshape(-1, 2)
    adjacency = np.asarray(coarsened_adjacency, dtype=np.float64)
    mass = np.asarray(cluster_mass, dtype=np.float64)
    k = adjacency.shape[0]
    shown = mass >= EMPTY_CLUSTER_MASS if hide_empty else np.ones(k, dtype=bool)
    rows, cols = np.triu_indices(k, 1)
    weights = adjacency[rows, cols]
    keep = (weights > min_edge_weight) & shown[rows] & shown[cols]
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    fig = go.Figure()
    if weights.size:
        bins = np.minimum((weights / weights.max() * 5).astype(int), 4)
        for b in range(5):
            chosen = bins == b
            if not chosen.any():
                continue
            xs = np.full(3 * int(chosen.sum()), np.nan)
            ys = np.full(3 * int(chosen.sum()), np.nan)
            xs[0::3], xs[1::3] = pos[rows[chosen], 0], pos[cols[chosen], 0]
            ys[0::3], ys[1::3] = pos[rows[chosen], 1], pos[cols[chosen], 1]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                     line=dict(color="#9E9E9E", width=0.8 + 2.0 * b)))
    members = np.zeros(k, dtype=int) if hard_members is None else np.asarray(hard_members)
    colors = used_cluster_colors(np.flatnonzero(members > 0) if hard_members is not None
                                 else np.flatnonzero(mass >= EMPTY_CLUSTER_MASS))
    sizes = 12.0 + 40.0 * np.sqrt(mass / max(float(mass.max()), 1e-9))
    ids = np.flatnonzero(shown)
    hover = [f"cluster c{c} (level {level})<br>mass ΣS = {mass[c]:.2f}<br>hard members: {members[c]}"
             f"<br>self-loop A'[c,c] = {adjacency[c, c]:.3f}" for c in ids]
    fig.add_trace(go.Scatter(
        x=pos[ids, 0], y=pos[ids, 1], mode="markers+text", showlegend=False,
        text=[f"c{c} ({adjacency[c, c]:.1f})" for c in ids], textposition="bottom center",
        marker=dict(size=sizes[ids], color=palette_of(colors, ids), line=dict(width=1, color="#333")),
        hovertext=hover, hoverinfo="text",
    ))
    fig.update_layout(xaxis=dict(visible=False, range=[-1.35, 1.35]),
                      yaxis=dict(visible=False, scaleanchor="x", range=[-1.35, 1.35]), plot_bgcolor="white")
    hidden = k - len(ids)
    title = f"Coarsened graph after pooling {level} " + (f"({k - hidden}/{k} drawn)" if hidden else f"({k} clusters)")
    return _layout(fig, title, height=height)


# ---------------------------------------------------------------------------- flows
def sankey_figure(flows: dict, title: str = "Soft mass: nodes → level-1 → level-2 clusters") -> go.Figure:
    """Sankey diagram from ``analysis.sankey_flows``; cluster nodes in cluster colours, input nodes grey."""
    labels = flows["labels"]
    levels = flows["level_of_node"]
    colors = []
    counters: dict[int, int] = {}
    per_level = {level: distinct_palette(sum(1 for l in levels if l == level)) for level in set(levels) if level}
    for level in levels:
        if level == 0:
            colors.append("#9E9E9E")
        else:
            index = counters.get(level, 0)
            counters[level] = index + 1
            colors.append(per_level[level][index])
    link_colors = []
    for target in flows["targets"]:
        color = colors[target]
        link_colors.append(_rgba(color, 0.35) if color.startswith("#") else color)
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, color=colors, pad=8, thickness=14),
        link=dict(source=flows["sources"], target=flows["targets"], value=flows["values"], color=link_colors,
                  hovertemplate="%{source.label} → %{target.label}<br>mass %{value:.3f}<extra></extra>"),
    ))
    return _layout(fig, title, height=max(420, min(1000, 9 * sum(1 for l in levels if l == 0) + 200)))


def _rgba(hex_color: str, alpha: float) -> str:
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# ---------------------------------------------------------------------------- embeddings
def embedding_scatter(
    coords: np.ndarray,
    groups: np.ndarray,
    group_names: Sequence[str],
    hover: Sequence[str],
    title: str,
    palette: str = "class",
    customdata: Sequence | None = None,
) -> go.Figure:
    """2-D scatter of projected embeddings, one trace per group (legend = ``group_names``).

    palette: "class" (graph classes) or "cluster" (cluster ids). ``customdata`` (e.g. graph ids)
    is attached per point so a selection can be mapped back.
    """
    coords = np.asarray(coords, dtype=np.float64)
    groups = np.asarray(groups)
    color = class_color if palette == "class" else cluster_color
    custom = None if customdata is None else np.asarray(customdata)
    hover = np.asarray(list(hover), dtype=object)
    fig = go.Figure()
    for g in np.unique(groups):
        mask = groups == g
        fig.add_trace(go.Scatter(
            x=coords[mask, 0], y=coords[mask, 1], mode="markers", name=str(group_names[int(g)]),
            marker=dict(color=color(int(g)), size=8, line=dict(width=0.5, color="#333")),
            text=hover[mask].tolist(), hoverinfo="text",
            customdata=None if custom is None else custom[mask].tolist(),
        ))
    fig.update_layout(xaxis_title="dim 1", yaxis_title="dim 2", legend_title="")
    return _layout(fig, title, height=460)


# ---------------------------------------------------------------------------- training / evaluation
def training_curves(history: Sequence[dict]) -> go.Figure:
    """Loss (left axis) and accuracy (right axis) per epoch; rows have ``epoch`` and any of
    ``loss``/``train_loss``, ``train_accuracy``/``train_acc``, ``val_accuracy``/``val_acc``."""
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    fig = go.Figure()

    def series(*names):
        for name in names:
            if history and name in history[0]:
                return [row.get(name) for row in history]
        return None

    loss = series("loss", "train_loss")
    if loss is not None:
        fig.add_trace(go.Scatter(x=epochs, y=loss, name="loss", line=dict(color="#E45756")))
    for label, names, color in (("train acc", ("train_accuracy", "train_acc"), "#4C78A8"),
                                ("val acc", ("val_accuracy", "val_acc", "validation_accuracy"), "#54A24B"),
                                ("test acc", ("test_accuracy", "test_acc"), "#B279A2")):
        values = series(*names)
        if values is not None:
            fig.add_trace(go.Scatter(x=epochs, y=values, name=label, yaxis="y2", line=dict(color=color)))
    # Accuracy ticks of their own (0 %, 20 %, ...), not the loss axis' grid lines; the legend above the plot,
    # where it cannot cover the right axis.
    fig.update_layout(xaxis_title="epoch", yaxis=dict(title="loss"),
                      yaxis2=dict(title="accuracy", overlaying="y", side="right", range=[0, 1], tickmode="linear",
                                  tick0=0, dtick=0.2, tickformat=".0%", showgrid=False),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return _layout(fig, "Training curves", height=340)


# ---------------------------------------------------------------------------- dataset atlas
def atlas_figure(
    sizes: np.ndarray,
    ratios: np.ndarray,
    groups: Sequence[str],
    group_colors: dict[str, str],
    graph_ids: Sequence[int],
    hover: Sequence[str],
    selected: int | None = None,
    title: str = "",
) -> go.Figure:
    """Every graph of a dataset as one point: ``sizes`` [G] (nodes, log axis) against ``ratios`` [G]
    (modularity of the pooling's clusters / Louvain's; NaN where undefined is drawn at 0, hover says so).

    One trace per group (verdict, or correct / wrong) in ``group_colors`` order, each point's
    ``customdata`` = its graph id (for click-to-select); the ``selected`` graph gets a black star.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    ratios = np.nan_to_num(np.asarray(ratios, dtype=np.float64), nan=0.0)
    groups = np.asarray(list(groups))
    ids = np.asarray(list(graph_ids), dtype=np.int64)
    hover = np.asarray(list(hover), dtype=object)
    fig = go.Figure()
    for name, color in group_colors.items():
        chosen = groups == name
        if not chosen.any():
            continue
        fig.add_trace(scatter_trace(
            len(ids), x=sizes[chosen], y=ratios[chosen], mode="markers", name=f"{name} ({int(chosen.sum())})",
            marker=dict(size=7, color=color, opacity=0.75, line=dict(width=0.3, color="#333")),
            customdata=ids[chosen], text=hover[chosen], hovertemplate="%{text}<extra></extra>",
        ))
    if selected is not None and (ids == selected).any():
        where = np.flatnonzero(ids == selected)[0]
        fig.add_trace(go.Scatter(x=[sizes[where]], y=[ratios[where]], mode="markers", name="selected graph",
                                 marker=dict(symbol="star", size=18, color="black"), hoverinfo="skip"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888", annotation_text="as modular as Louvain",
                  annotation_position="top left")
    fig.update_layout(xaxis=dict(type="log", title="nodes"), yaxis=dict(title="modularity / Louvain's"),
                      legend=dict(orientation="h", y=-0.2), plot_bgcolor="white", dragmode="select")
    return _layout(fig, title, height=520)


def verdict_share_bar(shares: dict[str, float], colors: dict[str, str], title: str = "") -> go.Figure:
    """Horizontal bar of a dataset's share of graphs per verdict."""
    names = list(shares)
    fig = go.Figure(go.Bar(
        x=[shares[n] for n in names], y=names, orientation="h", marker=dict(color=[colors.get(n, "#999") for n in names]),
        text=[f"{shares[n]:.0%}" for n in names], textposition="auto",
        hovertemplate="%{y}: %{x:.1%} of graphs<extra></extra>",
    ))
    fig.update_layout(xaxis=dict(range=[0, 1], tickformat=".0%", title="share of graphs"),
                      yaxis=dict(autorange="reversed"))
    return _layout(fig, title, height=260)


def occlusion_bar(deltas: np.ndarray, used: Sequence[int], level: int = 1) -> go.Figure:
    """Δp per used cluster (``core.model.inference.cluster_occlusion``), bars in the used-cluster colours."""
    deltas = np.asarray(deltas, dtype=np.float64)
    ids = sorted(int(k) for k in used)
    colors = used_cluster_colors(ids)
    fig = go.Figure(go.Bar(
        x=[f"c{k}" for k in ids], y=deltas[ids], marker=dict(color=palette_of(colors, ids)),
        hovertemplate="without cluster %{x}: Δp %{y:+.4f}<extra></extra>",
    ))
    fig.add_hline(y=0.0, line_color="#333", line_width=1)
    fig.update_layout(xaxis_title=f"level-{level} cluster removed", yaxis_title="Δp(predicted class)")
    return _layout(fig, f"Occlusion per cluster (level {level})", height=380)
