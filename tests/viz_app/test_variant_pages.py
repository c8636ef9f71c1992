"""Models without pooling levels (set2set, sortpool, ecc, baseline) in every page, under AppTest.

They load like any other checkpoint; views that need assignments say there are none; the Model
card sets them against a DiffPool model on the same held-out graphs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from core.model.checkpoint import save_checkpoint  # noqa: E402
from core.data.features import FeatureSpec  # noqa: E402
from core.model.diffpool import NO_POOLING_VARIANTS, DiffPool, DiffPoolConfig  # noqa: E402
from tests.viz_app.test_app import app_env, settle  # noqa: E402,F401  (app_env, a fixture: DIFFPOOL_MODELS = models_dir below)

PAGES = Path(__file__).resolve().parents[2] / "viz_app" / "pages"
TIMEOUT = 120


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Untrained synthetic-hierarchy checkpoints: one diffpool and one of each variant without pooling."""
    folder = tmp_path_factory.mktemp("variant-models")
    spec = FeatureSpec("degree", max_degree=20)
    card = {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"], "seed": 0,
            "test_indices": list(range(0, 300, 10)), "protocol": "untrained test model"}
    for variant in ("diffpool", *NO_POOLING_VARIANTS):
        torch.manual_seed(0)
        model = DiffPool(DiffPoolConfig(input_dim=spec.dim, num_classes=3, variant=variant, max_nodes=64))
        save_checkpoint(folder / f"synthetic-{variant}", model, spec, card)
    return folder


def run_page(name: str, model: Path, **state) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(model)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return settle(at)


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
def test_explore_says_the_model_has_no_pooling_levels(app_env, variant):
    at = run_page("explore", app_env / f"synthetic-{variant}")
    assert any("no pooling levels" in w.value and variant in w.value for w in at.warning)


@pytest.mark.parametrize("tab", ["Assignments", "Entropy"])
def test_explore_tabs_do_not_fail_without_levels(app_env, tab):
    run_page("explore", app_env / "synthetic-sortpool", explore_tab=tab)


def test_compare_embeddings_and_teaching_do_not_fail_without_levels(app_env):
    model = app_env / "synthetic-set2set"
    at = run_page("compare", model)
    assert any("no pooling levels" in w.value for w in at.warning)
    at = run_page("embeddings", model, emb_method="pca")
    assert any("does not pool" in i.value for i in at.info)
    run_page("teaching", model)


def test_compare_offers_only_pooling_models_for_the_assignment_views(app_env):
    at = run_page("compare", app_env / "synthetic-diffpool", compare_tab="Two models on one graph")
    options = at.selectbox(key="compare_b").options  # ours plus the shipped synthetic models
    assert any("synthetic-diffpool" in option for option in options)
    assert not any(f"synthetic-{variant}" in option for option in options for variant in NO_POOLING_VARIANTS)


@pytest.mark.parametrize("variant", ["baseline", "ecc"])
def test_model_card_sets_the_model_against_diffpool_on_the_same_held_out_graphs(app_env, variant):
    at = run_page("model_card", app_env / f"synthetic-{variant}")
    assert any("no pooling levels" in i.value for i in at.info)
    assert at.selectbox(key="card_other").value.endswith("synthetic-diffpool")  # DiffPool offered first
    labels = [m.label for m in at.metric]
    assert f"This model ({variant})" in labels and "Same prediction" in labels and "McNemar p" in labels
    assert any("the 30 graphs held out from both models' training" in c.value for c in at.caption)
    accuracy_here = next(m.value for m in at.metric if m.label == "Accuracy (computed here)")
    assert next(m.value for m in at.metric if m.label == f"This model ({variant})") == accuracy_here


@pytest.mark.parametrize("selected, other", [("diffpool", "baseline"), ("set2set", "diffpool")])
def test_compare_sets_predictions_against_a_model_with_or_without_pooling(app_env, selected, other):
    at = run_page("compare", app_env / f"synthetic-{selected}", compare_pred_b=str(app_env / f"synthetic-{other}"),
                  compare_tab="Predictions")
    if selected in NO_POOLING_VARIANTS:  # no cluster views, said plainly; the predictions still compare
        assert any("no pooling levels" in w.value for w in at.warning)
        assert not at.get("plotly_chart")
    labels = [m.label for m in at.metric]
    assert f"A: synthetic-{selected} ({selected})" in labels and f"B: synthetic-{other} ({other})" in labels
    assert "Same prediction" in labels and "McNemar p" in labels
    assert any("the 30 graphs held out from both models' training" in c.value for c in at.caption)
    counts = next(c.value for c in at.caption if "Both right:" in c.value)
    numbers = [int(part.strip().rstrip(".").rsplit(" ", 1)[-1]) for part in counts.split("Both right:")[1].split("·")]
    assert sum(numbers) == 30  # both right, only A, only B, neither
    assert any("has no pooling levels: no clusters to compare" in c.value for c in at.caption)


def test_compare_opens_a_graph_where_the_models_disagree_in_explore(app_env):
    at = AppTest.from_file(str(PAGES.parent.parent / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(app_env / "synthetic-diffpool")
    at.session_state["compare_pred_b"] = str(app_env / "synthetic-baseline")
    at.session_state["compare_tab"] = "Predictions"
    at.run()
    at.switch_page("viz_app/pages/compare.py").run()
    settle(at)
    assert not at.exception, [e.value for e in at.exception]
    count = next(int(m.value.rsplit("(", 1)[1].rstrip(")")) for m in at.markdown
                 if m.value.startswith("**Graphs where they disagree**"))
    table = next(m.value for m in at.markdown if m.value.startswith("| graph | nodes | true |"))
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()[2:]]
    assert len(rows) == count > 0
    assert all(row[3] != row[4] for row in rows)  # A's and B's predicted classes differ on every row
    chosen = int(rows[-1][0])
    at.selectbox(key="compare_pred_pick").set_value(chosen)
    at.button(key="compare_pred_open").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Explore"
    assert at.session_state["graph"] == chosen


def test_a_partner_whose_weights_do_not_fit_its_card_is_refused_in_words(app_env, tmp_path, monkeypatch):
    """The comparison reads both cards without loading weights; a partner that cannot run (its card's hidden
    size is 7 more than its weights') is named in an error once its run over the dataset fails: no traceback."""
    import json
    import shutil

    for suffix in (".json", ".safetensors"):
        shutil.copyfile(app_env / f"synthetic-diffpool{suffix}", tmp_path / f"synthetic-diffpool{suffix}")
        shutil.copyfile(app_env / f"synthetic-diffpool{suffix}", tmp_path / f"misfit{suffix}")
    card = json.loads((tmp_path / "misfit.json").read_text(encoding="utf-8"))
    card["config"]["hidden_dim"] = int(card["config"]["hidden_dim"]) + 7
    (tmp_path / "misfit.json").write_text(json.dumps(card), encoding="utf-8")
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    at = run_page("compare", tmp_path / "synthetic-diffpool", compare_pred_b=str(tmp_path / "misfit"),
                  compare_tab="Predictions")
    errors = " ".join(e.value for e in at.error)
    assert "Cannot compare synthetic-diffpool and misfit" in errors, errors
