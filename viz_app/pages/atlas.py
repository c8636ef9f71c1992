"""Atlas: every graph of the dataset as one point, coloured by the diagnosis or by the prediction.

The whole dataset is diagnosed once per model and dataset, in the background worker
(``diagnosis_panel.dataset_diagnosis``): a first visit shows the page at once and the atlas when the
diagnosis is done; afterwards the page redraws from the cache. Clicking a point selects that graph for every
page (the sidebar's graph index).
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from core.analysis.diagnosis import EXPLANATIONS, VERDICTS
from core.analysis.predictions import majority_share
from viz_app import diagnosis_panel, figures, predictions_panel, state

selection = state.sidebar()
st.title("Dataset atlas")
trace = state.trace_for(selection)
if not trace.levels:
    st.warning("The selected model does not pool (graphsage): there is no pooling to diagnose.")
    st.stop()

started = time.perf_counter()
summary = diagnosis_panel.dataset_diagnosis_if_ready(selection)
if summary is None:  # the first visit for this model: the page answers at once and fills in when done
    state.pending_note(f"Diagnosing every graph of {selection.dataset_name} ({len(selection.dataset):,} graphs, once "
                       "per model) in the background; the atlas appears here when it is done.")
    state.rerun_when_ready(lambda: diagnosis_panel.dataset_diagnosis_if_ready(selection) is not None)
    st.stop()
graphs = summary["graphs"]
num_levels = max(len(g["levels"]) for g in graphs)
left, right = st.columns([1, 2])
level = left.selectbox("Pooling level", list(range(num_levels)), key="atlas_level",
                       format_func=lambda l: f"level {l} → {l + 1}")
colour_by = right.radio("Colour by", ["verdict", "prediction"], horizontal=True, key="atlas_colour")

rows = [g for g in graphs if len(g["levels"]) > level]
ids = np.array([g["index"] for g in rows])
sizes = np.array([g["num_nodes"] for g in rows])
levels = [g["levels"][level] for g in rows]
ratios = np.array([np.nan if d["modularity_ratio"] is None else d["modularity_ratio"] for d in levels])
verdicts = [d["verdict"] for d in levels]
elsewhere = state.foreign_classes(selection.card, selection.dataset_name)  # its classes are another dataset's
correct = ["—" if elsewhere or g["predicted"] is None or g["label"] is None else
           ("correct" if g["predicted"] == g["label"] else "wrong") for g in rows]
if colour_by == "verdict":
    groups, colors = verdicts, {v: diagnosis_panel.VERDICT_HEX[v] for v in VERDICTS}
else:
    groups, colors = correct, {"correct": "#2ca02c", "wrong": "#d62728", "—": "#999999"}

def _ratio_text(value) -> str:
    return "—" if value is None else f"{value:.2f}"


hover = [f"graph {g['index']} · {g['num_nodes']} nodes<br>{d['verdict']} · ratio "
         f"{_ratio_text(d['modularity_ratio'])} · used "
         f"{d['clusters_used']}/{d['num_clusters']}<br>prediction: {c}" for g, d, c in zip(rows, levels, correct)]

shares = {v: verdicts.count(v) / len(verdicts) for v in VERDICTS}
st.subheader("Share of graphs per verdict", help=" · ".join(f"{v}: {EXPLANATIONS[v]}" for v in VERDICTS))
share_left, share_right = st.columns([2, 3])
with share_left:
    state.show_figure(figures.verdict_share_bar(shares, diagnosis_panel.VERDICT_HEX,
                                                title=f"{selection.dataset_name}, level {level} → {level + 1}"),
                      key=f"atlas_shares{level}", file_stem=f"{selection.dataset_name}-verdict-shares")
with share_right:
    accuracy = [c for c in correct if c != "—"]
    # the graphs of the model's held-out test fold (its card's test_indices, when trained on this dataset):
    # accuracy over every graph counts the ones it was trained on, and flatters it
    held_out = set() if elsewhere else set(predictions_panel.held_out_indices(selection.card, selection.dataset_name,
                                                                                len(selection.dataset)))
    held = [i in held_out for i in ids]

    def _scored(rows_of: list[bool]) -> str:
        chosen = [c for c, keep in zip(correct, rows_of) if keep and c != "—"]
        return f"{chosen.count('correct') / len(chosen):.0%} of {len(chosen)}" if chosen else "none"

    for verdict in VERDICTS:
        chosen = [c for v, c in zip(verdicts, correct) if v == verdict and c != "—"]
        if chosen:
            count = verdicts.count(verdict)
            share = f"{shares[verdict]:.0%}" if shares[verdict] >= 0.005 else "<1%"  # 1 of 600 is not "0%"
            text = (f"{diagnosis_panel.verdict_markdown(verdict)} {count} graph{'s' * (count != 1)} ({share}) — "
                    f"prediction accuracy on them {chosen.count('correct') / len(chosen):.0%}")
            if held_out:
                text += f"; on its held-out fold: {_scored([v == verdict and h for v, h in zip(verdicts, held)])}"
            st.markdown(text)
    if accuracy:
        majority = majority_share([g["label"] for g in rows if g["label"] is not None and g["predicted"] is not None])
        if held_out and any(held):
            held_majority = majority_share([g["label"] for g, h in zip(rows, held) if h and g["label"] is not None])
            st.caption(f"Accuracy over every graph: {accuracy.count('correct') / len(accuracy):.0%}, most of them "
                       f"graphs the model was trained on. On the graphs of its held-out test fold, which it never saw: "
                       f"**{_scored(held)}** (always answering their largest class: {held_majority:.0%}), the figure "
                       "that measures it. Over every graph, always answering the largest class scores "
                       f"{majority:.0%}.")
        else:
            st.caption(f"Overall accuracy over the dataset (train and test graphs together): "
                       f"{accuracy.count('correct') / len(accuracy):.0%}; always answering the largest class: "
                       f"{majority:.0%}.")
    elif elsewhere:
        st.caption(f"Predictions are not scored: this model was trained on {elsewhere}, and its classes are "
                   f"{elsewhere}'s, not {selection.dataset_name}'s.")


st.subheader("Every graph", help="x = nodes (log), y = modularity of the pooling's hard clusters divided by "
             "Louvain's on the same graph (1 = as modular as the best community split; drawn at 0 when Louvain finds "
             "no structure). Click a point to open that graph on every page.")
fig = figures.atlas_figure(sizes, ratios, groups, colors, ids, hover, selected=selection.graph_index,
                           title=f"{len(rows)} graphs of {selection.dataset_name} · selected graph ★")
state.show_figure(fig, key="atlas_graphs", file_stem=f"{selection.dataset_name}-atlas", on_select=state.select_graph_on_click("atlas_graphs"),
                  selection_mode=("points", "box", "lasso"))


def _go_to_listed_graph() -> None:
    choice = st.session_state.get("atlas_pick")
    if choice is not None:
        state.select_graph(choice)


pick_left, pick_right = st.columns([1, 2])
wanted = pick_left.selectbox("Graphs with verdict", VERDICTS, key="atlas_verdict",
                             format_func=lambda v: f"{v} ({verdicts.count(v)})")
listed = [int(i) for i, v in zip(ids, verdicts) if v == wanted]
st.session_state["atlas_pick"] = selection.graph_index if selection.graph_index in listed else None
pick_right.selectbox("Open one", listed, key="atlas_pick", on_change=_go_to_listed_graph, placeholder="choose…",
                     format_func=lambda i: f"#{i} · {sizes[ids == i][0]} nodes", disabled=not listed)
st.caption(f"Selected graph {selection.graph_index}: open **Explore** for its diagnosis and views. "
           f"Page drawn in {time.perf_counter() - started:.2f} s from the cached diagnosis.")
