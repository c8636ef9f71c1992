"""Resumable folds: a run killed mid-fold continues from its last saved state and ends exactly as
an uninterrupted run; finished folds resume from their JSON alone; results never hold weights."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

import core.train.crossval as train_module
from core.model.checkpoint import checkpoint_paths
from core.data.synthetic import make_synthetic_hierarchy
from core.train.settings import TrainingError, TrainSettings
from core.train.crossval import checkpoint_stem, cross_validate, train_single, writes_weights
from core.train.resume import fit_state_stem

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Killed(Exception):
    """Stands in for kill -9 / Ctrl-C in the middle of a fold."""


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_hierarchy(num_graphs=48, seed=0)


def _settings(tmp_path, name, **overrides):
    base = dict(dataset="synthetic-hierarchy", folds=3, epochs=7, batch_size=16, device="cpu", dropout=0.3,
                hidden_dim=8, embedding_dim=8, save_every=2, patience=None,
                out_dir=str(tmp_path / name), resume_dir=str(tmp_path / "resume"))
    return TrainSettings(**{**base, **overrides})


def _comparable(summary):
    """Fold results without wall-clock times."""
    folds = []
    for fold in summary["folds"]:
        history = [{k: v for k, v in row.items() if k != "seconds"} for row in fold["history"]]
        folds.append({k: v for k, v in fold.items() if k not in ("seconds", "cached", "history")} | {"history": history})
    return folds


@pytest.mark.parametrize("snapshot_every", [0, 3])
def test_killed_fold_resumes_from_its_state_and_matches_an_uninterrupted_run(synthetic, tmp_path, snapshot_every,
                                                                            capsys):
    reference = cross_validate(synthetic, _settings(tmp_path, "reference", snapshot_every=snapshot_every),
                               progress=False)

    settings = _settings(tmp_path, "killed", snapshot_every=snapshot_every)
    kill_fold, kill_epoch = 1, random.Random(snapshot_every).randint(3, 6)

    def kill(fold, epoch, metrics):
        if (fold, epoch) == (kill_fold, kill_epoch):
            raise Killed

    with pytest.raises(Killed):
        cross_validate(synthetic, settings, progress=False, on_epoch=kill)
    state = fit_state_stem(settings, kill_fold)
    assert state.with_name(state.name + ".state.safetensors").is_file()
    last_saved = (kill_epoch // settings.save_every) * settings.save_every

    seen = []
    capsys.readouterr()
    resumed = cross_validate(synthetic, settings, progress=False, on_epoch=lambda f, e, m: seen.append((f, e)))
    assert seen[0] == (kill_fold, last_saved + 1)  # fold 0 from its JSON, fold 1 from its last save
    told = [line for line in capsys.readouterr().err.splitlines() if "saved state" in line]
    assert len(told) == 1, told
    said = re.fullmatch(rf"fold {kill_fold}: continues after epoch {last_saved} from its saved state "
                        r"\(best validation so far at epoch (\d+)\)", told[0])
    assert said and 1 <= int(said.group(1)) <= last_saved, told
    assert _comparable(resumed) == _comparable(reference)
    assert resumed["honest"] == reference["honest"]
    assert not (tmp_path / "resume").exists() or not any((tmp_path / "resume").rglob("*.state.*"))
    if snapshot_every:
        from core.model.checkpoint import read_card

        stem_a = checkpoint_stem(tmp_path / "reference", synthetic, settings)
        stem_b = checkpoint_stem(tmp_path / "killed", synthetic, settings)
        assert read_card(stem_a)["snapshots"] == read_card(stem_b)["snapshots"]


def test_state_of_other_settings_is_not_resumed(synthetic, tmp_path):
    settings = _settings(tmp_path, "run", folds=2)

    def kill(fold, epoch, metrics):
        if epoch == 5:
            raise Killed

    with pytest.raises(Killed):
        cross_validate(synthetic, settings, progress=False, on_epoch=kill)
    changed = dataclasses.replace(settings, lr=2e-3)
    seen = []
    cross_validate(synthetic, changed, progress=False, on_epoch=lambda f, e, m: seen.append((f, e)))
    assert seen[0] == (0, 1)


def test_finished_folds_resume_from_json_without_weights(synthetic, tmp_path):
    settings = _settings(tmp_path, "run", epochs=2)
    first = cross_validate(synthetic, settings, progress=False)
    for path in checkpoint_paths(checkpoint_stem(tmp_path / "run", synthetic, settings)):
        path.unlink()
    seen = []
    again = cross_validate(synthetic, settings, progress=False, on_epoch=lambda f, e, m: seen.append((f, e)))
    assert seen == [] and all(f["cached"] for f in again["folds"])
    assert _comparable(again) == _comparable(first)


def test_no_weights_are_written_under_bench_results_or_with_no_checkpoint(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "RESULTS_DIR", tmp_path / "bench" / "results")
    inside = _settings(tmp_path, "bench/results/cell", epochs=1, folds=2)
    assert not writes_weights(inside)
    cross_validate(synthetic, inside, progress=False)
    assert list((tmp_path / "bench").rglob("*.safetensors")) == []
    assert (tmp_path / "bench" / "results" / "cell" / "folds" / "fold-0.json").is_file()
    assert not writes_weights(_settings(tmp_path, "elsewhere", write_checkpoint=False))
    assert writes_weights(_settings(tmp_path, "elsewhere"))
    with pytest.raises(TrainingError, match="holds benchmark JSON and tables only"):
        train_single(synthetic, inside, tmp_path / "bench" / "results" / "models")
    assert not (tmp_path / "bench" / "results" / "models").exists()
