"""Damaged checkpoints in the models folder are listed apart with their reason; no page crashes on them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "viz_app" / "pages"
SHIPPED = ROOT / "pretrained" / "synthetic-hierarchy-diffpool"


@pytest.fixture
def damaged_models(tmp_path, monkeypatch) -> Path:
    """A user models folder: a structure-only model with truncated weights, one with a broken card, one without."""
    truncated = tmp_path / "truncated-structural"
    shutil.copyfile(SHIPPED.with_suffix(".json"), truncated.with_suffix(".json"))
    weights = SHIPPED.with_suffix(".safetensors").read_bytes()
    truncated.with_suffix(".safetensors").write_bytes(weights[: len(weights) // 2])
    broken = tmp_path / "broken-card"
    shutil.copyfile(SHIPPED.with_suffix(".safetensors"), broken.with_suffix(".safetensors"))
    broken.with_suffix(".json").write_text('{"config": [1, 2', encoding="utf-8")
    shutil.copyfile(SHIPPED.with_suffix(".safetensors"), tmp_path / "orphan.safetensors")
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    return tmp_path


@pytest.mark.parametrize("page", ["explore", "upload", "teaching", "compare", "model_card"])
def test_pages_list_damaged_models_apart_and_do_not_crash(damaged_models, page):
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    offered = [str(option) for box in at.selectbox for option in box.options]
    assert not any("truncated" in o or "broken" in o or "orphan" in o for o in offered), offered
    if page in ("upload", "teaching"):
        return  # no sidebar on these pages; their model lists come from the same scan
    labels = [e.label for e in at.sidebar.expander]
    assert any("3 unreadable models" in label for label in labels), labels
    text = " ".join(m.value for m in at.sidebar.markdown)
    for name in ("truncated-structural.json", "broken-card.json", "orphan.safetensors"):
        assert name in text, text


def test_the_shipped_models_folder_has_no_unreadable_model():
    from core.checkpoint import scan_models

    good, bad = scan_models(ROOT / "pretrained")
    assert bad == [] and len(good) >= 10


def test_weights_that_do_not_fit_their_card_are_refused_in_words(tmp_path, monkeypatch):
    """A sound safetensors header whose tensors do not fit the card's config (a hand-edited card):
    the sidebar says the model cannot load, the page stops without a traceback."""
    import json

    misfit = tmp_path / "misfit"
    shutil.copyfile(SHIPPED.with_suffix(".safetensors"), misfit.with_suffix(".safetensors"))
    card = json.loads(SHIPPED.with_suffix(".json").read_text(encoding="utf-8"))
    card["config"]["hidden_dim"] = int(card["config"]["hidden_dim"]) + 7
    misfit.with_suffix(".json").write_text(json.dumps(card), encoding="utf-8")
    monkeypatch.setenv("DIFFPOOL_MODELS", str(tmp_path))
    monkeypatch.delenv("DIFFPOOL_DATA", raising=False)
    at = AppTest.from_file(str(PAGES / "explore.py"), default_timeout=180)
    at.session_state["model"] = str(misfit)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.sidebar.error) + " ".join(e.value for e in at.error)
    assert "cannot load misfit" in errors and "do not match" in errors, errors


def test_card_compatibility_reads_the_current_card_and_names_a_broken_one(tmp_path):
    """``card_compatibility`` reads the card through the cached ``_card`` keyed by the card file's
    version: a card damaged after it was first read is reported as unreadable, not served from the cache."""
    import os

    from viz_app import cache

    stem = tmp_path / "model"
    shutil.copyfile(SHIPPED.with_suffix(".safetensors"), stem.with_suffix(".safetensors"))
    shutil.copyfile(SHIPPED.with_suffix(".json"), stem.with_suffix(".json"))
    warning, problem = cache.card_compatibility(str(stem), "synthetic-hierarchy", None)
    assert problem is None and warning is None
    card = stem.with_suffix(".json")
    card.write_text('{"config": [1, 2', encoding="utf-8")
    later = card.stat().st_mtime + 5
    os.utime(card, (later, later))
    warning, problem = cache.card_compatibility(str(stem), "synthetic-hierarchy", None)
    assert warning is None and problem.startswith("cannot read its card:"), problem
