"""The teaching page ("How DiffPool works") under Streamlit's AppTest, on tiny generated checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.model.checkpoint import save_checkpoint  # noqa: E402
from core.data.datasets import load_dataset  # noqa: E402
from core.data.features import FeatureSpec  # noqa: E402
from core.model.inference import trace_graphs  # noqa: E402
from core.model.diffpool import DiffPool, DiffPoolConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "viz_app" / "pages" / "teaching.py"
TIMEOUT = 60
WATCHED = 3
EPOCHS = [0, 5, 10]
STEPS = ["1 · A and X", "2 · embed: Z", "3 · assign: S", "4 · pool features: X'", "5 · pool edges: A'",
         "6 · auxiliary losses"]


def _model(variant: str, seed: int) -> DiffPool:
    torch.manual_seed(seed)
    spec = FeatureSpec("degree", max_degree=20)
    return DiffPool(DiffPoolConfig(input_dim=spec.dim, num_classes=3, variant=variant, num_pooling=1, cluster_counts=[4]))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """diffpool (with snapshots of graph WATCHED at EPOCHS), diffpool-nolp and random on synthetic-hierarchy."""
    folder = tmp_path_factory.mktemp("teaching-models")
    spec = FeatureSpec("degree", max_degree=20)
    graph = load_dataset("synthetic-hierarchy", download=False, progress=False)[WATCHED]
    tensors, links, entropies = {}, [], []
    for epoch in EPOCHS:  # a different random model per "epoch" stands in for training
        level = trace_graphs(_model("diffpool", epoch), [graph], spec, [WATCHED])[0].levels[0]
        tensors[f"snapshot/e{epoch:04d}/g{WATCHED}/l0"] = torch.from_numpy(level.assignment.copy())
        links.append([[level.link_loss]])
        entropies.append([[level.entropy_loss]])
    snapshots = {"every": 5, "epochs": EPOCHS, "graphs": [WATCHED], "levels": 1,
                 "losses": {"link": links, "entropy": entropies}}
    for variant, accuracy in (("diffpool", 0.9), ("diffpool-nolp", 0.8), ("random", 0.7)):
        card = {"dataset": "synthetic-hierarchy", "seed": 0, "accuracy": {"test": accuracy, "validation": accuracy}}
        extra = None
        if variant == "diffpool":
            card["snapshots"] = snapshots
            extra = tensors
        save_checkpoint(folder / f"teach-{variant}", _model(variant, 1), spec, card, extra_tensors=extra)
    return folder


@pytest.fixture
def app(models_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv("DIFFPOOL_MODELS", str(models_dir))
    monkeypatch.setenv("DIFFPOOL_TEACHING_MODEL", str(models_dir / "teach-diffpool"))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_every_step_shows_its_own_formula_and_caption(app):
    assert "teach-diffpool" in app.info[0].value  # says which model is shown
    formulas, typeset, texts = set(), set(), set()
    for step in STEPS:
        app.select_slider(key="teach_step").set_value(step).run()
        assert not app.exception, (step, [e.value for e in app.exception])
        assert app.subheader[0].value == step
        # plain Unicode by default (no KaTeX to load), typeset on request
        assert not app.latex
        formulas.add(next(m.value for m in app.markdown if m.value.startswith("#### ")))
        texts.add(" ".join(c.value for c in app.caption))
        app.toggle(key="teach_typeset").set_value(True).run()
        typeset.add(app.latex[0].value)
        app.toggle(key="teach_typeset").set_value(False).run()
    assert len(formulas) == len(typeset) == len(texts) == len(STEPS)
    assert any("Sᵀ A S" in f for f in formulas)
    assert not any("reads X without" in t for t in texts)  # every column feeds both GNNs of this model


def test_scores_step_reproduces_the_models_assignment(app):
    app.select_slider(key="teach_step").set_value(STEPS[2]).run()
    check = [c.value for c in app.caption if c.value.startswith("softmax(s) reproduces")]
    assert check and float(check[0].split("within ")[1].rstrip(".")) < 1e-4


def open_tab(app: AppTest, name: str) -> AppTest:
    """The page's tabs are lazy (only the open one renders): open one and rerun."""
    app.session_state["teach_tab"] = name
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_replay_slider_walks_through_the_snapshots(app):
    open_tab(app, "Pooling as it is learned")
    assert app.select_slider(key="teach_epoch").options == [str(e) for e in EPOCHS]
    for epoch in EPOCHS:
        app.select_slider(key="teach_epoch").set_value(epoch).run()
        assert not app.exception, [e.value for e in app.exception]
    app.select_slider(key="teach_epoch").set_value(EPOCHS[0]).run()
    app.button(key="teach_play").click().run()  # plays to the end: the slider follows every frame
    assert not app.exception, [e.value for e in app.exception]
    assert app.select_slider(key="teach_epoch").value == EPOCHS[-1]
    assert not app.session_state["_teach_playing"]
    titles = [c.proto.spec for c in app.get("plotly_chart") if f"Epoch {EPOCHS[-1]}:" in c.proto.spec]
    assert titles, "the replay figure shows the slider's epoch"


def test_replay_says_what_the_pooling_is_at_every_recorded_epoch(app, models_dir):
    """The replay names core.diagnose's verdict of each snapshot of S: one line over training, one per epoch."""
    from core.analysis.diagnosis import diagnose_level
    from core.model.checkpoint import load_extra_tensors
    from viz_app.diagnosis_panel import verdict_runs

    graph = load_dataset("synthetic-hierarchy", download=False, progress=False)[WATCHED]
    tensors = load_extra_tensors(models_dir / "teach-diffpool", "snapshot/")
    expected = {e: diagnose_level(graph.sparse_adjacency(), tensors[f"snapshot/e{e:04d}/g{WATCHED}/l0"].numpy())
                for e in EPOCHS}
    open_tab(app, "Pooling as it is learned")
    summary = next(m.value for m in app.markdown if m.value.startswith("**Level 1 of this graph over training**"))
    assert summary.endswith(verdict_runs(expected) + ".")
    for epoch in EPOCHS:
        app.select_slider(key="teach_epoch").set_value(epoch).run()
        line = next(m.value for m in app.markdown if m.value.startswith(f"Epoch {epoch}: "))
        assert f"[{expected[epoch]['verdict']}] {expected[epoch]['explanation']}" in line


def test_verdict_runs_groups_equal_verdicts_of_consecutive_epochs():
    from viz_app.diagnosis_panel import verdict_runs

    said = {e: {"verdict": v} for e, v in
            ((0, "uniform"), (5, "fragmented"), (10, "fragmented"), (15, "healthy"), (20, "fragmented"))}
    assert verdict_runs(said) == ("uniform at epoch 0, then fragmented at epochs 5–10, then healthy at epoch 15, "
                                  "then fragmented at epoch 20")
    assert verdict_runs({5: {"verdict": "healthy"}, 0: {"verdict": "healthy"}}) == "healthy at epochs 0–5"
    assert verdict_runs({}) == ""


def test_page_reads_models_only_through_the_trace():
    """The page shows what core.model.inference returns: no model layers, no private core names."""
    import re

    source = PAGE.read_text(encoding="utf-8")
    assert not re.search(r"assign_(blocks|heads)|embed_blocks|\bfrom core\.\w+ import [^\n]*\b_\w+", source)
    assert "import torch" not in source


def test_ablations_show_all_three_variants_with_card_accuracy(app):
    open_tab(app, "Ablations side by side")
    values = [m.value for m in app.metric if m.label == "test accuracy (card)"]
    assert len(values) == 3 and values[0] == "90.0%"  # the shown model; shipped nolp/random checkpoints may win
    assert sum(m.label == "mean entropy" for m in app.metric) == 3
    # each column says what its pooling is on the graph, in the diagnosis' words
    verdicts = [m.value for m in app.markdown if m.value.startswith("Level 1 :")]
    assert len(verdicts) == 3 and all("-badge[" in v for v in verdicts)


def test_without_checkpoints_a_fitted_model_is_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    monkeypatch.delenv("DIFFPOOL_TEACHING_MODEL", raising=False)
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.session_state["teach_model"] = "fit"  # pretrained/ may hold shipped models: ask for the fit explicitly
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "fitted to this graph" in at.info[0].value
    at.select_slider(key="teach_step").set_value(STEPS[5]).run()
    assert not at.exception
    open_tab(at, "Pooling as it is learned")
    assert any("no training snapshots" in i.value for i in at.info)


def test_navigation_reaches_the_page_and_it_offers_the_explorer_graph(models_dir, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_MODELS", str(models_dir))
    monkeypatch.setenv("DIFFPOOL_TEACHING_MODEL", str(models_dir / "teach-diffpool"))
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(models_dir / "teach-diffpool")
    at.run()  # the explorer, which sets the dataset / graph selection
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("viz_app/pages/teaching.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "How DiffPool works"
    assert "Graph selected in the explorer" in at.radio(key="teach_source").options
    at.radio(key="teach_source").set_value("Graph selected in the explorer").run()
    assert not at.exception
    assert "synthetic-hierarchy #0" in at.info[0].value


def test_the_explorers_graph_comes_with_the_explorers_model(models_dir, monkeypatch):
    """Picking the explorer's graph shows it under the model the explorer uses (trained on that dataset),
    not the teaching default; the user's choice then stays."""
    monkeypatch.setenv("DIFFPOOL_MODELS", str(models_dir))
    monkeypatch.setenv("DIFFPOOL_TEACHING_MODEL", str(models_dir / "teach-diffpool"))
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(models_dir / "teach-diffpool-nolp")
    at.session_state["graph"] = 2
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("viz_app/pages/teaching.py").run()
    assert "`teach-diffpool`" in at.info[0].value  # the teaching default on its own example graph
    at.radio(key="teach_source").set_value("Graph selected in the explorer").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "`teach-diffpool-nolp`" in at.info[0].value and "synthetic-hierarchy #2" in at.info[0].value
    at.selectbox(key="teach_model").set_value(str(models_dir / "teach-random")).run()
    assert "`teach-random`" in at.info[0].value


def _svg_pictures(app: AppTest) -> list[str]:
    """The SVG markup of every picture (st.image) on the page."""
    import base64

    prefix = "data:image/svg+xml;base64,"
    return [base64.b64decode(img.url[len(prefix):]).decode("utf-8")
            for element in app.get("image") for img in element.proto.imgs if img.url.startswith(prefix)]


def test_first_step_draws_pictures_until_interactive_figures_are_asked_for(app):
    """Step 1 (the first view) sends no plotly heatmap and no network: A, X and the graph are pictures,
    and the interactive figures come with the toggle the page points to."""
    import re
    import xml.etree.ElementTree as ET

    match = re.search(r"(\d+) nodes, (\d+) edges", app.info[0].value)
    n, m = int(match.group(1)), int(match.group(2))
    assert not app.get("plotly_chart") and not app.get("iframe")
    pictures = [ET.fromstring(p) for p in _svg_pictures(app)]
    assert len(pictures) == 3
    ns = "{http://www.w3.org/2000/svg}"
    adjacency, features, network = pictures
    assert adjacency.find(f"{ns}title").text == "A (adjacency)" and features.find(f"{ns}title").text == "X (node features)"
    cells = [r for r in adjacency.iter(f"{ns}rect") if r.get("class") == "cell"]
    assert len(cells) == n * n and sum(c.get("fill") == "#000000" for c in cells) == 2 * m  # A is symmetric, 0/1
    assert len(list(network.iter(f"{ns}circle"))) == n and len(list(network.iter(f"{ns}line"))) == m
    assert any("Interactive figures" in c.value for c in app.caption)  # the page says where hover and zoom went

    app.toggle(key="teach_interactive").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert not _svg_pictures(app)
    titles = [c.proto.spec for c in app.get("plotly_chart")]
    assert sum("A (adjacency)" in t for t in titles) == 1 and sum("X (node features)" in t for t in titles) == 1
    assert len(app.get("iframe")) == 1  # the network



def test_step_one_describes_the_models_own_feature_columns():
    from viz_app.figures_teaching import describe_features

    structural = describe_features(["deg=0", "deg=1", "deg≥20", "log(1+deg)", "eigvec 2", "eigvec 3"])
    assert "a one-hot of the degree (3 columns)" in structural and "log(1+degree) (1 column)" in structural
    assert "Laplacian eigenvectors (positions) (2 columns)" in structural and "any graph" in structural
    enzymes = describe_features(["label 0", "label 1", "attr 0"])
    assert "node label (2 columns)" in enzymes and "numeric node attributes (1 column)" in enzymes
    assert "any graph" not in enzymes and "needs graphs that carry it" in enzymes


def test_a_model_whose_eigenvectors_feed_only_the_assignments_says_so_at_steps_2_and_3(tmp_path, monkeypatch):
    spec = FeatureSpec("degree", max_degree=20, positional_dim=2)
    torch.manual_seed(0)
    model = DiffPool(DiffPoolConfig(input_dim=spec.dim, num_classes=3, num_pooling=1, cluster_counts=[4],
                                    assign_only_dim=2))
    save_checkpoint(tmp_path / "teach-assign-only", model, spec, {"dataset": "synthetic-hierarchy", "seed": 0})
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    monkeypatch.setenv("DIFFPOOL_TEACHING_MODEL", str(tmp_path / "teach-assign-only"))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = {}
    for step in STEPS[1:3]:
        at.select_slider(key="teach_step").set_value(step).run()
        assert not at.exception, (step, [e.value for e in at.exception])
        notes[step] = " ".join(c.value for c in at.caption)
    assert "reads X without its last 2 columns" in notes[STEPS[1]]
    assert "including the 2 Laplacian eigenvector columns" in notes[STEPS[2]]


def _diagnosis_line(app: AppTest) -> str:
    return next(m.value for m in app.markdown if m.value.startswith("**What this pooling is on this graph**"))


def test_the_page_says_what_the_shown_pooling_is_in_the_diagnosis_words(app, models_dir):
    """Every view says what its pooling is: the walkthrough names core.diagnose's verdict of the shown level.
    The page opens on synthetic-hierarchy #0, data of the model's own kind; the planted graph is not, and says so."""
    from core.analysis.diagnosis import diagnose_trace
    from core.model.checkpoint import load_checkpoint
    from core.data.synthetic import make_teaching_graph

    model, spec, card = load_checkpoint(models_dir / "teach-diffpool")
    own = load_dataset("synthetic-hierarchy", download=False, progress=False)[0]
    assert f"{own.num_nodes} nodes, {own.num_edges} edges" in app.info[0].value
    for graph in (own, make_teaching_graph(0)):
        expected = diagnose_trace(trace_graphs(model, [graph], spec, [0], seed=0)[0])
        line = _diagnosis_line(app)
        for level in expected:
            assert f"level {level['level'] + 1} :" in line and f"[{level['verdict']}] {level['explanation']}" in line
        foreign = [c.value for c in app.caption if c.value.startswith("This graph is not from synthetic-hierarchy")]
        assert len(foreign) == (graph is not own), [c.value for c in app.caption]
        app.radio(key="teach_source").set_value("Planted communities (24 nodes)").run()
        assert not app.exception, [e.value for e in app.exception]
    assert "24 nodes" in app.info[0].value
