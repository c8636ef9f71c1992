"""viz_app.model_store: unique names, publishing without overwriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from viz_app import model_store


def _pair(stem: Path, content: str) -> Path:
    stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix in model_store.CHECKPOINT_SUFFIXES:
        Path(str(stem) + suffix).write_text(f"{content}{suffix}")
    return stem


def test_typed_names_count_up_past_every_folder(tmp_path):
    mine, shipped = tmp_path / "mine", tmp_path / "shipped"
    _pair(shipped / "ENZYMES-diffpool", "shipped")
    _pair(mine / "ENZYMES-diffpool-2", "other")
    assert model_store.unique_stem("ENZYMES diffpool", [mine, shipped], stamped=False) == "ENZYMES-diffpool-3"


def test_publish_never_overwrites_and_moves_both_files(tmp_path):
    folder, shipped = tmp_path / "models", tmp_path / "pretrained"
    _pair(shipped / "synthetic-hierarchy-diffpool", "shipped")
    stems = [model_store.publish_checkpoint(_pair(tmp_path / f"run{i}" / "x", f"run{i}"), folder,
                                            "synthetic-hierarchy-diffpool", [shipped], stamped=False)
             for i in range(3)]
    assert [s.name for s in stems] == ["synthetic-hierarchy-diffpool-2", "synthetic-hierarchy-diffpool-3",
                                       "synthetic-hierarchy-diffpool-4"]
    for i, stem in enumerate(stems):
        assert Path(str(stem) + ".json").read_text() == f"run{i}.json"
        assert not (tmp_path / f"run{i}" / "x.json").exists()
    assert (shipped / "synthetic-hierarchy-diffpool.json").read_text() == "shipped.json"


def test_generated_names_are_stamped_and_distinct(tmp_path):
    names = {model_store.unique_stem("DD-random", [tmp_path]) for _ in range(20)}
    assert len(names) == 20 and all(n.startswith("DD-random-") for n in names)


def test_a_name_without_letters_is_refused():
    with pytest.raises(model_store.ModelNameError, match="no letters or digits"):
        model_store.model_slug(" / ")
