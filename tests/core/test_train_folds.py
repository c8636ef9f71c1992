"""core.train's ``only_folds``: run just some fold indices, sharing the fold cache with full runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from core.data.synthetic import make_synthetic_hierarchy
from core.train.settings import TrainingError, TrainSettings
from core.train.cli import _settings_from_args, build_parser
from core.train.crossval import cross_validate

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_hierarchy(num_graphs=60, seed=0)


def _settings(tmp_path, **overrides):
    base = dict(dataset="synthetic-hierarchy", folds=3, epochs=1, batch_size=20, device="cpu",
                out_dir=str(tmp_path / "run"))
    return TrainSettings(**{**base, **overrides})


def test_only_folds_runs_those_folds_and_a_full_run_reuses_them(synthetic, tmp_path):
    partial = _settings(tmp_path, only_folds=[2, 1])
    summary = cross_validate(synthetic, partial, progress=False)
    assert [f["fold"] for f in summary["folds"]] == [1, 2]
    folds_dir = tmp_path / "run" / "folds"
    assert sorted(p.name for p in folds_dir.glob("*.json")) == ["fold-1.json", "fold-2.json"]
    assert not (tmp_path / "run" / "summary.json").exists()  # several workers may share out_dir

    full = dataclasses.replace(partial, only_folds=None)
    assert full.fingerprint() == partial.fingerprint()
    summary = cross_validate(synthetic, full, progress=False)
    assert [f["cached"] for f in summary["folds"]] == [False, True, True]
    assert summary["folds_completed"] == 3 and (tmp_path / "run" / "summary.json").is_file()


def test_only_folds_must_be_valid_indices_and_excludes_fold_limit():
    with pytest.raises(TrainingError, match="0..2"):
        TrainSettings(folds=3, only_folds=[3])
    with pytest.raises(TrainingError, match="not both"):
        TrainSettings(folds=3, only_folds=[0], fold_limit=1)


def test_cli_only_folds_parses_a_comma_separated_list():
    parser = build_parser()
    args = parser.parse_args(["--dataset", "ENZYMES", "--folds", "5", "--only-folds", "4,1"])
    assert _settings_from_args(parser, args).only_folds == [1, 4]
    with pytest.raises(SystemExit):
        _settings_from_args(parser, parser.parse_args(["--dataset", "ENZYMES", "--only-folds", "a"]))


def test_a_sparse_run_gives_the_dense_runs_fold_and_shares_its_cache(synthetic, tmp_path):
    dense = _settings(tmp_path, adjacency="dense", only_folds=[0])
    sparse = dataclasses.replace(dense, adjacency="sparse", out_dir=str(tmp_path / "sparse"))
    assert dense.fingerprint() == sparse.fingerprint()  # same maths: a cached fold serves both
    first = cross_validate(synthetic, dense, progress=False)["folds"][0]
    second = cross_validate(synthetic, sparse, progress=False)["folds"][0]
    assert not second["cached"]
    assert second["history"][0]["train_loss"] == pytest.approx(first["history"][0]["train_loss"], rel=1e-4)
    assert second["val_acc"] == first["val_acc"] and second["test_acc"] == first["test_acc"]


def test_unknown_adjacency_format_is_refused():
    with pytest.raises(TrainingError, match="unknown adjacency 'csr'"):
        TrainSettings(adjacency="csr")
    parser = build_parser()
    assert _settings_from_args(parser, parser.parse_args(["--dataset", "ENZYMES", "--adjacency", "sparse"])).adjacency == "sparse"


def test_input_norm_reaches_the_model_changes_the_cache_key_and_is_refused_where_meaningless(synthetic, tmp_path):
    from core.train.settings import feature_spec_for, model_config_for

    default = _settings(tmp_path)
    normed = dataclasses.replace(default, input_norm=True)
    assert default.fingerprint() != normed.fingerprint()
    assert model_config_for(synthetic, feature_spec_for(synthetic), normed).input_norm is True
    assert model_config_for(synthetic, feature_spec_for(synthetic), default).input_norm is False
    with pytest.raises(TrainingError, match="input_norm is an option of the DiffPool"):
        TrainSettings(variant="baseline", input_norm=True)
    from core.train.stacked import cross_validate_stacked
    with pytest.raises(TrainingError, match="do not implement --input-norm"):
        cross_validate_stacked(synthetic, dataclasses.replace(normed, only_folds=[0, 1]))
    parser = build_parser()
    assert _settings_from_args(parser, parser.parse_args(["--dataset", "ENZYMES", "--input-norm"])).input_norm
    assert not _settings_from_args(parser, parser.parse_args(["--dataset", "ENZYMES"])).input_norm


def test_positional_assign_only_reaches_the_model_changes_the_cache_key_and_is_refused_where_meaningless(
        synthetic, tmp_path):
    from core.train.settings import feature_spec_for, model_config_for
    from core.train.stacked import cross_validate_stacked

    positional = _settings(tmp_path, positional=4)
    routed = dataclasses.replace(positional, positional_assign_only=True)
    assert positional.fingerprint() != routed.fingerprint()
    spec = feature_spec_for(synthetic, routed.features, routed.positional)
    assert model_config_for(synthetic, spec, routed).assign_only_dim == 4
    assert model_config_for(synthetic, spec, positional).assign_only_dim == 0
    with pytest.raises(TrainingError, match="set positional"):
        TrainSettings(positional_assign_only=True)
    with pytest.raises(TrainingError, match="needs a learned assignment"):
        TrainSettings(variant="graphsage", positional=4, positional_assign_only=True)
    with pytest.raises(TrainingError, match="do not implement --positional-assign-only"):
        cross_validate_stacked(synthetic, dataclasses.replace(routed, only_folds=[0, 1]))
    parser = build_parser()
    argv = ["--dataset", "ENZYMES", "--positional", "4", "--positional-assign-only"]
    assert _settings_from_args(parser, parser.parse_args(argv)).positional_assign_only
    assert not _settings_from_args(parser, parser.parse_args(argv[:-1])).positional_assign_only


def test_dropout_reaches_the_model_and_fold_caches_written_before_it_keep_their_key(synthetic, tmp_path):
    from core.train.settings import feature_spec_for, model_config_for

    default = _settings(tmp_path)
    dropped = dataclasses.replace(default, dropout=0.5)
    assert default.fingerprint() != dropped.fingerprint()
    assert model_config_for(synthetic, feature_spec_for(synthetic), dropped).dropout == 0.5
    # The committed result tables were cached before dropout (and readout) existed: rebuilding their
    # settings from the run's card must give the fingerprint stored in each fold file.
    runs = ROOT / "bench" / "results" / "reproduce" / "ENZYMES-diffpool"
    card = json.loads((runs / "ENZYMES-diffpool.json").read_text())
    fold = json.loads((runs / "folds" / "fold-0.json").read_text())
    assert "dropout" not in card["settings"]
    assert TrainSettings(**card["settings"]).fingerprint() == fold["fingerprint"]
    with pytest.raises(TrainingError, match="dropout must be in"):
        TrainSettings(dropout=1.0)
    parser = build_parser()
    assert _settings_from_args(parser, parser.parse_args(["--dataset", "ENZYMES", "--dropout", "0.3"])).dropout == 0.3


def test_readout_reaches_the_model_and_only_a_changed_one_changes_the_cache_key(synthetic, tmp_path):
    from core.train.settings import feature_spec_for, model_config_for

    default = _settings(tmp_path)
    summed = dataclasses.replace(default, readout="sum")
    assert default.fingerprint() != summed.fingerprint()
    # Caches written before the setting existed keep their key: the default is left out of the hash.
    assert default.fingerprint() == dataclasses.replace(default, readout="max").fingerprint()
    spec = feature_spec_for(synthetic)
    assert model_config_for(synthetic, spec, summed).readout == "sum"
    with pytest.raises(TrainingError, match="unknown readout 'median'"):
        TrainSettings(readout="median")
    parser = build_parser()
    assert _settings_from_args(parser, parser.parse_args(["--dataset", "ENZYMES", "--readout", "mean"])).readout == "mean"


def test_the_eigenbasis_keys_fold_caches_only_where_eigenvectors_are_built_and_old_caches_read_as_the_solvers():
    default = TrainSettings(dataset="ENZYMES")
    assert default.eigenbasis == "canonical"
    assert default.fingerprint() == dataclasses.replace(default, eigenbasis="solver").fingerprint()
    positional = dataclasses.replace(default, positional=16)
    assert positional.fingerprint() != dataclasses.replace(positional, eigenbasis="solver").fingerprint()
    spectral = dataclasses.replace(default, features="degree+spectral")
    assert spectral.fingerprint() != dataclasses.replace(spectral, eigenbasis="solver").fingerprint()
    # A grid run trained before the canonical basis: its settings with LAPACK's basis give the stored key,
    # the canonical basis another one (its folds are not reused for canonical features).
    runs = ROOT / "bench" / "results" / "selection_grid" / "runs" / "h64-l2-sum-dmon-in-pa16-k8-lr0.001-p300"
    summary = json.loads((runs / "ENZYMES-diffpool" / "summary.json").read_text())
    fold = json.loads((runs / "ENZYMES-diffpool" / "folds" / "fold-0.json").read_text())
    assert "eigenbasis" not in summary["settings"] and summary["settings"]["positional"] == 16
    old = TrainSettings(**summary["settings"])
    assert dataclasses.replace(old, eigenbasis="solver").fingerprint() == fold["fingerprint"]
    assert old.fingerprint() != fold["fingerprint"]
    with pytest.raises(TrainingError, match="eigenbasis must be one of"):
        TrainSettings(eigenbasis="lapack")
    parser = build_parser()
    argv = ["--dataset", "ENZYMES", "--positional", "4"]
    assert _settings_from_args(parser, parser.parse_args(argv)).eigenbasis == "canonical"
    assert _settings_from_args(parser, parser.parse_args(argv + ["--eigenbasis", "solver"])).eigenbasis == "solver"


def test_the_summary_of_one_fold_gives_no_spread_and_of_some_folds_says_how_many_of_how_many(synthetic, tmp_path):
    from core.train.crossval import format_summary

    one = format_summary(cross_validate(synthetic, _settings(tmp_path, only_folds=[0]), progress=False))
    assert "on one test fold of 3" in one and "not a cross-validated figure" in one and "±" not in one
    two = format_summary(cross_validate(synthetic, _settings(tmp_path, only_folds=[0, 1]), progress=False))
    assert "± " in two and "2 folds of 3)" in two
    summary = cross_validate(synthetic, _settings(tmp_path), progress=False)
    three = format_summary(summary)
    assert "3 folds)" in three
    # beside what always answering each test fold's largest class scores
    labels = np.asarray(synthetic.labels)
    shares = [np.bincount(labels[f["test_indices"]]).max() / len(f["test_indices"]) for f in summary["folds"]]
    assert summary["majority"]["per_fold"] == pytest.approx(shares)
    assert f"majority class:  {100 * np.mean(shares):.1f} %" in three
    below = summary["honest"]["mean"] < np.mean(shares) + 0.05
    assert ("has not learned to classify" in three) == below
    summary["honest"]["mean"] = float(np.mean(shares))  # at the majority class: said so
    assert "warning: the honest accuracy is not 5 points above the majority class" in format_summary(summary)
