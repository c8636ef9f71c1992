"""Train: fit a small model from the browser with live curves; the result lands in the user models folder."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import streamlit as st

from core.model.card import pools_into_structure
from core.model.config import LEARNED_ASSIGNMENT, NO_POOLING_VARIANTS
from core.model.diffpool import VARIANTS
from core.train.settings import READOUTS, TrainingError, TrainSettings, cluster_counts_for
from viz_app import figures, model_store, predictions_panel, state

#: The form's pooling objectives (the structural one is the shipped structural models' recipe).
OBJECTIVES = {"reference": "reference (link prediction + entropy)",
              "structural": "structural (+ DMoN modularity, eigenvector features for the assignment)"}
#: Level-1 clusters at most, as every D&D run here (core.train --max-clusters 100).
DEFAULT_MAX_CLUSTERS = 100

selection = state.sidebar(need_model=False)

st.title("Train a model")
st.caption(f"Trains on fold 0 of a stratified 10-fold split (train / validation / test) with `core.train.train_single`; "
           f"the checkpoint is saved in `{state.user_models_dir()}` under a new name (never replacing a shipped model "
           "or anyone else's) and appears in the sidebar's model list.")

names, present = state.dataset_choices(selection.data_dir)
available = [n for n in names if n in present]
with st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    dataset_name = c1.selectbox("Dataset", available, index=available.index(selection.dataset_name)
                                if selection.dataset_name in available else 0, key="train_dataset")
    variant = c2.selectbox("Variant", [v for v in VARIANTS], key="train_variant")
    epochs = c3.number_input("Epochs", 1, 2000, 20, key="train_epochs")
    c4, c5, c6, c7 = st.columns(4)
    lr = c4.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3, key="train_lr")
    hidden = c5.select_slider("Hidden width", [16, 30, 64], value=30, key="train_hidden")
    pooling = c6.selectbox("Pooling levels", [1, 2], index=1, key="train_pooling")
    ratio = c7.select_slider("Assign ratio", [0.1, 0.25, 0.5], value=0.25, key="train_ratio",
                             help="Clusters at a level = ratio × nodes of the previous level (max nodes at level 1).")
    c8, c9, c10 = st.columns(3)
    batch = c8.select_slider("Batch size", [8, 20, 32, 64], value=20, key="train_batch")
    readout = c9.selectbox("Readout", list(READOUTS), key="train_readout",
                           help="How a level's node embeddings become one graph vector. max (the reference code's) "
                                "sees which kinds of nodes occur; sum also sees how many and how large the graph "
                                "is — better on D&D (73 vs 68 %), worse on ENZYMES (see the README's results).")
    seed = c10.number_input("Seed", 0, 10_000, 0, key="train_seed")
    c11, c12 = st.columns([2, 1])
    objective = c11.selectbox(
        "Pooling objective", list(OBJECTIVES), format_func=OBJECTIVES.get, key="train_objective",
        help="reference: the paper's losses only (classification, link prediction, entropy); its clusters tend to "
             "follow node labels rather than the graph. structural: the recipe of the shipped structural models "
             "(DMoN's modularity objective at weight 1 at every level, 16 Laplacian eigenvectors as features of "
             "the assignment GNN only, a batch norm of the input features): clusters that follow the graph's structure "
             "(the shipped structural models are healthy on 80–100 % of their held-out graphs).")
    max_clusters = c12.number_input(
        "Level-1 clusters at most", 0, 2000, DEFAULT_MAX_CLUSTERS, key="train_max_clusters",
        help="Caps ratio × largest graph (0: no cap). Without it D&D's largest graph (5,748 nodes) gives "
             "1,437 clusters at ratio 0.25, more than most of its graphs have nodes: level 1 would not pool, "
             "and an epoch would take minutes.")
    model_name = st.text_input("Name (optional)", key="train_name", max_chars=80,
                               placeholder="default: <dataset>-<variant>-<UTC time>-<random>",
                               help="A taken name gets -2, -3, … added: no model is ever overwritten.")
    submitted = st.form_submit_button("Train", type="primary")

progress_slot, chart_slot, status_slot = st.empty(), st.empty(), st.empty()


def use_model(path: str) -> None:
    st.session_state["_pending_model"] = path


def settings_for(**chosen) -> TrainSettings:
    """The form's choices as :class:`core.train.settings.TrainSettings` (raises TrainingError, in words)."""
    objective = chosen.pop("objective")
    if objective == "structural":
        if chosen["variant"] not in LEARNED_ASSIGNMENT or chosen["num_pooling"] < 1:
            raise TrainingError(f"the structural objective shapes learned assignments: variant {chosen['variant']!r} "
                                f"has none; choose {' or '.join(LEARNED_ASSIGNMENT)}, or the reference objective")
        chosen.update(structure_weight=1.0, positional=16, positional_assign_only=True, input_norm=True)
    return TrainSettings(**chosen)


if submitted:
    from core.train.crossval import train_single

    try:
        settings = settings_for(dataset=dataset_name, variant=variant, epochs=int(epochs), lr=float(lr),
                                hidden_dim=int(hidden), embedding_dim=int(hidden), num_pooling=int(pooling),
                                assign_ratio=float(ratio), max_clusters=int(max_clusters) or None,
                                batch_size=int(batch), readout=readout, seed=int(seed), folds=10,
                                objective=objective, device=selection.device, data_dir=selection.data_dir)
    except TrainingError as error:
        st.error(f"Cannot train this: {error}")
        st.stop()
    history: list[dict] = []
    bar = progress_slot.progress(0.0, text="Preparing…")
    last_draw = [0.0]

    def on_epoch(epoch: int, metrics: dict) -> bool:
        history.append(dict(metrics))
        bar.progress(min(epoch / settings.epochs, 1.0),
                     text=f"epoch {epoch}/{settings.epochs} · loss {metrics['train_loss']:.3f} · "
                          f"val acc {metrics.get('val_acc') or 0:.2f}")
        now = time.perf_counter()
        if now - last_draw[0] > 0.4 or epoch == settings.epochs:  # redraw at most ~2×/s
            chart_slot.plotly_chart(figures.training_curves(history), key=f"train_live_{epoch}")
            last_draw[0] = now
        return True

    try:
        dataset = state.load_dataset(dataset_name, selection.data_dir)
        if variant not in NO_POOLING_VARIANTS:
            counts = cluster_counts_for(dataset.max_nodes, settings)
            bar.progress(0.0, text=f"Preparing… clusters per level: {dataset.max_nodes} nodes at most → "
                                   + " → ".join(str(c) for c in counts))
        out_dir = state.user_models_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        # Train into a private folder (the sidebar does not list sub-folders), then publish under a
        # unique name: the models folder is shared by every session of this server.
        private = Path(tempfile.mkdtemp(prefix=".training-", dir=out_dir))
        try:
            with st.spinner("Training…"):
                path, summary = train_single(dataset, settings, private, on_epoch=on_epoch,
                                             command=f"Streamlit Train page: {settings!r}")
            typed = (model_name or "").strip()
            stem = model_store.publish_checkpoint(
                Path(path).with_suffix(""), out_dir, typed or f"{dataset_name}-{variant}",
                other_folders=[state.shipped_models_dir()], stamped=not typed)
        finally:
            shutil.rmtree(private, ignore_errors=True)
    except Exception as error:  # any failure is shown, the app keeps working
        bar.empty()
        st.error(f"Training failed: {type(error).__name__}: {error}")
    else:
        st.session_state["_last_train"] = {"path": str(stem), "summary": summary, "history": history}

last = st.session_state.get("_last_train")
if last:
    summary = last["summary"]
    test = summary["accuracy"].get("test")
    try:
        card = state.model_card(last["path"])
    except Exception:  # the card moved or broke since: the sidebar lists it with its reason
        card = None
    saved = (f"Saved **{Path(last['path']).name}** ({summary['variant']} on {summary['dataset']}): best epoch "
             f"{summary['best_epoch']}, test accuracy {test:.1%} on {summary['sizes']['test']} held-out graphs, "
             f"{summary['seconds']:.1f} s" if test is not None else f"Saved {last['path']}")
    majority = None
    if card is not None and test is not None:
        try:
            majority = predictions_panel.held_out_majority(card, state.load_dataset(summary["dataset"],
                                                                                    selection.data_dir))
        except Exception:  # the dataset is gone from the data folder: the accuracy stands alone
            majority = None
    if majority is not None and test < majority + predictions_panel.MAJORITY_MARGIN:
        # never a green banner for a model that has not learned to classify
        status_slot.warning(f"{saved}. That is no better than always answering the largest class, which is "
                            f"{majority:.1%} of these graphs: the model has not learned to classify them. More "
                            "epochs, another learning rate or the structural objective may help.")
    else:
        status_slot.success(saved + (f" (always answering the largest class: {majority:.1%})."
                                     if majority is not None else "."))
    structure = card.get("structure") if card is not None else None
    words = state.pooling_summary(structure)
    if words:
        healthy = pools_into_structure(structure)
        (st.info if healthy else st.warning)(
            f"What its pooling learned, on the {structure['graphs']} held-out graphs: {words}."
            + ("" if healthy else " Not community-like clusters at every level: the Explore page's diagnosis says "
               "why, graph by graph. The structural pooling objective above trains pooling that follows the "
               "graph's structure (`python -m core.train --structure-weight 1 --positional 16 "
               "--positional-assign-only --input-norm` on the command line)."))
    if not submitted:
        chart_slot.plotly_chart(figures.training_curves(last["history"]), key="train_last")
    st.button("Use this model in the explorer", on_click=use_model, args=(last["path"],), key="train_use")
    if st.session_state.get("model") == last["path"]:
        st.caption("It is the selected model now: open the Explore page.")
