"""Explore (home): the input graph coloured by cluster, each coarsened level, assignments and entropy."""

from __future__ import annotations


import numpy as np
import streamlit as st

from viz_app import diagnosis_panel, figures, state, trace_tabs

#: Session-state flag: Explore has sent this browser session a chart (plotly's code is loaded).
CHART_SENT = "_explore_chart_sent"

selection = state.sidebar()
trace = state.trace_for(selection)
graph = selection.graph
names = graph.names()
title = graph.name or f"graph {selection.graph_index}"

st.title("Explore")
st.caption(f"**{title}** · {graph.num_nodes} nodes · {graph.num_edges} edges · model "
           f"`{selection.card.get('variant', '?')}` ({selection.model_path.rsplit('/', 1)[-1]})")
if not trace.levels:
    st.warning(f"This model has no pooling levels ({selection.card.get('variant', '?')} variant): it makes no "
               "cluster assignments, so there are no clusters to show.")
else:
    # The diagnosis comes first, on the default view: what each level learned, in one word.
    truth_name, _ = diagnosis_panel.truth_picker(graph, key="explore_truth")
    # Shown here, computed last (below): the network is sent to the browser first and draws while
    # the diagnosis runs.
    diagnosis_slot = st.container()

# The tabs Explore shares with Upload (viz_app.trace_tabs), then its own; only the open one runs.


def dataset_entropy() -> None:
    """The dataset-wide entropy per level (Entropy tab), on request."""
    if st.toggle("Dataset-wide entropy (runs the model on every graph)", key="entropy_dataset",
                 value=False, help="Off by default so the page opens fast; cached once computed."):
        summary = diagnosis_panel.dataset_diagnosis_for(selection)  # the atlas' cached computation
        state.show_figure(figures.dataset_entropy_bar(summary["entropy"]), key="ent_dataset",
                          file_stem=f"{selection.dataset_name}-entropy")
        rows = summary["entropy"]
        st.caption(" · ".join(f"level {r['level']}: mean H {r['mean_entropy']:.3f} nats, "
                              f"{r['collapsed_fraction']:.0%} of graphs collapsed" for r in rows))


def occlusion() -> None:
    """Does pooling matter? Per-cluster occlusion painted on the graph."""
    if not (trace.levels and trace.logits is not None):
        return
    level_index = state.pooling_level_select(trace, "occlusion_level")
    record = trace.levels[level_index]
    if graph.num_nodes > 1500 and not st.session_state.get(f"occlusion_go::{selection.graph_index}"):
        # one forward pass per cluster on a big dense graph: minutes on a CPU, so only when asked
        if st.button(f"Run the model {record.num_clusters} times (once per removed cluster) on this "
                     f"{graph.num_nodes:,}-node graph", key="occlusion_start"):
            st.session_state[f"occlusion_go::{selection.graph_index}"] = True
        else:
            return
    result = diagnosis_panel.graph_occlusion(selection.model_path, selection.device, selection.dataset_name,
                                             selection.data_dir, selection.graph_index, selection.stamp,
                                             level_index)
    model_classes = state.model_class_names(selection.card, selection.dataset)  # the names the sidebar gives
    target = model_classes[result["target"]] if result["target"] < len(model_classes) else result["target"]
    deltas = result["deltas"]
    used = np.unique(record.hard_assignment)
    strongest = used[np.argsort(-np.abs(deltas[used]))][:3]
    st.markdown(f"Predicted class **{target}** with p = {result['probability']:.3f}. Removing one level-"
                f"{level_index + 1} cluster at a time changes p by at most **{np.abs(deltas).max():.3f}** "
                f"(strongest: " + ", ".join(f"c{k} {deltas[k]:+.3f}" for k in strongest) + ").")
    saturated = np.abs(deltas).max() < 0.01
    if saturated:
        st.info("No single cluster moves the probability by even 0.01: at this level the prediction does not "
                "depend on any one super-node. The drawing shows the change in log-odds log(p / (1 − p)) "
                "instead, which still ranks the clusters when p is close to 1: largest "
                f"{np.abs(result['log_odds_deltas']).max():.2f}.")
    left, right = st.columns([3, 2])
    with left:
        effect = result["node_log_odds_effect"] if saturated else result["node_effect"]
        span = max(float(np.abs(effect).max()), 1e-3)
        positions = state.graph_layout(selection.dataset_name, selection.data_dir, selection.graph_index)
        measure = "Δ log-odds" if saturated else "Δp"
        hover = [f"{names[i]}: expected {measure} {effect[i]:+.4f}" for i in range(graph.num_nodes)]
        state.show_figure(figures.graph_figure(positions, graph.edges, values=effect, hover=hover,
                                               title=f"{measure}(class {target}) if the node's cluster were "
                                                     "removed",
                                               value_label=measure, colorscale=figures.OCCLUSION_COLORSCALE,
                                               value_range=(-span, span)),
                          key=f"occlusion_graph{level_index}", file_stem=f"{title}-occlusion{level_index}",
                          theme=None)
    with right:
        state.show_figure(figures.occlusion_bar(deltas, used, level_index + 1),
                          key=f"occlusion_bar{level_index}", file_stem=f"{title}-occlusion-bar{level_index}")
    st.caption("Occlusion: cluster k's column of S is removed and every row re-normalised over the other "
               "clusters (core.model.inference.cluster_occlusion); the rest of the network runs unchanged. A node's "
               "colour is Σₖ (its membership in k) × Δp_k through S (Δ log-odds when p is saturated). Red = the cluster supports the prediction "
               "(removing it lowers p), blue = it argues against it.")


def stability() -> None:
    """The stability of this graph's clusters across seeds (sibling checkpoints, else self-supervised fits)."""
    if not trace.levels:
        return
    siblings = diagnosis_panel.sibling_seed_models(selection.model_path)
    if len(siblings) >= diagnosis_panel.MIN_SEED_SIBLINGS:
        st.subheader(f"This model and {len(siblings)} retrainings with other seeds",
                     help="Checkpoints in seeds/ beside the model, trained with the same command and another "
                          "--seed; each is run on this graph and its level-1 clusters compared.")
        result = diagnosis_panel.model_seed_stability(
            selection.model_path, tuple(siblings), selection.device, selection.dataset_name, selection.data_dir,
            selection.graph_index, tuple(state.stamp_of(p) for p in (selection.model_path, *siblings)))
        diagnosis_panel.show_stability_result(
            result, graph, state.graph_layout(selection.dataset_name, selection.data_dir, selection.graph_index),
            key="explore_model_stability", file_stem=f"{title}-seed-stability", runs="model")
        st.subheader("Fits of the graph's structure", help="Self-supervised fits, as on the Upload page.")
    else:
        shipped = ("This model ships as one checkpoint: there are no sibling seed or cross-validation fold models "
                   "to compare" if not siblings else
                   f"Only {len(siblings)} of the {diagnosis_panel.MIN_SEED_SIBLINGS} seed retrainings this tab "
                   "compares ship beside this model (`seeds/`)")
        st.info(f"{shipped}, so the stability of *its* clusters across trainings is not measured here. What "
                "can be measured: how stable a pooling of this graph's structure is — the graph is fitted "
                f"self-supervised (as on the Upload page) with {len(diagnosis_panel.STABILITY_SEEDS)} seeds.")
    first = trace.levels[0]
    default = int(max(2, min(len(np.unique(first.hard_assignment)), graph.num_nodes // 2)))
    clusters = int(st.number_input("Clusters of the fits", min_value=2, max_value=max(2, graph.num_nodes - 1),
                                   value=min(default, max(2, graph.num_nodes - 1)), key="stability_clusters",
                                   help="Default: the clusters this model actually uses at level 1."))
    diagnosis_panel.show_stability(graph, state.graph_layout(selection.dataset_name, selection.data_dir,
                                                             selection.graph_index),
                                   (clusters,), f"{selection.dataset_name}-{selection.graph_index}",
                                   key="explore_stability")


layout = state.graph_layout(selection.dataset_name, selection.data_dir, selection.graph_index)
view = trace_tabs.TraceView(
    graph, trace, layout, file_stem=title, level_key="explore_level",
    drawing=lambda: state.input_network(selection.model_path, selection.device, selection.dataset_name,
                                        selection.data_dir, selection.graph_index, selection.stamp))
# The session's first run sends the coarsened graph's chart last: the browser has not loaded plotly's code
# yet, and would hold the network back while it does (see show_trace_tabs). Later runs draw it in turn.
drawn_last: list = []
trace_tabs.show_trace_tabs(view, "explore_tab", {"Does pooling matter?": occlusion, "Stability": stability},
                           dataset_entropy=dataset_entropy,
                           later=None if st.session_state.get(CHART_SENT) else drawn_last)
# The network is sent: load torch now (other pages run models) while the diagnosis runs.
state.load_torch_in_background()

if trace.levels:
    with diagnosis_slot:
        diagnoses = diagnosis_panel.graph_diagnosis(selection.model_path, selection.device, selection.dataset_name,
                                                    selection.data_dir, selection.graph_index, selection.stamp,
                                                    truth_name)
        diagnosis_panel.show_diagnosis(diagnoses, title="What pooling learned", key="explore_diagnosis")

# Last, with every figure sent: in the background, the dataset's large graphs (a switch to one of them
# is then as quick as to a small one) and the dataset summary (Embeddings, Model card).
state.start_preparing_large_graphs(selection)
state.start_dataset_summary(selection)
state.import_pandas_last()  # for UMAP on Embeddings (not in a background thread: see there)
for draw in drawn_last:  # the session's first run: the chart, once the browser has had time for the network
    draw()
st.session_state[CHART_SENT] = True
