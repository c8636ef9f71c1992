"""The diagnosis in the pages (AppTest, headless): Explore's default view, the atlas, occlusion, stability."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("streamlit")

from core.analysis.diagnosis import VERDICTS  # noqa: E402
from tests.viz_app.test_app import MODEL, app_env, models_dir, run_page  # noqa: E402,F401  (fixtures)


def _expected_diagnosis(folder, index: int = 0) -> list[dict]:
    from core.model.checkpoint import load_checkpoint
    from core.data.datasets import load_dataset
    from core.analysis.diagnosis import diagnose_trace
    from core.model.inference import trace_graphs

    model, spec, card = load_checkpoint(folder / MODEL)
    graph = load_dataset("synthetic-hierarchy")[index]
    trace = trace_graphs(model, [graph], spec, [index], seed=card["seed"])[0]
    return diagnose_trace(trace, graph.node_labels, graph.node_data["community"])


def test_explore_default_view_shows_each_levels_verdict_as_core_computes_it(app_env, one_torch_thread):
    at = run_page("explore")  # no tab chosen: the default view
    expected = _expected_diagnosis(app_env)
    texts = [m.value for m in at.markdown]
    for level in expected:
        line = next(t for t in texts if t.startswith(f"**Level {level['level']} → {level['level'] + 1}**"))
        assert f"[{level['verdict']}]" in line and level["explanation"] in line  # the sentence core wrote for it
        if level["verdict"] != "healthy":
            assert ":green-badge" not in line  # a failure is never drawn green
    metrics = {(m.label, m.value) for m in at.metric}
    first = expected[0]
    assert ("Clusters used", f"{first['clusters_used']} / {first['num_clusters']}") in metrics
    assert ("Truth NMI / ARI", f"{first['truth_nmi']:.2f} / {first['truth_ari']:.2f}") in metrics
    # the old mass-only collapse warning is gone from every view
    assert not any("Cluster collapse" in w.value for w in at.warning)


def test_atlas_page_shows_the_datasets_verdict_shares(app_env, one_torch_thread):
    at = run_page("atlas")
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges and all(any(f"[{v}]" in b for v in VERDICTS) for b in badges)
    found = [re.search(r"\] (\d+) graphs? \((<1|\d+)%\)", b) for b in badges]
    counts = [int(m.group(1)) for m in found]
    assert sum(counts) == 300  # every graph of the synthetic dataset, in one verdict each
    for match, count in zip(found, counts):
        assert match.group(2) == ("<1" if count / 300 < 0.005 else f"{count / 300:.0%}".rstrip("%"))
    # the accuracy beside what always answering the largest class scores on the same graphs
    from core.data.datasets import load_dataset

    from core.model.checkpoint import load_checkpoint
    from core.model.inference import trace_graphs

    dataset = load_dataset("synthetic-hierarchy")
    labels = np.asarray(dataset.labels)
    overall = next(c.value for c in at.caption if c.value.startswith("Accuracy over every graph"))
    assert overall.endswith(f"always answering the largest class scores {np.bincount(labels).max() / labels.size:.0%}.")
    # ... and, apart, the accuracy on the model's held-out fold, the one that measures it (its card's test graphs)
    model, spec, card = load_checkpoint(app_env / MODEL)
    test = [int(i) for i in card["test_indices"]]
    traces = trace_graphs(model, [dataset[i] for i in test], spec, test, seed=card["seed"])
    held = np.mean([int(np.argmax(t.logits)) == labels[i] for t, i in zip(traces, test)])
    assert f"never saw: **{held:.0%} of {len(test)}** (always answering their largest class: " \
           f"{np.bincount(labels[test]).max() / len(test):.0%})" in overall, overall
    assert all("; on its held-out fold: " in b for b in badges)
    at.radio(key="atlas_colour").set_value("prediction").run()
    assert not at.exception
    verdict = next(v for v in VERDICTS if any(f"[{v}]" in b for b in badges))
    at.selectbox(key="atlas_verdict").set_value(verdict).run()
    target = at.selectbox(key="atlas_pick").options[-1]
    at.selectbox(key="atlas_pick").set_value(int(target.split(" ")[0].lstrip("#"))).run()
    assert not at.exception
    assert at.session_state["graph"] == int(target.split(" ")[0].lstrip("#"))  # the graph every page shows


def test_occlusion_and_stability_tabs_render_their_numbers(app_env, one_torch_thread):
    at = run_page("explore", explore_tab="Does pooling matter?")
    assert any(m.value.startswith("Predicted class") for m in at.markdown)
    at = run_page("explore", explore_tab="Stability")
    assert any("no sibling seed" in i.value for i in at.info)
    at.session_state["stability_clusters"] = 3
    at.button(key="explore_stability_start").click().run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert 0.0 <= float(values["Mean pairwise NMI"]) <= 1.0
    assert values["Nodes stable in every run"].endswith("%")
    # and what it means, in words, from the same numbers
    from viz_app.diagnosis_panel import STABLE_NMI, UNSTABLE_NMI

    nmi = float(values["Mean pairwise NMI"])
    word = "**Stable**" if nmi >= STABLE_NMI else "**Partly stable**" if nmi >= UNSTABLE_NMI else "**Unstable**"
    sentence = next(m.value for m in at.markdown if m.value.startswith(word))
    assert f"mean NMI {nmi:.2f}" in sentence and f"{values['Nodes stable in every run']} of nodes" in sentence


def test_compare_colours_model_b_after_model_a(app_env, one_torch_thread):
    at = run_page("compare")
    at.session_state["compare_tab"] = "Two models on one graph"  # a lazy tab
    at.run()
    assert any("Hungarian" in c.value for c in at.caption)
    assert np.isfinite(float(next(m.value for m in at.metric if m.label == "NMI")))


def test_stability_across_sibling_seed_models_when_they_exist(app_env, one_torch_thread):
    import torch

    from core.model.checkpoint import save_checkpoint
    from core.data.features import FeatureSpec
    from core.model.diffpool import DiffPool, DiffPoolConfig

    spec = FeatureSpec("degree", max_degree=20)
    seeds = app_env / "seeds"
    for seed in range(1, 5):
        torch.manual_seed(seed)
        config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, variant="diffpool", num_pooling=2,
                                assign_ratio=0.25, max_nodes=80)
        save_checkpoint(seeds / f"{MODEL}-seed{seed}", DiffPool(config), spec,
                        {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"],
                         "seed": seed})
    try:
        at = run_page("explore", explore_tab="Stability")
        assert any("4 retrainings with other seeds" in h.value for h in at.subheader)
        values = {m.label: m.value for m in at.metric}
        assert 0.0 <= float(values["Mean pairwise NMI"]) <= 1.0
        assert any(c.value.startswith("Verdict of each run: model " + MODEL) for c in at.caption)
    finally:
        for path in seeds.iterdir():
            path.unlink()
        seeds.rmdir()


def test_fewer_seed_retrainings_than_the_tab_compares_are_named_not_compared(app_env, one_torch_thread):
    """One sibling of four (a default's retrainings half done): Explore says how many ship instead of
    saying there are none, and the Model card lists it without pointing to a comparison that is not there."""
    import torch

    from core.model.checkpoint import save_checkpoint
    from core.data.features import FeatureSpec
    from core.model.diffpool import DiffPool, DiffPoolConfig
    from viz_app.diagnosis_panel import MIN_SEED_SIBLINGS

    spec = FeatureSpec("degree", max_degree=20)
    seeds = app_env / "seeds"
    torch.manual_seed(1)
    config = DiffPoolConfig(input_dim=spec.dim, num_classes=3, variant="diffpool", num_pooling=2,
                            assign_ratio=0.25, max_nodes=80)
    save_checkpoint(seeds / f"{MODEL}-seed1", DiffPool(config), spec,
                    {"dataset": "synthetic-hierarchy", "class_names": ["2 groups", "3 groups", "4 groups"], "seed": 1})
    try:
        at = run_page("explore", explore_tab="Stability")
        assert not at.exception, [e.value for e in at.exception]
        assert not any("retrainings with other seeds" in h.value for h in at.subheader)
        info = " ".join(i.value for i in at.info)
        assert f"Only 1 of the {MIN_SEED_SIBLINGS} seed retrainings this tab compares ship" in info, info
        assert "ships as one checkpoint" not in info
        card = run_page("model_card")
        assert not card.exception, [e.value for e in card.exception]
        text = " ".join(m.value for m in card.markdown)
        assert "**Retrained with 1 other seed**" in text
        assert f"once {MIN_SEED_SIBLINGS} retrainings ship" in text and "compares their clusters graph by graph" not in text
    finally:
        for path in seeds.iterdir():
            path.unlink()
        seeds.rmdir()


def test_the_shipped_defaults_atlas_and_summary_come_from_its_stored_results_at_once(app_env, one_torch_thread):
    """The default model ships ``NAME.dataset-results.npz``: the atlas draws on the first run, with
    the stored shares; the test model (no stored results) says the diagnosis is coming instead."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from core.data.datasets import load_dataset
    from core.diagnose import STORED_RESULTS_SUFFIX, load_dataset_results, stored_results_key
    from tests.viz_app.test_app import PAGES, TIMEOUT
    from viz_app.widgets import PENDING_MARK

    stem = Path(__file__).resolve().parents[2] / "pretrained" / "synthetic-hierarchy-diffpool"
    stored = load_dataset_results(Path(str(stem) + STORED_RESULTS_SUFFIX),
                                  stored_results_key(stem, load_dataset("synthetic-hierarchy"), "community"))
    at = AppTest.from_file(str(PAGES / "atlas.py"), default_timeout=TIMEOUT)  # the shipped default model
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any(c.value.startswith(PENDING_MARK) for c in at.caption)
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    healthy = stored["shares"][0]["shares"]["healthy"]
    assert any(f"[healthy] {round(healthy * 300)} graphs ({100 * healthy:.0f}%)" in b for b in badges), badges
    # and the Model card's confusion matrix, from the same file, with no background run either
    at = AppTest.from_file(str(PAGES / "model_card.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Accuracy (stored run)" in [m.label for m in at.metric]  # on the first run, and says so
    assert any(c.value.startswith("From the model's run over every graph stored beside it") for c in at.caption)
    pending = [c.value for c in at.caption if c.value.startswith(PENDING_MARK)]
    assert not any("Running the model over" in c for c in pending), pending  # (only the other model's may run)

    from viz_app import diagnosis_panel

    diagnosis_panel._dataset_diagnosis_job.clear()  # earlier tests of this process may have diagnosed it
    at = AppTest.from_file(str(PAGES / "atlas.py"), default_timeout=TIMEOUT)
    at.session_state["model"] = str(app_env / MODEL)  # a model trained here: nothing stored
    at.run()
    assert any(c.value.startswith(PENDING_MARK) for c in at.caption)


def test_each_default_and_the_models_it_is_set_against_by_default_ship_their_results(tmp_path, monkeypatch):
    """Compare's and the Model card's predictions sections open on the dataset's default model set
    against a partner they choose (``predictions_panel.compare_partners`` / ``card_partners``):
    both ship ``NAME.dataset-results.npz``, so these sections answer on the first visit instead of
    running a model over the whole dataset beside the page's drawing."""
    import json
    from pathlib import Path

    from core.diagnose import STORED_RESULTS_SUFFIX
    from viz_app import cache, predictions_panel

    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))  # shipped models only
    pretrained = Path(__file__).resolve().parents[2] / "pretrained"
    defaults = json.loads((pretrained / "defaults.json").read_text(encoding="utf-8"))
    shipped = [e for e in cache.list_checkpoints() if e["source"] == "shipped"]
    missing = []
    for dataset, entry in defaults.items():
        selected = next(e for e in shipped if Path(e["path"]).name == entry["model"])
        others = [e for e in shipped if e is not selected and str(e["dataset"]).lower() == dataset.lower()]
        partners = {predictions_panel.compare_partners(others, dataset, pools=True)[0]["path"],
                    predictions_panel.card_partners(others, selected["variant"])[0]["path"]}
        missing += [Path(p).name for p in {selected["path"], *partners} if not Path(p + STORED_RESULTS_SUFFIX).is_file()]
    assert not missing, missing


def test_compare_sets_a_pooling_of_the_other_kind_beside_the_selected_one():
    """Compare's two-model view opens with model B whose pooling is of the other kind by the cards
    (structure against none); without a card that says, the first other model."""
    from core.model.card import pools_into_structure
    from viz_app.predictions_panel import contrast_partner

    def structure(*verdicts):
        return {"levels": [{"level": i + 1, "verdict": v} for i, v in enumerate(verdicts)]}

    assert pools_into_structure(structure("healthy", "healthy")) is True
    assert pools_into_structure(structure("healthy", "collapsed")) is False  # one failed level is no structure
    assert pools_into_structure(None) is None and pools_into_structure({"levels": []}) is None
    structures = {"s": structure("healthy", "healthy"), "s2": structure("healthy"),
                  "f": structure("fragmented", "collapsed"), "u": None}
    assert contrast_partner(["s", "s2", "u", "f"], "s", structures) == "f"
    assert contrast_partner(["u", "f", "s2", "s"], "f", structures) == "s2"
    assert contrast_partner(["s2", "f"], "u", structures) == "s2"  # the selected card says nothing
    assert contrast_partner(["s", "s2"], "s", structures) == "s2"  # no other kind on offer
    assert contrast_partner(["s"], "s", structures) is None


def test_compare_opens_each_datasets_default_beside_a_pooling_that_is_not_structure(tmp_path, monkeypatch):
    """On every dataset with a shipped default, the default's clusters are structure and Compare's model B
    starts on a shipped model of the same dataset whose clusters are not, by its card."""
    import json
    from pathlib import Path

    from core.model.card import pools_into_structure
    from core.model.diffpool import NO_POOLING_VARIANTS
    from viz_app import cache, predictions_panel

    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))  # shipped models only
    pretrained = Path(__file__).resolve().parents[2] / "pretrained"
    defaults = json.loads((pretrained / "defaults.json").read_text(encoding="utf-8"))
    shipped = [e for e in cache.list_checkpoints() if e["source"] == "shipped"]
    for dataset, entry in defaults.items():
        same = [e["path"] for e in shipped if str(e["dataset"]).lower() == dataset.lower()
                and e["variant"] != "graphsage" and e["variant"] not in NO_POOLING_VARIANTS]  # as the page lists them
        selected = str(pretrained / entry["model"])
        structures = {path: cache.model_card(path).get("structure") for path in same}
        partner = predictions_panel.contrast_partner(same, selected, structures)
        assert pools_into_structure(structures[selected]) is True, dataset
        assert partner is not None and pools_into_structure(structures[partner]) is False, (dataset, partner)


def test_the_cluster_views_of_compare_and_embeddings_say_this_graphs_verdict_at_every_level(app_env,
                                                                                          one_torch_thread):
    expected = _expected_diagnosis(app_env)
    at = run_page("compare")  # the default tab: the Sankey
    for tab in (None, "Level 1 vs level 2", "embeddings"):
        if tab == "embeddings":
            at = run_page("embeddings")
        elif tab is not None:
            at.session_state["compare_tab"] = tab  # a lazy tab
            at.run()
        [line] = [m.value for m in at.markdown if m.value.startswith("This graph's pooling:")]
        assert line.count("-badge[") == len(expected) == 2
        for number, level in enumerate(expected, start=1):
            assert f"level {number} :" in line and f"-badge[{level['verdict']}]" in line
