"""Interactive network drawings (pyvis / vis-network) as self-contained, offline HTML strings.

Pass the string to ``streamlit.components.v1.html(html, height=...)`` or offer it as a download.
Everything is inlined (vis-network JS/CSS embedded; pyvis' CDN links for Bootstrap and
tom-select removed: they would load from a CDN), physics is off and positions are precomputed and seeded,
so a drawing is identical on every rerun and opens with no network.

Functions take plain data (positions, edges, colours) or a :class:`core.data.graphs.Graph` plus a
:class:`core.model.trace.GraphTrace`; node colours come from :func:`viz_app.figures.cluster_color` so
cluster ids match every plotly figure.

Example
-------
>>> import numpy as np
>>> html = network_html(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[0, 1]]), ["a", "b"])
>>> "vis-network" in html or "vis.Network" in html, _EXTERNAL_TAG.search(html) is None
(True, True)
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from core import analysis
from core.data.graphs import Graph
from core.model.trace import GraphTrace
from viz_app.figures import cluster_color

#: Beyond this many nodes the input graph is drawn on a sample (analysis.sample_nodes).
MAX_DRAWN_NODES = 2000

#: Height of the drawing inside its iframe (the iframe itself should be ~20 px taller).
NETWORK_HEIGHT_PX = 580

_EXTERNAL_TAG = re.compile(
    r"<link[^>]*href=\"https?://[^\"]*\"[^>]*/?>|<script[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>",
    re.IGNORECASE,
)
_TOOLTIP_CSS = (
    "<style>div.vis-tooltip{white-space:pre !important;font-family:monospace;font-size:12px}"
    "#mynetwork{border:none !important}body{margin:0}</style>"
)


@dataclass
class NetworkDrawing:
    """A drawn network: the HTML, which nodes are shown (indices into the input), and notes for the user."""

    html: str
    shown_nodes: np.ndarray
    notes: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def _template_environment():
    """One Jinja environment for pyvis' page template, compiled once per process (~70 ms a drawing
    otherwise). The template is found without importing pyvis: ``import pyvis`` imports IPython,
    ~0.4 s before the app's first drawing, for a notebook display the app never uses."""
    import importlib.util
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader

    spec = importlib.util.find_spec("pyvis")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyvis is not installed: the network drawings use its page template (pip install pyvis)")
    return Environment(loader=FileSystemLoader(str(Path(list(spec.submodule_search_locations)[0]) / "templates")))


#: vis-network's stylesheet as pyvis inlines it: 220 kB, almost all of it base64 images of the
#: navigation and editing buttons, which the drawings never switch on.
_VIS_CSS = "lib/vis-9.1.2/vis-network.css"
_UNUSED_VIS_UI = re.compile(r"vis-(?:navigation|manipulation|edit-mode|close|configuration|color-picker)")


@functools.lru_cache(maxsize=1)
def _vis_css() -> tuple[str, str]:
    """(vis-network's stylesheet, the same without the rules of the buttons the drawings do not show).

    Kept: every other rule (the tooltip's, the canvas container's). Each drawing then sends ~210 kB
    less to the browser, on every graph switch.
    """
    environment = _template_environment()
    full = environment.loader.get_source(environment, _VIS_CSS)[0]
    lean = "".join(rule.group(0) for rule in re.finditer(r"[^{}]+\{[^{}]*\}", full)
                   if not _UNUSED_VIS_UI.search(rule.group(0).split("{", 1)[0]))
    return full, lean


#: The vis-network options of every drawing (physics off: positions are precomputed). What every
#: node or edge shares is set here once, not repeated per node: D&D's largest drawing (2,000 nodes,
#: ~5,000 edges) then sends a third fewer bytes (1.41 → 1.16 MB with the inlined library).
_OPTIONS = ('{"physics": {"enabled": false}, "layout": {"improvedLayout": false},'
            ' "edges": {"smooth": false, "color": "#9E9E9E"},'
            ' "interaction": {"hover": true, "tooltipDelay": 80, "hideEdgesOnDrag": %s},'
            ' "nodes": {"shape": "dot", "size": %s, "color": "#4C78A8", "font": {"size": 14}}}')


def _scale(n: int) -> float:
    """Pixels per layout unit: more room for bigger graphs so nodes do not overlap."""
    return float(max(250.0, 45.0 * math.sqrt(max(n, 1))))


def network_html(
    positions: np.ndarray,
    edges: np.ndarray,
    labels: Sequence[str],
    colors: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    sizes: Sequence[float] | None = None,
    edge_widths: Sequence[float] | None = None,
    edge_titles: Sequence[str] | None = None,
    height_px: int = NETWORK_HEIGHT_PX,
    show_labels: bool | None = None,
    legend: Sequence[tuple[str, str]] | None = None,
    legend_title: str = "",
) -> str:
    """Offline HTML of a network with fixed node ``positions`` [n, 2] (layout units, e.g. [-1, 1]).

    edges: int [E, 2] node pairs (self-loops are skipped: put their weight in the title/label).
    colors/titles/sizes: per node; edge_widths/edge_titles: per edge. Physics is off.
    legend: (text, colour) rows of a colour key in a strip above the drawing (in the HTML, so the
    downloaded page has it too; the drawing gives up the strip's height, so the page keeps
    ``height_px`` and no node hides under the key).
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    n = pos.shape[0]
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    scale = _scale(n)
    if show_labels is None:
        show_labels = n <= 60
    default_size = 12 if n <= 300 else 7 if n <= 1000 else 4
    # pyvis' page template rendered with the node and edge lists pyvis' Network would hand it
    # (Network.add_node/add_edge check duplicates by scanning every existing node/edge: quadratic,
    # minutes for a few thousand nodes).
    # Pixel coordinates rounded to 0.1 px: the drawing is the same, the page smaller.
    xy = np.round(pos * scale, 1).tolist()
    nodes, edges_out = [], []
    for i in range(n):
        node = {"id": i, "x": xy[i][0], "y": xy[i][1]}
        if show_labels:
            node["label"] = str(labels[i])
        if colors is not None:
            node["color"] = colors[i]
        if sizes is not None:
            node["size"] = float(sizes[i])
        if titles is not None:
            node["title"] = str(titles[i])
        nodes.append(node)
    for e, (a, b) in enumerate(edges.tolist()):
        if a == b:
            continue
        edge = {"from": a, "to": b}
        if edge_widths is not None:
            edge["width"] = float(edge_widths[e])
        if edge_titles is not None:
            edge["title"] = str(edge_titles[e])
        edges_out.append(edge)
    options = json.loads(_OPTIONS % ("true" if n > 500 else "false", default_size))
    page = _template_environment().get_template("template.html").render(
        height=f"{height_px - LEGEND_STRIP_PX if legend else height_px}px", width="100%", nodes=nodes, edges=edges_out, heading="", options=json.dumps(options),
        physics_enabled=False, use_DOT=False, dot_lang="", widget=False, bgcolor="#ffffff", conf=False,
        tooltip_link=any("href" in str(node.get("title", "")) for node in nodes), neighborhood_highlight=False,
        select_menu=False, filter_menu=False, notebook=False, cdn_resources="in_line")
    full_css, lean_css = _vis_css()
    html = make_offline(page.replace(full_css, lean_css, 1))
    if legend:
        html = html.replace("<body>", "<body>" + legend_html(legend, legend_title), 1)
    return html


#: Height of the colour key's strip above a drawing (px; two lines of keys, then it scrolls).
LEGEND_STRIP_PX = 44


def legend_html(rows: Sequence[tuple[str, str]], title: str = "") -> str:
    """A colour key (swatch + text per entry) in a strip of :data:`LEGEND_STRIP_PX` above the drawing:
    beside each other, wrapping, scrolling past two lines. Drawn over the nodes, it hid some of them.

    >>> "background:#ff0000" in legend_html([("c0", "#ff0000")])
    True
    """
    from html import escape

    items = "".join(
        f'<span style="white-space:nowrap"><span style="display:inline-block;width:11px;height:11px;'
        f'border-radius:50%;margin-right:4px;vertical-align:-1px;background:{escape(color)}"></span>'
        f"{escape(text)}</span>" for text, color in rows)
    heading = f'<span style="font-weight:600">{escape(title)}:</span>' if title else ""
    return (f'<div class="cluster-legend" style="height:{LEGEND_STRIP_PX}px;box-sizing:border-box;overflow:auto;'
            'display:flex;flex-wrap:wrap;align-content:flex-start;gap:1px 12px;padding:3px 2px;'
            f'font:12px sans-serif;color:#222">{heading}{items}</div>')


def cluster_legend(hard: np.ndarray, num_clusters: int, max_rows: int = 16) -> list[tuple[str, str]]:
    """Legend rows of a hard assignment: one per cluster that holds nodes, largest first.

    hard: int [n] cluster of each drawn node. Beyond ``max_rows`` clusters a last grey row counts the rest.

    >>> cluster_legend(np.array([1, 1, 0]), 3)[0][0]
    'c1 · 2 nodes'
    """
    counts = np.bincount(np.asarray(hard, dtype=np.int64), minlength=num_clusters)
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    rows = [(f"c{c} · {counts[c]} node{'s' if counts[c] != 1 else ''}", cluster_color(c)) for c in order[:max_rows]]
    if len(order) > max_rows:
        rows.append((f"… {len(order) - max_rows} more clusters", "#BDBDBD"))
    return rows


def make_offline(html: str) -> str:
    """Remove every tag that loads a resource over http(s) and add the tooltip style."""
    html = _EXTERNAL_TAG.sub("", html)
    return html.replace("</head>", _TOOLTIP_CSS + "</head>", 1)


def _node_tooltips(names: Sequence[str], assignment_rows: np.ndarray | None, entropy: np.ndarray | None,
                   top: int = 3) -> list[str]:
    """Hover text of each drawn node: its name, top ``top`` level-1 clusters and entropy.

    assignment_rows: [m, k] the drawn nodes' rows of S (None: no pooling); entropy: [m] or None.
    The top clusters of all rows at once (``analysis.top_clusters_of_rows``): per-node calls cost
    ~40 ms on a 2,000-node drawing.
    """
    lines = [[f"node {name}"] for name in names]
    if assignment_rows is not None:
        best, probabilities = analysis.top_clusters_of_rows(assignment_rows, top)
        for text, clusters, values in zip(lines, best.tolist(), probabilities.tolist()):
            text.append("top level-1 clusters:")
            text.extend(f"  c{c}: {p:.2f}" for c, p in zip(clusters, values))
    if entropy is not None:
        for text, value in zip(lines, np.asarray(entropy, dtype=np.float64).tolist()):
            text.append(f"entropy H = {value:.3f} nats")
    return ["\n".join(text) for text in lines]


def input_graph_network(
    graph: Graph,
    trace: GraphTrace | None,
    positions: np.ndarray,
    max_nodes: int = MAX_DRAWN_NODES,
    seed: int = 0,
    height_px: int = NETWORK_HEIGHT_PX,
) -> NetworkDrawing:
    """The input graph, nodes coloured by most likely level-1 cluster, hover = top clusters + entropy.

    positions: [N, 2] for all N nodes (``core.analysis.layout.graph_layout``). Graphs larger than
    ``max_nodes`` are drawn on ``analysis.sample_nodes`` (a note says so).
    """
    notes: list[str] = []
    shown = np.arange(graph.num_nodes)
    if graph.num_nodes > max_nodes:
        shown = analysis.sample_nodes(graph, max_nodes, seed=seed)
        notes.append(
            f"Large graph: drawing {len(shown):,} of {graph.num_nodes:,} nodes "
            "(hubs and their neighbourhoods, analysis.sample_nodes); statistics use every node."
        )
    sub = graph if len(shown) == graph.num_nodes else graph.subgraph(shown)
    names = graph.names()
    assignment = trace.levels[0].assignment if trace is not None and trace.levels else None
    if assignment is not None:
        hard = assignment.argmax(axis=1)
        palette = analysis.used_cluster_colors(hard)  # the same used-cluster colours as the plotly figures
        colors = [palette[int(hard[i])] for i in shown]
        entropy = trace.levels[0].node_entropy
    else:
        colors, entropy = None, None
        notes.append("This model does not pool (no assignments): nodes are not coloured.")
    titles = _node_tooltips([names[i] for i in shown], None if assignment is None else assignment[shown],
                            None if entropy is None else np.asarray(entropy)[shown])
    legend = None if assignment is None else cluster_legend(hard[shown], assignment.shape[1])
    html = network_html(
        np.asarray(positions)[shown], sub.edges, [names[i] for i in shown], colors, titles, height_px=height_px,
        legend=legend, legend_title="Colour = most likely level-1 cluster",
    )
    return NetworkDrawing(html=html, shown_nodes=shown, notes=notes)


def level_positions(trace: GraphTrace, positions: np.ndarray) -> list[np.ndarray]:
    """Positions of the nodes of every level: [input positions, level-1 clusters, level-2 clusters, ...].

    Each cluster sits at the mass-weighted mean of its members (``analysis.cluster_positions``).
    """
    result = [np.asarray(positions, dtype=np.float32)]
    for level in trace.levels:
        result.append(analysis.cluster_positions(result[-1], level.assignment))
    return result


def coarse_layout(trace: GraphTrace, level: int, positions: np.ndarray, shown: np.ndarray | None = None) -> np.ndarray:
    """[C_level, 2] positions of the clusters after pooling ``level`` (1 = first pooling).

    ``core.analysis.layout.cluster_layout``: each cluster starts at the mass-weighted centre of its members,
    the arrangement is stretched to fill [-1, 1], and clusters are pushed apart until no two
    markers-with-labels overlap. ``shown`` (bool [C]) marks the clusters that will be drawn.
    """
    from core.analysis.layout import cluster_layout

    members = level_positions(trace, positions)[level - 1]
    return cluster_layout(members, trace.levels[level - 1].assignment, shown)


def coarsened_level_network(
    trace: GraphTrace,
    level: int,
    positions: np.ndarray,
    height_px: int = 420,
    min_edge_weight: float = 1e-3,
) -> NetworkDrawing:
    """The coarsened graph after pooling level ``level`` (1 = first pooling), as a network.

    Nodes are the level's clusters (coloured by cluster id), size ∝ cluster mass ΣᵢSᵢₖ of
    ``trace.levels[level-1]``; edges are A' entries above ``min_edge_weight`` with width ∝ weight;
    the self-loop weight A'_kk (intra-cluster) is in the label and hover. ``positions`` are the
    input-node positions [N, 2].
    """
    if not 1 <= level <= trace.num_levels:
        raise ValueError(f"level must be in 1..{trace.num_levels}, got {level}")
    record = trace.levels[level - 1]
    cluster_pos = coarse_layout(trace, level, positions)
    mass = record.cluster_mass.astype(np.float64)
    adjacency = np.asarray(record.coarsened_adjacency, dtype=np.float64)
    k = adjacency.shape[0]
    members = np.bincount(record.hard_assignment, minlength=k)
    max_mass = max(float(mass.max()), 1e-9)
    sizes = [8.0 + 30.0 * math.sqrt(m / max_mass) for m in mass]
    labels = [f"c{c} ({adjacency[c, c]:.1f})" for c in range(k)]
    titles = [
        f"cluster c{c} (level {level})\nmass ΣS = {mass[c]:.2f}\nhard members: {members[c]}\n"
        f"self-loop A'[c,c] = {adjacency[c, c]:.3f}"
        for c in range(k)
    ]
    rows, cols = np.triu_indices(k, 1)
    weights = adjacency[rows, cols]
    keep = weights > min_edge_weight
    rows, cols, weights = rows[keep], cols[keep], weights[keep]
    max_weight = max(float(weights.max()), 1e-9) if weights.size else 1.0
    widths = [0.5 + 8.0 * w / max_weight for w in weights]
    edge_titles = [f"A'[c{a}, c{b}] = {w:.3f}" for a, b, w in zip(rows, cols, weights)]
    empty = int((mass < 0.5).sum())
    notes = [f"{empty} of {k} clusters hold less than half a node of mass."] if empty else []
    html = network_html(
        cluster_pos, np.stack([rows, cols], axis=1), labels,
        [analysis.used_cluster_colors(np.flatnonzero(members > 0)).get(c, "#d9d9d9") for c in range(k)], titles,
        sizes=sizes, edge_widths=widths, edge_titles=edge_titles, height_px=height_px, show_labels=True,
    )
    return NetworkDrawing(html=html, shown_nodes=np.arange(k), notes=notes)
