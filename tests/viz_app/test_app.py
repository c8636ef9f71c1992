"""The pages, run headless with Streamlit's AppTest on small random-weight checkpoints (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.model.checkpoint import save_checkpoint  # noqa: E402
from core.data.features import FeatureSpec  # noqa: E402
from core.model.diffpool import DiffPool, DiffPoolConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "viz_app" / "pages"
PRETRAINED = ROOT / "pretrained"
TIMEOUT = 120
MODEL = "test-synthetic-diffpool"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """A user models folder with an untrained diffpool and random checkpoint for the synthetic dataset."""
    folder = tmp_path_factory.mktemp("models")
    spec = FeatureSpec("degree", max_degree=20)
    for variant in ("diffpool", "random"):
        torch.manual_seed(0)
        config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, variant=variant, num_pooling=2,
                                assign_ratio=0.25, max_nodes=80)
        save_checkpoint(folder / f"test-synthetic-{variant}", DiffPool(config), spec,
                        {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"],
                         "seed": 0, "test_indices": list(range(0, 300, 10)), "protocol": "untrained test model"})
    return folder


@pytest.fixture
def app_env(models_dir, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_MODELS", str(models_dir))
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    return models_dir


def run_page(name: str, select_test_model: bool = True, explore_tab: str | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)
    if select_test_model:
        at.session_state["model"] = str(_models_dir_from_env() / MODEL)
    if explore_tab is not None:
        at.session_state["explore_tab"] = explore_tab  # the Explore tabs are lazy: only the open one renders
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return settle(at)


def settle(at: AppTest, timeout_s: float = TIMEOUT) -> AppTest:
    """Rerun until no section waits for background work (a caption opening with ⏳): pages show their
    other sections first and rerun themselves in the browser; AppTest does not run that poll."""
    import time

    from viz_app.widgets import PENDING_MARK

    deadline = time.monotonic() + timeout_s
    while any(c.value.startswith(PENDING_MARK) for c in at.caption) and time.monotonic() < deadline:
        time.sleep(0.25)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def _models_dir_from_env() -> Path:
    import os

    return Path(os.environ["DIFFPOOL_MODELS"])


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_navigation_opens_explore_and_switches_pages(app_env):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(app_env / MODEL)
    at.run()
    assert not at.exception
    assert at.title[0].value == "Explore"
    at.switch_page("viz_app/pages/model_card.py").run()
    assert not at.exception
    assert at.title[0].value.startswith("Model card")


def test_explore_shows_widgets_and_follows_the_graph_picker(app_env):
    at = run_page("explore")
    for key in ("dataset", "model", "graph", "device", "explore_level"):
        assert key in at.session_state, key
    assert len(at.tabs) == 5  # Hierarchy, Assignments, Entropy, Does pooling matter?, Stability
    assert "assign_level" not in at.session_state  # lazy tabs: the closed ones computed nothing
    assert len(at.get("iframe")) == 1  # the input graph (pyvis); the coarsened level is a plotly figure
    assert any("Coarsened graph after pooling 1" in str(chart.proto.spec) for chart in at.get("plotly_chart"))
    first = captions(at)[0]
    assert "#0" in first
    at.number_input(key="graph").set_value(7).run()
    assert not at.exception
    assert "#7" in captions(at)[0] and captions(at)[0] != first
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert "true class" in sidebar_text and "predicted" in sidebar_text
    # the prediction says whether the graph was held out from the model's training (its card: 0, 10, …, 290)
    predicted = next(m.value for m in at.sidebar.markdown if m.value.startswith("predicted:"))
    assert predicted.endswith("on one of its training graphs"), predicted
    at.number_input(key="graph").set_value(10).run()
    predicted = next(m.value for m in at.sidebar.markdown if m.value.startswith("predicted:"))
    assert predicted.endswith("on a graph held out from its training"), predicted


def test_explore_sends_the_coarsened_chart_last_in_its_place(app_env, monkeypatch):
    """The first time a browser shows a chart it compiles plotly's code, and a chart sent right behind the
    network held the network back: on a session's first run Explore sends the network, the diagnosis and
    its other work first and the coarsened graph's chart last, yet the chart sits in the Hierarchy tab's
    right column; later runs send it right after the network again."""
    from viz_app import diagnosis_panel, state, widgets

    sent: list[str] = []

    def recording(name, function):
        def wrapper(*args, **kwargs):
            sent.append(name)
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(widgets, "show_network", recording("network", widgets.show_network))
    monkeypatch.setattr(widgets, "show_figure", recording("chart", widgets.show_figure))
    monkeypatch.setattr(diagnosis_panel, "show_diagnosis", recording("diagnosis", diagnosis_panel.show_diagnosis))
    monkeypatch.setattr(state, "import_pandas_last", recording("pandas", state.import_pandas_last))
    monkeypatch.setattr(state, "start_dataset_summary", recording("background", state.start_dataset_summary))
    at = run_page("explore")
    assert sent == ["network", "diagnosis", "background", "pandas", "chart"], sent
    hierarchy = at.tabs[0]
    right = hierarchy.columns[1]
    assert [c.label for c in right.radio] == ["Coarsened level"]
    charts = right.get("plotly_chart")
    assert len(charts) == 1 and "Coarsened graph after pooling 1" in str(charts[0].proto.spec)
    assert not any("Drawing the coarsened graph" in c for c in captions(at))  # its note was replaced
    # later runs (the browser has plotly's code now) draw it in turn, beside the network, in the same place
    sent.clear()
    at.radio(key="explore_level").set_value(2).run()
    assert not at.exception
    assert sent == ["network", "chart", "diagnosis", "background", "pandas"], sent
    charts = at.tabs[0].columns[1].get("plotly_chart")
    assert len(charts) == 1 and "Coarsened graph after pooling 2" in str(charts[0].proto.spec)


def test_explore_level_and_model_change_what_is_shown(app_env):
    at = run_page("explore")
    level_caption = [c for c in captions(at) if c.startswith("Level 1:")]
    assert level_caption
    at.radio(key="explore_level").set_value(2).run()
    assert not at.exception
    assert any(c.startswith("Level 2:") for c in captions(at))
    at.selectbox(key="model").set_value(str(app_env / "test-synthetic-random")).run()
    assert not at.exception
    assert "`random`" in captions(at)[0]


def test_explore_assignments_tab_renders_only_when_open(app_env):
    at = run_page("explore", explore_tab="Assignments")
    assert "assign_level" in at.session_state and "explore_level" not in at.session_state
    assert not at.get("iframe")  # the networks of the Hierarchy tab are not built
    assert any("A' = SᵀAS" in c for c in captions(at))


def test_explore_entropy_tab_reports_collapse_statistics(app_env):
    at = run_page("explore", explore_tab="Entropy")
    labels = [m.label for m in at.metric]
    assert {"Mean entropy", "log C bound", "Clusters used", "Effective clusters"} <= set(labels)
    before = [m.value for m in at.metric]
    at.selectbox(key="entropy_level").set_value(1).run()
    assert not at.exception
    assert [m.value for m in at.metric] != before


def open_compare_tab(at: AppTest, name: str) -> AppTest:
    """Compare's sections are lazy tabs (only the open one renders): open one and rerun."""
    at.session_state["compare_tab"] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return settle(at)


def test_compare_shows_agreement_between_two_models(app_env):
    at = run_page("compare")
    assert [t.label for t in at.tabs] == ["Where the nodes go", "Two models on one graph", "Level 1 vs level 2",
                                          "Predictions"]
    assert any("level-1 → level-2 clusters" in str(c.proto.spec) for c in at.get("plotly_chart"))  # the first tab
    assert not at.metric  # the closed tabs are not drawn
    open_compare_tab(at, "Level 1 vs level 2")
    assert any("Agreement of the two partitions" in c for c in captions(at))
    open_compare_tab(at, "Two models on one graph")
    labels = [m.label for m in at.metric]
    assert "NMI" in labels and "ARI" in labels
    # each model says what its pooling is, from its card: the test model's has no "structure"
    assert "Its card does not say what its pooling is." in captions(at)
    at.selectbox(key="compare_b").set_value(str(PRETRAINED / "synthetic-hierarchy-diffpool")).run()
    assert not at.exception
    assert "Its pooling on its held-out fold: level 1 healthy (100%), level 2 healthy (100%)." in captions(at)
    # a closed tab keeps its pickers' choice for when the user comes back
    open_compare_tab(at, "Predictions")
    open_compare_tab(at, "Two models on one graph")
    assert at.selectbox(key="compare_b").value == str(PRETRAINED / "synthetic-hierarchy-diffpool")


def test_embeddings_say_which_projection_was_used(app_env):
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(app_env / MODEL)
    at.session_state["emb_method"] = "pca"  # keep the test fast; UMAP is exercised by analysis tests
    at.run()
    assert not at.exception
    settle(at)  # the dataset summary comes from the background worker
    assert any("Projection method: **pca** · 300 graphs" in c for c in captions(at))
    # whether the embeddings themselves are ordered by class, from the summary the page drew
    from core import analysis
    from viz_app import cache

    summary = cache.summary_if_ready(str(app_env / MODEL), "cpu", "synthetic-hierarchy", None)
    expected = analysis.neighbour_class_agreement(summary["graph_embeddings"], summary["labels"], k=5)
    sentence = next(m.value for m in at.markdown if m.value.startswith("**Before the projection**"))
    assert f"vote for its true class on **{expected['accuracy']:.0%}**" in sentence
    assert f"against {expected['majority']:.0%} for always naming the largest class" in sentence
    at.selectbox(key="emb_level").set_value(1).run()
    assert not at.exception
    assert any("5 points" in c or "20 points" in c for c in captions(at))


def test_embeddings_draw_the_stored_projection_at_once_and_predictions_when_the_summary_is_ready(app_env,
                                                                                                  monkeypatch):
    """The page never waits for the model's run over the whole dataset (tens of seconds on D&D): a
    shipped model's stored coordinates show the true classes at once; colouring by prediction says
    it is coming, and appears once the background summary is there."""
    from viz_app import cache, state
    from viz_app.widgets import PENDING_MARK

    real = cache.summary_if_ready

    def still_running(on: bool) -> None:
        # both names: the page reads the summary through cache, its rerun poll through state (a poll
        # that saw it ready while the page did not would rerun for ever)
        for module in (cache, state):
            monkeypatch.setattr(module, "summary_if_ready", (lambda *args, **kwargs: None) if on else real)

    still_running(True)
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)  # the shipped default model
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Projection method: **umap, precomputed** · 300 graphs" in c for c in captions(at))
    assert not any(c.startswith(PENDING_MARK) for c in captions(at))
    at.radio(key="emb_colour").set_value("prediction").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.startswith(PENDING_MARK) and "300 graphs of synthetic-hierarchy" in c for c in captions(at))
    assert not any("Projection method: **umap, precomputed**" in c for c in captions(at))
    still_running(False)
    settle(at)
    assert any("Projection method: **umap, precomputed** · 300 graphs" in c for c in captions(at))
    assert not any(c.startswith(PENDING_MARK) for c in captions(at))


def test_model_card_lists_the_seed_retrainings_beside_the_model():
    """The shipped default has seeds/ siblings: the card page says how its held-out accuracy and pooling
    vary across training seeds, read from their cards."""
    at = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)  # the shipped default model
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    stems = [PRETRAINED / "synthetic-hierarchy-diffpool"] + sorted(
        p.with_suffix("") for p in (PRETRAINED / "seeds").glob("synthetic-hierarchy-diffpool-seed*.json"))
    cards = [json.loads(Path(str(s) + ".json").read_text(encoding="utf-8")) for s in stems]
    table = next(m.value for m in at.markdown if m.value.startswith("| seed | model |"))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert [r[1] for r in rows] == [f"`{s.name}`" for s in stems] and [r[0] for r in rows] == [str(c["seed"]) for c in cards]
    assert [r[2] for r in rows] == [f"{c['accuracy']['test']:.1%}" for c in cards]
    scores = [100 * c["accuracy"]["test"] for c in cards]
    assert any(f"Retrained with {len(stems) - 1} other seeds" in m.value and f"{min(scores):.1f}–{max(scores):.1f} %"
               in m.value for m in at.markdown)


def test_model_card_evaluates_on_the_test_fold(app_env):
    import json

    from core.data.datasets import load_dataset

    at = run_page("model_card")
    assert any("held-out test fold: 30 graphs" in c for c in captions(at))
    # the confusion table: rows are the test fold's true classes, the bold diagonal its right answers
    table = next(m.value for m in at.markdown if m.value.startswith("| true ↓ · predicted → |"))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    counts = np.array([[int(cell.strip("*")) for cell in row[1:-2]] for row in rows])
    assert all(row[1 + i].startswith("**") for i, row in enumerate(rows))
    card = json.loads((app_env / f"{MODEL}.json").read_text())
    labels = np.asarray(load_dataset("synthetic-hierarchy").labels)[card["test_indices"]]
    assert counts.sum(axis=1).tolist() == np.bincount(labels, minlength=len(rows)).tolist()
    assert [int(row[-1]) for row in rows] == counts.sum(axis=1).tolist()
    for i, row in enumerate(rows):
        assert row[-2] == f"{counts[i, i] / counts[i].sum():.1%}"
    accuracy = next(m.value for m in at.metric if m.label == "Accuracy (computed here)")
    assert accuracy == f"{np.trace(counts) / counts.sum():.1%}"
    assert not any("eigenvectors are the ones LAPACK returned" in c for c in captions(at))  # degree features
    assert "Accuracy (computed here)" in [m.label for m in at.metric]
    assert any("does not say what its pooling is" in c for c in captions(at))  # a card without "structure"
    assert not any("Its pooling on its held-out fold" in c.value for c in at.sidebar.caption)


def test_a_data_folder_that_does_not_exist_is_said_so_in_the_sidebar(app_env, tmp_path):
    at = AppTest.from_file(str(PAGES / "explore.py"), default_timeout=TIMEOUT)
    at.session_state["data_dir"] = str(tmp_path / "typo")
    at.session_state["dataset"] = "ENZYMES"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"There is no folder {tmp_path / 'typo'}" in w.value for w in at.sidebar.warning)
    at.session_state["data_dir"] = str(tmp_path)  # an existing (empty) folder: no warning
    at.run()
    assert not any("There is no folder" in w.value for w in at.sidebar.warning)


def test_model_card_gives_one_folds_accuracy_without_a_spread(tmp_path, monkeypatch):
    spec = FeatureSpec("degree", max_degree=20)
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=1, assign_ratio=0.25, max_nodes=80)
    cv = {"folds_completed": 1, "honest": {"mean": 0.7, "std": 0.0, "per_fold": [0.7]},
          "paper": {"accuracy": 0.72, "epoch": 3, "epochs_compared": 40}, "majority": {"mean": 0.4, "per_fold": [0.4]}}
    save_checkpoint(tmp_path / "one-fold", DiffPool(config), spec,
                    {"dataset": "synthetic-hierarchy", "seed": 0, "test_indices": list(range(0, 300, 10)),
                     "settings": {"folds": 10}, "cross_validation": cv})
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(tmp_path / "one-fold")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    line = next(m.value for m in at.markdown if m.value.startswith("**Cross-validation.**"))
    assert "70.0% on one test fold" in line and "±" not in line and "folds completed: 1 of 10" in line
    # early stopping leaves folds of different lengths: the paper's one epoch is chosen among those all ran
    assert "paper protocol (optimistic): 72.0% (one epoch for every fold: the best of the 40 all folds trained)" in line
    assert line.endswith("always answering each test fold's largest class: 40.0%")


@pytest.mark.parametrize("test_accuracy", [0.30, 0.90])
def test_model_card_sets_the_held_out_accuracy_against_the_largest_class(tmp_path, monkeypatch, test_accuracy):
    from core.data.datasets import load_dataset

    spec = FeatureSpec("degree", max_degree=20)
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=1, assign_ratio=0.25, max_nodes=80)
    test_indices = list(range(0, 300, 10))
    save_checkpoint(tmp_path / "scored", DiffPool(config), spec,
                    {"dataset": "synthetic-hierarchy", "seed": 0, "test_indices": test_indices,
                     "accuracy": {"test": test_accuracy}})
    labels = np.asarray(load_dataset("synthetic-hierarchy").labels)[test_indices]
    majority = np.bincount(labels).max() / labels.size
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(tmp_path / "scored")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metric = next(m for m in at.metric if m.label.startswith("Test accuracy"))
    assert metric.delta == f"{100 * (test_accuracy - majority):+.1f} points over the largest class"
    warned = [w.value for w in at.warning if "no better than always answering the largest class" in w.value]
    assert bool(warned) == (test_accuracy < majority + 0.05)


def test_model_card_says_why_a_model_trained_after_the_canonical_basis_has_lapacks(tmp_path, monkeypatch):
    """A card that names ``eigenbasis: solver`` chose LAPACK's basis (to join a grid's earlier folds): the page
    must not say it was trained before the canonical basis existed."""
    import shutil

    shipped = PRETRAINED / "synthetic-hierarchy-diffpool"
    shutil.copyfile(shipped.with_suffix(".safetensors"), tmp_path / "chosen.safetensors")
    card = json.loads(shipped.with_suffix(".json").read_text(encoding="utf-8"))
    assert "eigenbasis" not in card["features"]  # the shipped one predates the canonical basis
    card["features"]["eigenbasis"] = "solver"
    (tmp_path / "chosen.json").write_text(json.dumps(card), encoding="utf-8")
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(tmp_path / "chosen")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    said = [c for c in captions(at) if "eigenvectors are the ones LAPACK returned" in c]
    assert said and "--eigenbasis solver" in said[0] and "before the canonical" not in said[0]


def test_model_card_says_in_words_what_the_shipped_models_pooling_is(app_env):
    at = run_page("model_card", select_test_model=False)  # the shipped default: pretrained/synthetic-hierarchy-diffpool
    # trained on degree+spectral features before the canonical eigenbasis: the page says they depend on the CPU
    assert any("eigenvectors are the ones LAPACK returned (it was trained before the canonical" in c
               for c in captions(at))
    text = " ".join(m.value for m in at.markdown)
    assert "What its pooling is" in text and "30 graphs of its held-out fold" in text
    assert ":green-badge[healthy] level 1 (8 clusters): healthy on 100% of graphs" in text
    assert "level 2 (4 clusters): healthy on" in text


def test_model_card_names_the_structural_training_options(app_env, tu_dir):
    at = run_page("model_card", select_test_model=False)
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value("DD").run()
    text = " ".join(m.value for m in settle(at).markdown)
    assert ("trained with DMoN's modularity objective at weight 1 at every level, 16 Laplacian eigenvectors as node "
            "features of the assignment GNN only, a batch norm of the input features.") in text
    assert not any("does not say what its pooling is" in c for c in captions(at))


def test_train_page_trains_and_saves_a_selectable_model(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    at.number_input(key="train_epochs").set_value(2)
    at.selectbox(key="train_pooling").set_value(1)
    at.selectbox(key="train_readout").set_value("sum")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    first = Path(at.session_state["_last_train"]["path"])
    saved = [m.value for m in [*at.success, *at.warning] if m.value.startswith("Saved")]
    assert saved and "largest class" in saved[0]  # set against the majority class, green or not
    # a new, unique name: never the shipped model's (pretrained/synthetic-hierarchy-diffpool)
    assert first.parent == tmp_path and first.name.startswith("synthetic-hierarchy-diffpool-")
    card = json.loads(first.with_suffix(".json").read_text())
    assert card["config"]["readout"] == "sum"
    # what its pooling learned, from the card core.train wrote, with a warning unless every level is healthy
    level = card["structure"]["levels"][0]
    shown = at.info if level["verdict"] == "healthy" else at.warning
    assert any(f"level 1 {level['verdict']} ({level['shares'][level['verdict']]:.0%})" in m.value for m in shown)
    at.button(key="train_use").click().run()
    assert at.session_state["model"] == str(first)

    at.text_input(key="train_name").set_value("my model")
    at.button[0].click().run()
    at.button[0].click().run()  # the same name again (as another session might): counted up, nothing replaced
    assert not at.exception and not at.error, [e.value for e in at.error]
    stems = sorted(p.stem for p in tmp_path.glob("*.safetensors"))
    assert stems == sorted([first.name, "my-model", "my-model-2"])
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # the private training folders are gone


@pytest.mark.parametrize("test_accuracy, banner", [(0.30, "warning"), (0.95, "success")])
def test_train_page_never_shows_a_model_at_the_majority_class_as_a_success(app_env, test_accuracy, banner):
    from core.data.datasets import load_dataset

    stem = _models_dir_from_env() / MODEL  # its card holds test indices 0, 10, …, 290 of the synthetic dataset
    labels = np.asarray(load_dataset("synthetic-hierarchy").labels)[list(range(0, 300, 10))]
    majority = np.bincount(labels).max() / labels.size
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=TIMEOUT)
    at.session_state["_last_train"] = {
        "path": str(stem), "history": [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.3, "val_acc": 0.3}],
        "summary": {"variant": "diffpool", "dataset": "synthetic-hierarchy", "best_epoch": 1, "seconds": 1.0,
                    "accuracy": {"test": test_accuracy}, "sizes": {"test": 30}}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = {"warning": [m.value for m in at.warning], "success": [m.value for m in at.success]}
    saved = [m for m in shown[banner] if m.startswith("Saved")]
    assert saved and f"{majority:.1%}" in saved[0], shown
    other = "success" if banner == "warning" else "warning"
    assert not [m for m in shown[other] if m.startswith("Saved")]
    if banner == "warning":
        assert "has not learned to classify" in saved[0]


def test_train_page_structural_objective_trains_the_shipped_recipe_and_refuses_variants_without_assignment(
        app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="train_epochs").set_value(1)
    at.selectbox(key="train_pooling").set_value(1)
    at.selectbox(key="train_objective").set_value("structural")
    at.number_input(key="train_max_clusters").set_value(6)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    card = json.loads(Path(at.session_state["_last_train"]["path"] + ".json").read_text())
    config = card["config"]
    assert config["structure_loss_weight"] == 1.0 and config["input_norm"] and config["assign_only_dim"] == 16
    assert config["cluster_counts"] == [6]  # the cap, below ratio × largest graph

    at.selectbox(key="train_variant").set_value("graphsage")
    at.button[0].click().run()
    assert not at.exception
    assert at.error and "structural objective shapes learned assignments" in at.error[0].value
    assert "'graphsage' has none" in at.error[0].value
    assert len(list(tmp_path.glob("*.safetensors"))) == 1  # nothing trained, nothing written


def test_train_failure_is_reported_and_the_app_keeps_working(app_env, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should be")
    monkeypatch.setenv("DIFFPOOL_MODELS", str(blocker))
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="train_epochs").set_value(1)
    at.button[0].click().run()
    assert not at.exception
    assert at.error and "Training failed" in at.error[0].value


def test_a_copy_of_a_shipped_model_in_the_users_folder_stays_picked(tmp_path, monkeypatch):
    """The model picker keeps its choice by label: a copy of a shipped checkpoint under the same name
    in the user's folder gets a label of its own, so picking it keeps it across reruns."""
    import shutil

    shipped = PRETRAINED / "synthetic-hierarchy-diffpool"
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(str(shipped) + suffix, str(tmp_path / shipped.name) + suffix)
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)
    copy = str(tmp_path / shipped.name)
    at.session_state["model"] = copy
    at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model").value == copy
    labels = at.selectbox(key="model").options
    assert len({label for label in labels if label.startswith(shipped.name + " ")}) == 2  # (shipped), (yours)
    at.selectbox(key="model").set_value(str(shipped)).run()
    assert at.selectbox(key="model").value == str(shipped)


def test_switching_to_a_tu_dataset_brings_its_shipped_model(app_env, tu_dir):
    at = run_page("explore", select_test_model=False)
    assert at.selectbox(key="model").value.endswith("synthetic-hierarchy-diffpool")
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value("ENZYMES").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model").value.endswith("enzymes-diffpool-structural-sum-long")  # pretrained/defaults.json
    assert "ENZYMES #0" in captions(at)[0]
    # why, in one line under the picker, and the full reason one click away
    defaults = json.loads((PRETRAINED / "defaults.json").read_text(encoding="utf-8"))["ENZYMES"]
    side = [c.value for c in at.sidebar.caption]
    assert f"Why this model for ENZYMES: {defaults['brief']}" in side
    assert defaults["why"] in side and "The full reason" in [e.label for e in at.sidebar.expander]


def test_a_dataset_no_model_was_trained_on_points_to_the_train_page(app_env, tu_dir):
    if not (tu_dir / "MUTAG").is_dir():
        pytest.skip("MUTAG not in the TU test data")
    at = run_page("explore", select_test_model=False)
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value("ENZYMES").run()
    assert not [i.value for i in at.sidebar.info if "No model here was trained on" in i.value]
    at.selectbox(key="dataset").set_value("MUTAG").run()
    assert not at.exception, [e.value for e in at.exception]
    infos = [i.value for i in at.sidebar.info]
    assert any(i.startswith("No model here was trained on MUTAG") and "Train page" in i for i in infos), infos
    assert any("not MUTAG" in w.value for w in at.sidebar.warning)  # the model shown says where it comes from
    # its prediction is in another dataset's classes: named, never marked correct or wrong
    predicted = [m.value for m in at.sidebar.markdown if m.value.startswith("predicted:")]
    assert predicted and "not scored against MUTAG's labels" in predicted[0], predicted
    assert "(correct)" not in predicted[0] and "(wrong)" not in predicted[0]


def _on_dataset(page: str, tu_dir: Path, name: str) -> AppTest:
    at = run_page(page, select_test_model=False)
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return settle(at)


def test_a_model_from_another_dataset_is_never_scored_against_this_ones_labels(app_env, tu_dir):
    """Class 1 of the synthetic dataset is not MUTAG's class 1: no accuracy, no correct/wrong anywhere."""
    if not (tu_dir / "MUTAG").is_dir():
        pytest.skip("MUTAG not in the TU test data")
    card = _on_dataset("model_card", tu_dir, "MUTAG")
    assert any(i.value.startswith("Not scored on MUTAG: this model was trained on synthetic-hierarchy")
               for i in card.info), [i.value for i in card.info]
    assert not [m for m in card.metric if m.label.startswith("Accuracy")]
    atlas = _on_dataset("atlas", tu_dir, "MUTAG")
    assert any(c.startswith("Predictions are not scored: this model was trained on synthetic-hierarchy")
               for c in captions(atlas)), captions(atlas)
    assert not [m.value for m in atlas.markdown if "prediction accuracy on them" in m.value]
    compare = open_compare_tab(_on_dataset("compare", tu_dir, "MUTAG"), "Predictions")
    assert any(i.value.startswith("Predictions are compared only between models trained on MUTAG")
               for i in compare.info), [i.value for i in compare.info]
    # the sidebar warns about the selected model; the page warns only about the other one it runs
    open_compare_tab(compare, "Two models on one graph")
    selected = Path(compare.session_state["model"]).name
    main_warnings = [w.value for w in compare.main.warning]
    assert not [w for w in main_warnings if w.startswith(f"{selected}:")], main_warnings
    assert [w for w in main_warnings if "trained on **synthetic-hierarchy**, not MUTAG" in w], main_warnings
    # on the model's own dataset it is scored as before
    enzymes = _on_dataset("model_card", tu_dir, "ENZYMES")
    assert [m for m in enzymes.metric if m.label.startswith("Accuracy")]


def test_the_selection_survives_streamlit_dropping_the_sidebar_widgets_state(app_env, tu_dir):
    """A run_every fragment firing after the user left its page drops the state of widgets it did not
    draw (Streamlit issue #10805): in the browser, D&D fell back to the synthetic dataset on the
    next page. The selection is also kept under plain keys no widget owns, and restored from there."""
    from viz_app.sidebar import SELECTION_KEYS

    at = run_page("model_card", select_test_model=False)
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value("ENZYMES").run()
    at.number_input(key="graph").set_value(7).run()
    assert not at.exception, [e.value for e in at.exception]
    chosen = {key: at.session_state[key] for key in SELECTION_KEYS if key in at.session_state}
    assert chosen["dataset"] == "ENZYMES" and chosen["graph"] == 7 and "enzymes" in chosen["model"]
    kept = {key: at.session_state[f"_kept_{key}"] for key in chosen}
    assert kept == chosen  # copied after the sidebar settled (the new dataset's default model included)
    # a session holding only the kept copies: every widget's own state gone, as after that fragment run
    fresh = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)
    for key, value in kept.items():
        fresh.session_state[f"_kept_{key}"] = value
    fresh.run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert fresh.selectbox(key="dataset").value == "ENZYMES" and fresh.number_input(key="graph").value == 7
    assert fresh.selectbox(key="model").value == chosen["model"]
    assert fresh.text_input(key="data_dir").value == str(tu_dir)
    # where the widget has state, the widget wins: a later choice replaces the kept copy
    fresh.number_input(key="graph").set_value(3).run()
    assert fresh.number_input(key="graph").value == 3 and fresh.session_state["_kept_graph"] == 3


def test_dd_brings_its_model_and_draws_its_largest_graph_on_a_sample(app_env, tu_dir):
    at = run_page("explore", select_test_model=False)
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value("DD").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model").value.endswith("dd-diffpool-structural-sum-long")  # pretrained/defaults.json
    # what its pooling is, from its card, on every page's sidebar
    assert "Its pooling on its held-out fold: level 1 healthy (99%), level 2 healthy (100%)" in " ".join(
        c.value for c in at.sidebar.caption)
    at.number_input(key="graph").set_value(20).run()  # 5,748 nodes, D&D's largest
    assert not at.exception, [e.value for e in at.exception]
    assert "DD #20" in captions(at)[0]
    page_text = " ".join(m.value for m in at.markdown) + " ".join(captions(at)) + " ".join(i.value for i in at.info)
    assert "2,000" in page_text and "5,748" in page_text  # says that the drawing is a sample


def test_empty_clusters_are_left_out_of_the_coarsened_graph_until_asked_for(app_env, tu_dir):
    at = AppTest.from_file(str(PAGES / "explore.py"), default_timeout=TIMEOUT)
    at.session_state["data_dir"] = str(tu_dir)
    at.session_state["dataset"] = "ENZYMES"
    at.session_state["model"] = str(ROOT / "pretrained" / "enzymes-diffpool")  # uses a few of its 12 clusters
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    toggle = at.toggle(key="explore_level_show_empty")
    empty = int(toggle.label.split()[2])
    assert toggle.value is False and 0 < empty < 12

    def coarse_title() -> tuple[str, int]:
        spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                    if "Coarsened graph" in json.loads(c.proto.spec)["layout"]["title"]["text"])
        return spec["layout"]["title"]["text"], len(spec["data"][-1]["text"])  # one label per drawn cluster

    title, drawn = coarse_title()
    assert f"({12 - empty}/12 drawn)" in title and drawn == 12 - empty
    toggle.set_value(True).run()
    title, drawn = coarse_title()
    assert "(12 clusters)" in title and drawn == 12


def test_label_based_models_do_not_run_on_another_dataset_structure_only_ones_warn(tu_dir):
    from core.data.datasets import load_dataset
    from core.data.features import FeatureSpec
    from viz_app.state import check_model

    proteins = load_dataset("PROTEINS", data_dir=tu_dir, download=False)
    wide_labels = FeatureSpec("labels", num_node_labels=89)  # D&D's coding; PROTEINS' 3 labels fit its width
    card = {"dataset": "DD", "config": {"input_dim": wide_labels.dim, "num_classes": 2}}
    warning, problem = check_model(card, wide_labels, proteins)
    assert problem == "it reads DD's node labels, which PROTEINS codes differently" and warning is None
    assert check_model({**card, "dataset": "PROTEINS"}, wide_labels, proteins)[1] is None  # width aside, same coding
    structure = FeatureSpec("degree", max_degree=20)
    warning, problem = check_model({"dataset": "synthetic-hierarchy", "config": {"input_dim": structure.dim,
                                                                                "num_classes": 3}}, structure, proteins)
    assert problem is None and "trained on **synthetic-hierarchy**" in warning


def test_compare_sets_the_synthetic_default_beside_a_pooling_that_is_not_structure(app_env):
    """The app default's clusters are healthy at both levels; model B starts on the shipped random-assignment
    model (level 1 fragmented), not on the first synthetic model by name (the no-link-prediction one, healthy too)."""
    at = run_page("compare", select_test_model=False)
    open_compare_tab(at, "Two models on one graph")
    assert at.selectbox(key="compare_a").value.endswith("synthetic-hierarchy-diffpool")
    assert at.selectbox(key="compare_b").value.endswith("synthetic-hierarchy-random")
    assert any(c.startswith("Its pooling on its held-out fold: level 1 fragmented") for c in captions(at)), captions(at)


def test_compare_offers_only_models_that_can_run_on_the_dataset(app_env, tu_dir):
    at = run_page("compare", select_test_model=False)
    at.text_input(key="data_dir").set_value(str(tu_dir)).run()
    at.selectbox(key="dataset").set_value("PROTEINS").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("level-1 → level-2 clusters" in str(c.proto.spec) for c in at.get("plotly_chart"))  # two levels
    open_compare_tab(at, "Two models on one graph")
    options = at.selectbox(key="compare_b").options
    assert options and not any(name in option for option in options for name in ("on DD", "on ENZYMES"))
    assert at.selectbox(key="compare_a").value.endswith("proteins-diffpool-structural-long")  # pretrained/defaults.json
    assert at.selectbox(key="compare_b").value != at.selectbox(key="compare_a").value
    # the structural default beside a PROTEINS model whose clusters are not structure (predictions_panel.contrast_partner)
    assert at.selectbox(key="compare_b").value.endswith("proteins-diffpool-2level-sum-nolp")
    assert not any("not PROTEINS" in w.value for w in at.warning)
    elsewhere = next(i for i, option in enumerate(options) if "on synthetic-hierarchy" in option)
    at.selectbox(key="compare_b").select_index(elsewhere).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("not PROTEINS" in w.value for w in at.warning)  # model B was trained elsewhere: said so


def test_app_config_turns_off_streamlits_gc_after_every_rerun():
    """`streamlit run` from the repository reads .streamlit/config.toml; the full gc.collect() Streamlit
    runs after each rerun cost ~0.6 s of every graph switch (bench/results/app_latency.md)."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["postScriptGC"] is False
    from streamlit import config as st_config

    assert "runner.postScriptGC" in st_config._config_options_template  # the option still exists


def test_heatmaps_hide_unused_clusters_until_asked_for(app_env, tu_dir):
    at = AppTest.from_file(str(PAGES / "explore.py"), default_timeout=TIMEOUT)
    at.session_state["explore_tab"] = "Assignments"
    at.session_state["data_dir"] = str(tu_dir)
    at.session_state["dataset"] = "ENZYMES"
    at.session_state["model"] = str(ROOT / "pretrained" / "enzymes-diffpool")  # uses a few of its 12 clusters
    at.run()
    assert not at.exception, [e.value for e in at.exception]

    def heatmap_columns() -> list[list[str]]:
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        return [s["data"][0]["x"] for s in specs if s["data"][0].get("type") == "heatmap"]

    toggle = at.toggle(key="heat_show_unused")
    unused = int(toggle.label.split()[2])
    s_columns, a_columns = heatmap_columns()
    assert len(s_columns) == len(a_columns) == 12 - unused and unused > 0
    assert any(f"{12 - unused} of 12 clusters shown" in c for c in captions(at))
    toggle.set_value(True).run()
    s_all, a_all = heatmap_columns()
    assert s_all == [f"c{c}" for c in range(12)] and set(s_columns) < set(s_all)  # ids kept, not renumbered


def test_class_names_are_readable_where_the_dataset_has_them(app_env, tu_dir):
    at = AppTest.from_file(str(PAGES / "explore.py"), default_timeout=TIMEOUT)
    at.session_state["data_dir"] = str(tu_dir)
    at.session_state["dataset"] = "DD"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    # graph 0 of D&D is labelled 1 in DD_graph_labels.txt: an enzyme (691 of them, as in Dobson & Doig)
    assert "true class: **enzyme (1)**" in sidebar_text
    assert "predicted: **" in sidebar_text and ("enzyme (1)" in sidebar_text.split("predicted:")[1])


def test_embeddings_answer_with_pca_while_umap_runs_in_the_background(app_env, monkeypatch):
    """UMAP never blocks the page: PCA first, then (after the background fit) UMAP."""
    import threading

    from core import analysis

    release = threading.Event()
    real = analysis.project_2d

    def slow_umap(points, seed=0, method="auto"):
        if method != "pca":
            release.wait(30)  # stands in for numba compilation + the fit
        return real(points, seed=seed, method="pca" if method != "pca" else method)[0], (
            "umap" if method != "pca" else "pca")

    monkeypatch.setattr(analysis, "project_2d", slow_umap)
    from viz_app import cache

    done = threading.Thread(target=lambda: None)
    done.start()
    monkeypatch.setattr(cache, "warm_umap_in_background", lambda: done)  # other tests may be compiling UMAP
    # ... or have queued real fits of the same points on the shared one-worker pool: a fresh pool and job cache
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(cache, "_projection_pool", lambda: pool)
    cache._umap_job.clear()
    at = AppTest.from_file(str(PAGES / "embeddings.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(app_env / MODEL)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("pca (UMAP in progress)" in c for c in captions(at))
    release.set()
    for _ in range(50):
        at.run()
        if any("Projection method: **umap**" in c for c in captions(at)):
            break
        threading.Event().wait(0.1)
    assert any("Projection method: **umap**" in c for c in captions(at)), captions(at)
    pool.shutdown(wait=False)
    cache._umap_job.clear()


def test_a_chart_click_names_the_graph_under_the_first_point_with_customdata():
    from types import SimpleNamespace

    from viz_app.sidebar import clicked_graph

    assert clicked_graph({"selection": {"points": [{"x": 1}, {"customdata": [42, "x"]}, {"customdata": 7}]}}) == 42
    assert clicked_graph({"selection": {"points": [{"customdata": 7}]}}) == 7
    assert clicked_graph(SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": (3,)}]))) == 3
    assert clicked_graph({"selection": {"points": [{"x": 1}]}}) is None
    assert clicked_graph(None) is None and clicked_graph({}) is None
