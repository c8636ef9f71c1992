"""Compare: soft-mass Sankey across levels, two models on one graph, level 1 vs level 2 of one model, and the
selected model's predictions against another model's (pooling or not: viz_app.predictions_panel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from core import analysis
from core.model.diffpool import NO_POOLING_VARIANTS as NO_POOLING
from viz_app import diagnosis_panel, figures, predictions_panel, state

SANKEY_TAB, TWO_MODELS_TAB, LEVELS_TAB, PREDICTIONS_TAB = (
    "Where the nodes go", "Two models on one graph", "Level 1 vs level 2", "Predictions")
TABS_KEY = "compare_tab"
# Lazy tabs render only the open one, and Streamlit forgets the state of widgets it did not render:
# re-assigned here, the pickers of a closed tab keep their choice for when the user comes back.
for _key in ("compare_a", "compare_b", "compare_depth", "compare_pred_b"):
    if _key in st.session_state:
        st.session_state[_key] = st.session_state[_key]

selection = state.sidebar()
trace = state.trace_for(selection)
graph = selection.graph
names = graph.names()
title = graph.name or f"graph {selection.graph_index}"
positions = state.graph_layout(selection.dataset_name, selection.data_dir, selection.graph_index)

st.title("Compare")
if not trace.levels:
    st.warning(f"The selected model has no pooling levels ({selection.card.get('variant', '?')} variant), so no "
               "assignments to compare: pick a pooling model in the sidebar for the cluster views. Its "
               "predictions are set against another model's on the Predictions tab.")


# ---------------------------------------------------------------- helpers
def hard_labels(graph_trace, depth: int) -> np.ndarray:
    """Hard cluster of every input node after ``depth`` pooling levels (composed S₁…S_depth)."""
    return analysis.hard_clusters(analysis.composed_assignment(graph_trace.levels[:depth]))


def hover_for(labels: np.ndarray) -> list[str]:
    return [f"{names[i]} → c{labels[i]}" for i in range(len(labels))]


def diagnose(path: str) -> tuple[str | None, str | None]:
    """(warning, problem) of running the model at ``path`` on the selected dataset: its card is
    enough; weights are loaded only for the two models compared."""
    return state.card_compatibility(path, selection.dataset_name, selection.data_dir)


# ---------------------------------------------------------------- Sankey
def sankey() -> None:
    """Soft mass flowing from the input nodes through every level."""
    st.subheader("Where the nodes go", help="Flow width = soft mass: node i sends S₁[i,k] to level-1 cluster k; "
                 "cluster k sends its mass times S₂[k,m] on to level-2 cluster m.")
    diagnosis_panel.show_graph_verdicts(selection)
    max_inputs = 60
    flows = analysis.sankey_flows(trace.levels, max_input_nodes=max_inputs, node_names=names)
    if graph.num_nodes > max_inputs:
        st.caption(f"{max_inputs} representative input nodes shown; the other {graph.num_nodes - max_inputs} are "
                   "merged.")
    arrow = " → ".join(["nodes"] + [f"level-{level}" for level in range(1, trace.num_levels + 1)])
    state.show_figure(figures.sankey_figure(flows, title=f"Soft mass: {arrow} clusters"), key="sankey",
                      file_stem=f"{title}-sankey")


# ---------------------------------------------------------------- two models
def two_models() -> None:
    """Two pooling models' clusters on the same layout, B's matched to A's."""
    st.subheader("Two models on the same graph")
    checkpoints = [c for c in state.list_checkpoints()
                   if c["variant"] != "graphsage" and c["variant"] not in NO_POOLING]
    diagnosis = {c["path"]: diagnose(c["path"]) for c in checkpoints}
    same_dataset = [c for c in checkpoints if str(c["dataset"]).lower() == selection.dataset_name.lower()]
    # Models trained on this dataset first; models from other datasets only when they can run on it.
    ordered = same_dataset + [c for c in checkpoints if c not in same_dataset and diagnosis[c["path"]][1] is None]
    by_path = {c["path"]: c for c in ordered}
    paths = list(by_path)
    if len(paths) < 2:
        st.info("Only one pooling model can run on this dataset. Train another variant (e.g. random or "
                "diffpool-nolp) on the Train page to compare two.")
    else:
        # B starts on another model of this dataset, one whose pooling is of the other kind by the cards
        # (structure against none), so the first view shows what a structural pooling adds.
        same_paths = [c["path"] for c in same_dataset if c["path"] != selection.model_path]
        structures = {}
        for path in dict.fromkeys(same_paths + [selection.model_path]):
            try:
                structures[path] = state.model_card(path).get("structure")
            except Exception:  # an unreadable card is reported below, when the model is run
                structures[path] = None
        other = predictions_panel.contrast_partner(same_paths, selection.model_path, structures) or \
            next(p for p in paths if p != selection.model_path)
        # Model A follows the sidebar's model: when that changes (new dataset, new pick) both pickers
        # restart from it; values are set through session state so the page shows them too.
        default_a = selection.model_path if selection.model_path in paths else paths[0]
        if st.session_state.get("compare__selected") != selection.model_path or \
                st.session_state.get("compare_a") not in paths or st.session_state.get("compare_b") not in paths:
            st.session_state["compare__selected"] = selection.model_path
            st.session_state["compare_a"], st.session_state["compare_b"] = default_a, other
        col_a, col_b, col_depth = st.columns([2, 2, 1])
        model_a = col_a.selectbox("Model A", paths, format_func=lambda p: state.checkpoint_label(by_path[p]),
                                  key="compare_a")
        model_b = col_b.selectbox("Model B", paths, format_func=lambda p: state.checkpoint_label(by_path[p]),
                                  key="compare_b")
        for column, path in ((col_a, model_a), (col_b, model_b)):
            try:
                words = state.pooling_summary(state.model_card(path).get("structure"))
            except Exception:  # an unreadable card is reported below, when the model is run
                words = None
            column.caption(f"Its pooling on its held-out fold: {words}." if words
                           else "Its card does not say what its pooling is.")
        traces, problems = {}, []
        for path in dict.fromkeys((model_a, model_b)):
            warning, problem = diagnosis[path]
            if warning and path != selection.model_path:  # the sidebar already warns about the selected one
                st.warning(f"{Path(path).name}: {warning}")
            if problem:
                problems.append(f"{Path(path).name}: {problem}")
            else:
                try:
                    traces[path] = state.trace_for(selection, model_path=path)
                except Exception as error:  # e.g. weights that do not match their card: say so, keep the page
                    problems.append(f"{Path(path).name}: cannot load it: {error}")
        if problems:
            st.error("Cannot run on this dataset — " + "; ".join(problems))
        else:
            max_depth = min(traces[model_a].num_levels, traces[model_b].num_levels)
            depth = col_depth.selectbox("Level", list(range(1, max_depth + 1)), key="compare_depth",
                                        format_func=lambda d: f"level {d}")
            labels = {path: hard_labels(traces[path], depth) for path in (model_a, model_b)}
            # Model B's cluster ids matched to A's (Hungarian): agreeing clusters share a colour.
            labels[model_b] = analysis.match_clusters(labels[model_a], labels[model_b])
            shared_colors = analysis.used_cluster_colors(np.concatenate([labels[model_a], labels[model_b]]))
            score = analysis.agreement(labels[model_a], labels[model_b])
            st.caption("B's clusters are renamed after the A cluster they overlap most (Hungarian matching), so the "
                       "same colour means the same group of nodes; B clusters without a partner get new colours.")
            m1, m2 = st.columns(2)
            m1.metric("NMI", f"{score['nmi']:.3f}", help="Normalized mutual information of the two hard clusterings: "
                      "1 = same partition (whatever the cluster ids), 0 = independent.")
            m2.metric("ARI", f"{score['ari']:.3f}", help="Adjusted Rand index: 1 = identical, ≈0 = chance agreement.")
            left, right = st.columns(2)
            for column, path, tag in ((left, model_a, "A"), (right, model_b, "B")):
                with column:
                    entry = by_path[path]
                    fig = figures.graph_figure(positions, graph.edges, clusters=labels[path],
                                               hover=hover_for(labels[path]),
                                               title=f"{tag}: {entry['variant']} ({entry['name']}), level {depth}",
                                               colors=shared_colors)
                    state.show_figure(fig, key=f"compare_{tag}", file_stem=f"{title}-{entry['name']}-level{depth}")


# ---------------------------------------------------------------- level 1 vs level 2
def level_one_vs_two() -> None:
    """The selected model's level-1 and level-2 partitions of the input nodes."""
    st.subheader("Level 1 vs level 2 of the selected model",
                 help="Each input node coloured by its most likely cluster at level 1 and after two poolings (S₁S₂).")
    diagnosis_panel.show_graph_verdicts(selection)
    level_1 = hard_labels(trace, 1)
    level_2 = analysis.match_clusters(level_1, hard_labels(trace, 2))  # level-2 groups take a level-1 colour
    score = analysis.agreement(level_1, level_2)
    st.caption(f"Agreement of the two partitions of the input nodes: NMI {score['nmi']:.3f}, ARI {score['ari']:.3f} "
               f"({len(np.unique(level_1))} level-1 vs {len(np.unique(level_2))} level-2 clusters in use).")
    left, right = st.columns(2)
    with left:
        level_colors = analysis.used_cluster_colors(np.concatenate([level_1, level_2]))
        state.show_figure(figures.graph_figure(positions, graph.edges, clusters=level_1, hover=hover_for(level_1),
                                               title="Level 1 clusters", colors=level_colors), key="levels_1",
                          file_stem=f"{title}-level1")
    with right:
        state.show_figure(figures.graph_figure(positions, graph.edges, clusters=level_2, hover=hover_for(level_2),
                                               title="Level 2 clusters (composed, matched to level 1)",
                                               colors=level_colors), key="levels_2",
                          file_stem=f"{title}-level2")


# ---------------------------------------------------------------- predictions
def predictions() -> None:
    """The selected model's predictions on the dataset against another model's."""
    st.subheader("Predictions on the dataset's graphs",
                 help="The selected model (A) against another model (B) that can run on this dataset, pooling or "
                      "not: accuracy, how often they agree, an exact McNemar test on the graphs where exactly one is "
                      "right, and the graphs where they disagree.")
    candidates = [c for c in state.list_checkpoints() if c["path"] != selection.model_path
                  and state.card_compatibility(c["path"], selection.dataset_name, selection.data_dir)[1] is None]
    if not candidates:
        st.info(f"No other model can run on {selection.dataset_name}: train one on the Train page to compare "
                "predictions.")
        return
    by_candidate = {c["path"]: c for c in predictions_panel.compare_partners(candidates, selection.dataset_name,
                                                                             pools=bool(trace.levels))}
    model_b = st.selectbox("Model B", list(by_candidate), key="compare_pred_b",
                           format_func=lambda p: state.checkpoint_label(by_candidate[p]))
    for path in (selection.model_path, model_b):
        variant = selection.card.get("variant", "?") if path == selection.model_path else by_candidate[path]["variant"]
        if variant in NO_POOLING or variant == "graphsage":
            st.caption(f"{Path(path).name} ({variant}) has no pooling levels: no clusters to compare, but its "
                       "predictions are.")
    ready = predictions_panel.show_prediction_comparison(
        selection, selection.model_path, model_b, key="compare_pred",
        names=(f"A: {Path(selection.model_path).name}", f"B: {Path(model_b).name}"), explore_link=True)
    if ready is not None:
        state.rerun_when_ready(ready)


# One tab per question, lazy (only the open one is computed and drawn): the four sections one under
# the other drew five plotly figures and a table on the first visit (~1.1 s in the browser, 2 cores).
# The cluster views need pooling levels; the predictions do not.
sections = {}
if trace.levels:
    sections[SANKEY_TAB] = sankey
    sections[TWO_MODELS_TAB] = two_models
    if trace.num_levels >= 2:
        sections[LEVELS_TAB] = level_one_vs_two
sections[PREDICTIONS_TAB] = predictions
if len(sections) == 1:  # a model without pooling levels: its predictions only
    predictions()
else:
    if st.session_state.get(TABS_KEY) not in sections:
        st.session_state.pop(TABS_KEY, None)  # e.g. a model with one level after one with two: the first tab
    for tab, draw in zip(st.tabs(list(sections), key=TABS_KEY, on_change="rerun"), sections.values()):
        with tab:
            if tab.open:
                draw()
