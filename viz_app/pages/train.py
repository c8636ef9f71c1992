"""Train: fit a small model from the browser with live curves; the result lands in the user models folder."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import streamlit as st

from core.model.diffpool import VARIANTS
from core.train.settings import READOUTS
from viz_app import figures, model_store, state

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
    model_name = st.text_input("Name (optional)", key="train_name", max_chars=80,
                               placeholder="default: <dataset>-<variant>-<UTC time>-<random>",
                               help="A taken name gets -2, -3, … added: no model is ever overwritten.")
    submitted = st.form_submit_button("Train", type="primary")

progress_slot, chart_slot, status_slot = st.empty(), st.empty(), st.empty()


def use_model(path: str) -> None:
    st.session_state["_pending_model"] = path


if submitted:
    from core.train.settings import TrainSettings
    from core.train.crossval import train_single

    settings = TrainSettings(dataset=dataset_name, variant=variant, epochs=int(epochs), lr=float(lr),
                             hidden_dim=int(hidden), embedding_dim=int(hidden), num_pooling=int(pooling),
                             assign_ratio=float(ratio), batch_size=int(batch), readout=readout, seed=int(seed), folds=10,
                             device=selection.device, data_dir=selection.data_dir)
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
    status_slot.success(
        f"Saved **{Path(last['path']).name}** ({summary['variant']} on {summary['dataset']}): best epoch "
        f"{summary['best_epoch']}, test accuracy {test:.1%} on {summary['sizes']['test']} held-out graphs, "
        f"{summary['seconds']:.1f} s." if test is not None else f"Saved {last['path']}.")
    try:
        structure = state.model_card(last["path"]).get("structure")
    except Exception:  # the card moved or broke since: the sidebar lists it with its reason
        structure = None
    words = state.pooling_summary(structure)
    if words:
        healthy = all(level["verdict"] == "healthy" for level in structure["levels"])
        (st.info if healthy else st.warning)(
            f"What its pooling learned, on the {structure['graphs']} held-out graphs: {words}."
            + ("" if healthy else " Not community-like clusters at every level: the Explore page's diagnosis says "
               "why, graph by graph (`python -m core.train --structure-weight 1 --positional 16 "
               "--positional-assign-only` trains pooling that follows the graph's structure)."))
    if not submitted:
        chart_slot.plotly_chart(figures.training_curves(last["history"]), key="train_last")
    st.button("Use this model in the explorer", on_click=use_model, args=(last["path"],), key="train_use")
    if st.session_state.get("model") == last["path"]:
        st.caption("It is the selected model now: open the Explore page.")
