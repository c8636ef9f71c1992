"""Display helpers shared by pages: figures with downloads, networks, level pickers, entropy metrics."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import streamlit as st

from core import analysis


# ---------------------------------------------------------------------------- display helpers
def assignments_csv(node_names: list[str], assignment: np.ndarray) -> str:
    """CSV of a soft assignment: node, hard_cluster, confidence, p_0..p_{k-1} (``core.data.io.export``)."""
    from core.data.io.export import assignments_to_csv

    return assignments_to_csv(list(node_names), assignment)


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence], right: Sequence[int] = ()) -> str:
    """A Markdown table of ``rows`` under ``columns`` (``right``: indices of right-aligned columns);
    ``|`` in a cell is escaped and line breaks become spaces.

    The pages show their small tables this way, not with ``st.dataframe``: Markdown is drawn at
    once, while the data grid's browser code (the grid and Apache Arrow, ~0.5 s in headless Chromium
    on 2 cores) loads on the first page that shows one, and preloading it with the first page
    delayed Explore's first figure by ~0.7 s.

    >>> print(markdown_table(["graph", "class"], [(3, "a|b")], right=(0,)))
    | graph | class |
    |---:|---|
    | 3 | a\\|b |
    """
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text).strip("-") or "figure"


def fit_level_widget(key: str, trace, first) -> None:
    """Reset the level widget ``key`` to ``first`` when the model's levels changed since it was drawn.

    A level picker keeps its key across models, so after a switch from a 2-level model to a
    1-level one its stored choice can point at a level that no longer exists, and a radio whose
    option labels changed (they carry the cluster counts) is left with nothing ticked in the
    browser. Setting the value (rather than deleting it) makes Streamlit send it to the page.
    """
    shape = tuple(level.num_clusters for level in trace.levels)
    marker = f"{key}__levels"
    if st.session_state.get(marker) != shape:
        if marker in st.session_state and key in st.session_state:
            st.session_state[key] = first
        st.session_state[marker] = shape


def pooling_level_select(trace, key: str) -> int:
    """The "Pooling level" picker (0-based level index, shown as ``level l → l+1``) for one trace."""
    fit_level_widget(key, trace, 0)
    return st.selectbox("Pooling level", list(range(trace.num_levels)), key=key,
                        format_func=lambda l: f"level {l} → {l + 1}")


def coarsened_level_header(trace, key: str) -> int:
    """Level picker, heading and cluster-use caption above a coarsened-graph view; returns the level (1-based)."""
    fit_level_widget(key, trace, 1)
    level = st.radio("Coarsened level", list(range(1, trace.num_levels + 1)), horizontal=True, key=key,
                     format_func=lambda l: f"level {l} ({trace.levels[l - 1].num_clusters} clusters)")
    st.subheader(f"After pooling {level}",
                 help="Node = cluster; size = cluster mass ΣᵢSᵢₖ (soft node count); edge width = coarsened weight "
                      "A'ₖₘ = Σᵢⱼ Sᵢₖ Aᵢⱼ Sⱼₘ (how strongly two clusters are linked); the label's number is the "
                      "self-loop A'ₖₖ (weight kept inside the cluster).")
    record = trace.levels[level - 1]
    stats = analysis.assignment_stats(record.assignment)
    st.caption(f"Level {level}: {stats['clusters_used']} of {record.num_clusters} clusters used, "
               f"effective clusters {stats['effective_clusters']:.2f}.")
    return level


def show_coarsened_level(trace, positions: np.ndarray, key: str, file_stem: str,
                         later: list[Callable[[], None]] | None = None) -> int:
    """Level picker, heading, caption and the coarsened graph as a plotly network; returns the level.

    Plotly rather than a second pyvis iframe: a graph switch then re-sends one network, not two.
    Clusters start at the mass-weighted centre of their members in ``positions`` (the input layout)
    and are pushed apart so that no markers or labels overlap (``core.analysis.layout.cluster_layout``).

    later: where given, the chart's place is kept here and the function that draws it is appended to
    ``later``, for the page to call once its other content has been sent (see :mod:`viz_app.trace_tabs`).
    """
    from viz_app import figures
    from viz_app.network import coarse_layout

    level = coarsened_level_header(trace, key=key)
    record = trace.levels[level - 1]
    members = np.bincount(record.hard_assignment, minlength=record.num_clusters)
    empty = int((np.asarray(record.cluster_mass) < figures.EMPTY_CLUSTER_MASS).sum())
    show_empty = empty == 0 or st.toggle(
        f"Show the {empty} empty cluster{'s' if empty > 1 else ''}", key=f"{key}_show_empty", value=False,
        help=f"Clusters holding less than {figures.EMPTY_CLUSTER_MASS} of a node's worth of assignment mass "
             "(ΣᵢSᵢₖ). They exist in the model but no node is pooled into them.")
    shown = np.ones(record.num_clusters, dtype=bool) if show_empty else \
        np.asarray(record.cluster_mass) >= figures.EMPTY_CLUSTER_MASS
    place = st.empty()

    def draw() -> None:
        with place.container():
            show_figure(figures.coarse_graph_figure(coarse_layout(trace, level, positions, shown),
                                                    record.coarsened_adjacency, record.cluster_mass, level, members,
                                                    hide_empty=not show_empty),
                        key=f"{key}_figure{level}", file_stem=f"{file_stem}-level{level}")

    if later is None:
        draw()
    else:  # said in its place until the chart replaces it, later in the same run
        place.caption("Drawing the coarsened graph once the input graph is on screen…")
        later.append(draw)
    return level


def show_figure(fig, key: str, file_stem: str | None = None, **chart_kwargs):
    """``st.plotly_chart`` (modebar kept: its camera button saves a PNG) plus an offline HTML download.

    The HTML (plotly.js embedded, works with no network) is generated only when clicked.
    Returns what ``st.plotly_chart`` returns (the selection state when ``on_select`` is given).
    """
    from viz_app.figures import PLOTLY_CONFIG, figure_html

    result = st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, **chart_kwargs)
    st.download_button("⬇ HTML", data=lambda: figure_html(fig), file_name=f"{_slug(file_stem or key)}.html",
                       mime="text/html", key=f"{key}__html", on_click="ignore",
                       help="Standalone interactive HTML (works offline). Use the camera icon on the chart for PNG.")
    return result


#: Opens the caption of a section still being computed in the background (tests wait for it to go):
#: a Material icon, drawn from the font Streamlit serves (an emoji is an empty box without an emoji font).
PENDING_MARK = ":material/hourglass_top:"


@st.fragment(run_every=1.0)
def _rerun_when(ready) -> None:
    if ready():
        st.rerun()


def pending_note(message: str) -> None:
    """Where a section will be: say it is being computed in the background."""
    st.caption(f"{PENDING_MARK} {message}")


def rerun_when_ready(ready) -> None:
    """Rerun the page once ``ready()`` is true, polled every second in a fragment, so the page's
    other sections stay usable meanwhile. Call it once per page, at its end, with one ``ready`` for
    everything that waits (each waiting section shows a :func:`pending_note`)."""
    _rerun_when(ready)


def embed_html(html: str, height: int) -> None:
    """Show a self-contained HTML drawing (pyvis) in an iframe of ``height`` pixels."""
    if hasattr(st, "iframe"):  # Streamlit >= 1.5x: components.html is deprecated in favour of st.iframe
        st.iframe(html, height=height)
    else:
        import streamlit.components.v1 as components

        components.html(html, height=height)


def show_network(drawing, key: str, height: int, file_stem: str) -> None:
    """Embed a :class:`viz_app.network.NetworkDrawing` and offer it as standalone HTML."""
    for note in drawing.notes:
        st.caption(note)
    embed_html(drawing.html, height)
    st.download_button("⬇ network HTML", data=lambda: drawing.html, file_name=f"{_slug(file_stem)}.html", mime="text/html",
                       key=f"{key}__html", on_click="ignore", help="Standalone network page (vis-network inlined, offline).")


def show_assignment_heatmaps(record, level_index: int, row_names: list[str], key: str, file_stem: str) -> None:
    """Heatmaps of S (rows grouped by cluster) and A' for one level, unused clusters hidden by default.

    A cluster is unused when its mass ΣᵢSᵢₖ is below ``figures.EMPTY_CLUSTER_MASS`` (no node is
    pooled into it): with 100 clusters of which 12 are used, the 88 empty columns would hide the
    structure. A switch shows them; cluster ids and colours stay those of the full level.
    """
    from viz_app import figures
    from viz_app.upload_logic import heatmap_rows

    mass = np.asarray(record.cluster_mass)
    used = np.flatnonzero(mass >= figures.EMPTY_CLUSTER_MASS)
    unused = record.num_clusters - len(used)
    show_all = unused == 0 or len(used) == 0 or st.toggle(
        f"Show the {unused} unused cluster{'s' if unused > 1 else ''}", key=f"{key}_show_unused", value=False,
        help=f"Clusters holding less than {figures.EMPTY_CLUSTER_MASS} of a node's worth of assignment mass (ΣᵢSᵢₖ).")
    clusters = np.arange(record.num_clusters) if show_all else used
    assignment = np.asarray(record.assignment)[:, clusters]
    # Rows grouped by cluster; beyond upload_logic.MAX_HEATMAP_ROWS an even sample of that order
    # (every cluster's block stays visible; 5,748 rows would only draw a grey band, slowly).
    rows = heatmap_rows(record.num_nodes, analysis.cluster_order(np.asarray(record.assignment)))
    show_figure(figures.assignment_heatmap(assignment, rows, row_names, level_index, clusters=clusters),
                key=f"{key}_s{level_index}", file_stem=f"{file_stem}-S{level_index}")
    if len(rows) < record.num_nodes:
        st.caption(f"Showing {len(rows)} of {record.num_nodes:,} rows (an even sample of the cluster-sorted order).")
    if not show_all:
        st.caption(f"{len(used)} of {record.num_clusters} clusters shown; {unused} unused ones hidden.")
    st.download_button("⬇ assignments S (CSV)", data=assignments_csv(row_names, record.assignment),
                       file_name=f"{_slug(file_stem)}-S{level_index}.csv", mime="text/csv",
                       key=f"{key}_csv{level_index}", on_click="ignore", help="All clusters, hidden ones included.")
    st.caption("Rows are nodes grouped by their most likely cluster (analysis.cluster_order); a clean staircase "
               "means confident, distinct clusters.")
    coarsened = np.asarray(record.coarsened_adjacency)[np.ix_(clusters, clusters)]
    show_figure(figures.coarsened_adjacency_heatmap(coarsened, level_index + 1, clusters=clusters,
                                                          used=record.hard_assignment),
                key=f"{key}_a{level_index}", file_stem=f"{file_stem}-A{level_index + 1}")
    st.caption("A' = SᵀAS: off-diagonal = edge weight between two clusters, diagonal = weight inside a cluster.")


#: Session-state flag: this browser session has been sent :func:`preload_frontend`'s hidden elements.
FRONTEND_PRELOADED = "_frontend_preloaded"

#: A 1×1 transparent PNG (``st.image``'s code is among those preloaded).
_PIXEL_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                           "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4840000000049454e44ae426082")


def preload_frontend() -> None:
    """Once per browser session, after the first page's content: hidden copies of the elements whose
    browser code Streamlit loads only when a page first shows one.

    Explore shows no JSON, code block, button, toggle, image or file uploader, so the first visit of
    each page that does paid for fetching, parsing and running that code: the Model card's JSON and
    command, Compare's button, Teaching's toggles and pictures (1.3 s → 0.6 s on D&D in headless
    Chromium on the 2-core machine), Upload's file picker. The data grid (``st.dataframe``) is left
    out: its code is the largest, and sent with the first page it delayed Explore's first figure by
    ~0.7 s (medians of 6 alternating launches; the small elements alone, none). The pages show
    their tables as Markdown instead (:func:`markdown_table`). The container is one pixel high and
    unbordered when it is drawn, then hidden (``display: none``); the next run leaves it out.
    """
    if st.session_state.get(FRONTEND_PRELOADED):
        return
    st.session_state[FRONTEND_PRELOADED] = True
    # One pixel high and unbordered from the moment it is drawn, then hidden by the style in its first
    # element (which applies only once Markdown has drawn it, ~0.2 s later; st.html's code, itself
    # fetched on first use, took ~0.8 s: meanwhile the copies were visible below the page).
    with st.container(key="frontend-preload", height=1, border=False):
        st.markdown("<style>.st-key-frontend-preload { display: none; }</style>", unsafe_allow_html=True)
        st.json({"preload": 0})
        st.code("preload", language="bash")
        st.markdown("*preload* :sparkles:")
        st.button("preload", key="frontend-preload-button", disabled=True)
        st.toggle("preload", key="frontend-preload-toggle", disabled=True)
        st.image(_PIXEL_PNG)
        st.file_uploader("preload", key="frontend-preload-upload", disabled=True)
