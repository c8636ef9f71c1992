"""Training loop, cross-validation protocols, snapshots and the command line (core/train/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.model.checkpoint import load_checkpoint, load_extra_tensors
from core.model.inference import predict_logits, trace_graphs
from core.model.diffpool import DiffPool
from core.data.synthetic import make_synthetic_hierarchy
from core.train.settings import TrainSettings, cluster_counts_for, feature_spec_for, model_config_for
from core.train.protocols import aggregate_protocols, select_epoch
from core.train.crossval import cross_validate
from core.train.loop import fit
from core.train.cli import main
from core.train.splits import stratified_folds, stratified_holdout, stratified_subset

REPO_ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_hierarchy(num_graphs=150, seed=0)


def _split(dataset, seed=0):
    labels = dataset.labels
    train_pos, test_pos = stratified_folds(labels, 5, seed)[0]
    kept, held = stratified_holdout(labels[train_pos], 0.1, seed)
    return [int(i) for i in train_pos[kept]], [int(i) for i in train_pos[held]], [int(i) for i in test_pos]


def _fit(dataset, settings, on_epoch=None, model=None, graphs_limit=None):
    train, val, test = _split(dataset)
    if graphs_limit:
        train, val, test = train[:graphs_limit], val[:4], test[:graphs_limit]
    spec = feature_spec_for(dataset, settings.features)
    config = model_config_for(dataset, spec, settings)
    result = fit([dataset[i] for i in train], [dataset[i] for i in val], spec, config, settings, on_epoch=on_epoch,
                 test_graphs=[dataset[i] for i in test], train_indices=train, val_indices=val, test_indices=test,
                 model=model)
    return result, spec, config, (train, val, test)


def _run_cli(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "core.train", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


# ---------------------------------------------------------------------------- command line
@pytest.mark.slow
def test_cli_smoke_run_writes_summary_checkpoint_and_resumes_from_cached_folds(tu_dir, tmp_path):
    out = tmp_path / "run"
    args = ["--dataset", "ENZYMES", "--data-dir", str(tu_dir), "--folds", "2", "--epochs", "2", "--subset", "60",
            "--out", str(out), "--threads", "1"]
    first = _run_cli(args, REPO_ROOT)
    assert first.returncode == 0, first.stderr
    assert "honest accuracy:" in first.stdout and "paper protocol:" in first.stdout
    assert "no model selection" in first.stdout and "time:" in first.stdout
    assert "%" in first.stderr  # tqdm progress goes to stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["folds_completed"] == 2 and summary["honest"] is not None and summary["paper"] is not None
    assert summary["command"].startswith("python -m core.train --dataset ENZYMES")
    assert {"python", "torch", "platform"} <= summary["machine"].keys()
    for fold in summary["folds"]:
        assert set(fold["val_indices"]).isdisjoint(fold["test_indices"])
    assert set(summary["folds"][0]["test_indices"]).isdisjoint(summary["folds"][1]["test_indices"])

    model, spec, card = load_checkpoint(out / "ENZYMES-diffpool")
    assert card["fold"] == 0 and card["dataset"] == "ENZYMES" and len(card["class_names"]) == 6
    # The card's test accuracy is reproducible from its test indices.
    from core.data.datasets import load_dataset

    dataset = load_dataset("ENZYMES", data_dir=tu_dir, download=False)
    test = card["test_indices"]
    logits = predict_logits(model, [dataset[i] for i in test], spec, indices=test, seed=card["seed"])
    accuracy = float(np.mean(logits.argmax(axis=1) == dataset.labels[test]))
    assert accuracy == pytest.approx(card["accuracy"]["test"])
    # the cross-validation beside the majority class of each test fold, in the report and the card
    shares = [np.bincount(dataset.labels[f["test_indices"]]).max() / len(f["test_indices"]) for f in summary["folds"]]
    assert card["cross_validation"]["majority"]["per_fold"] == pytest.approx(shares)
    assert f"majority class:  {100 * np.mean(shares):.1f} %" in first.stdout
    # ... and so is what its pooling is (the diagnosis of the same graphs), which the card states
    from core.diagnose import card_structure

    assert card["structure"]["graphs"] == len(test) and len(card["structure"]["levels"]) == model.config.num_pooling
    assert json.loads(json.dumps(card_structure(model, spec, card, dataset))) == card["structure"]

    fold_files = sorted((out / "folds").glob("fold-*.json"))
    stamps = [f.stat().st_mtime_ns for f in fold_files]
    second = _run_cli(args + ["--quiet"], REPO_ROOT)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("cached") == 2
    assert [f.stat().st_mtime_ns for f in fold_files] == stamps
    assert json.loads((out / "summary.json").read_text())["honest"] == summary["honest"]


def test_cli_rejects_unknown_variant_features_and_dataset(capsys):
    for args, fragment in (
        (["--dataset", "ENZYMES", "--model", "nope"], "invalid choice"),
        (["--dataset", "ENZYMES", "--features", "colour"], "invalid choice"),
        (["--dataset", "NO-SUCH-SET", "--data-dir", "/nonexistent"], "unknown dataset"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2
        assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("flags, fragment", [
    (["--hidden-dim", "0"], "hidden_dim must be at least 1"),
    (["--embedding-dim", "0"], "embedding_dim must be at least 1"),
    (["--lr", "-1"], "lr must be a positive number"),
    (["--lr", "nan"], "lr must be a positive number"),
    (["--weight-decay", "-1"], "weight_decay must be a number >= 0"),
    (["--clip", "-1"], "clip must be a number >= 0 (0: off)"),
    (["--num-pooling", "0"], "the diffpool variant pools: num_pooling must be at least 1"),
    (["--assign-ratio", "0"], "assign_ratio must be in (0, 1]"),
    (["--assign-ratio", "2"], "assign_ratio must be in (0, 1]"),
    (["--max-clusters", "0"], "max_clusters must be at least 1"),
    (["--patience", "-3"], "patience must be at least 0"),
    (["--subset", "0"], "subset must be at least 1"),
    (["--fold-limit", "0"], "fold_limit must be at least 1"),
    (["--snapshot-every", "-1"], "snapshot_every must be at least 0"),
    (["--seed", "-5"], "seed must be in 0"),
    (["--threads", "-2"], "--threads must be at least 0"),
    (["--watch-graphs", "0,1"], "set --snapshot-every K too"),
])
def test_cli_refuses_numbers_out_of_range_before_training(flags, fragment, capsys):
    # each used to train anyway (a meaningless run) or end in a torch/numpy traceback
    with pytest.raises(SystemExit) as exit_info:
        main(["--dataset", "synthetic-hierarchy", "--epochs", "1", "--no-checkpoint", *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and fragment in err and "Traceback" not in err


def test_settings_for_models_without_pooling_accept_no_pooling_levels():
    assert TrainSettings(variant="graphsage", num_pooling=0).num_pooling == 0
    assert TrainSettings(patience=0).patience == 0  # 0: no early stopping


def test_cli_missing_dataset_exits_2_with_the_datasets_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    code = main(["--dataset", "MUTAG", "--data-dir", str(tmp_path), "--no-download", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not found" in err and "MUTAG" in err and "Traceback" not in err
    assert "run without --no-download to fetch it" in err and "download=True" not in err  # the CLI's own flag


# ---------------------------------------------------------------------------- splits and protocols
def test_folds_and_validation_holdout_are_stratified():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    folds = stratified_folds(labels, 5, seed=0)
    tests = [test for _, test in folds]
    assert sorted(np.concatenate(tests).tolist()) == list(range(100))
    for train, test in folds:
        assert np.bincount(labels[test], minlength=3).tolist() == [10, 6, 4]
        assert set(train).isdisjoint(test)
        kept, held = stratified_holdout(labels[train], 0.1, seed=0)
        assert np.bincount(labels[train][held], minlength=3).tolist() == [4, 2, 2]
        assert len(kept) + len(held) == len(train) and set(kept).isdisjoint(held)
    subset = stratified_subset(labels, 10)
    assert np.bincount(labels[subset], minlength=3).tolist() == [5, 3, 2]


def test_protocols_from_a_known_history():
    def history(vals, tests):
        return [{"epoch": e + 1, "val_acc": v, "test_acc": t} for e, (v, t) in enumerate(zip(vals, tests))]

    histories = [
        history([0.5, 0.7, 0.7, 0.6], [0.4, 0.6, 0.9, 0.8]),  # best val at epoch 2 (tie with 3 -> earlier)
        history([0.8, 0.6, 0.7, 0.9], [0.5, 0.7, 0.7, 0.6]),  # best val at epoch 4
    ]
    assert select_epoch(histories[0]) == 1
    result = aggregate_protocols(histories)
    assert result["honest"]["per_fold"] == [0.6, 0.6]
    assert result["honest"]["epochs"] == [2, 4]
    assert result["honest"]["mean"] == pytest.approx(0.6) and result["honest"]["std"] == pytest.approx(0.0)
    assert result["paper"]["curve"] == pytest.approx([0.45, 0.65, 0.8, 0.7])
    assert result["paper"]["accuracy"] == pytest.approx(0.8) and result["paper"]["epoch"] == 3
    # Early stopping shortens one fold: the paper curve covers the epochs every fold reached.
    short = aggregate_protocols([histories[0][:2], histories[1]])
    assert short["paper"]["epochs_compared"] == 2 and short["paper"]["accuracy"] == pytest.approx(0.65)


def test_max_clusters_caps_the_first_level():
    settings = TrainSettings(num_pooling=2, assign_ratio=0.1, max_clusters=50)
    assert cluster_counts_for(5748, settings) == [50, 5]
    assert cluster_counts_for(5748, TrainSettings(num_pooling=1)) == [574]


# ---------------------------------------------------------------------------- training
@pytest.mark.slow
def test_training_on_the_synthetic_hierarchy_beats_chance(synthetic):
    # lr 1e-2, 15 epochs, 120 training graphs: over seeds 0-4 the mean test accuracy of the last
    # 5 epochs was 0.72-0.77 (chance 0.33); the best-validation epoch's is noisier (12
    # validation graphs), 0.67-0.80. About 1.5 s.
    settings = TrainSettings(dataset=synthetic.name, epochs=15, lr=1e-2, device="cpu")
    result, *_ = _fit(synthetic, settings)
    curve = [(row["val_acc"], row["test_acc"]) for row in result.history]
    assert len(result.history) == 15
    assert np.mean([row["test_acc"] for row in result.history[-5:]]) > 0.6, curve
    assert result.test_acc > 0.5, curve
    assert result.history[-1]["train_acc"] > 0.8


def test_on_epoch_returning_false_stops_training(synthetic):
    seen = []

    def stop_after_two(epoch, metrics):
        seen.append((epoch, set(metrics)))
        return epoch < 2

    settings = TrainSettings(dataset=synthetic.name, epochs=10, device="cpu")
    result, *_ = _fit(synthetic, settings, on_epoch=stop_after_two, graphs_limit=12)
    assert [epoch for epoch, _ in seen] == [1, 2]
    assert {"train_loss", "train_acc", "val_acc", "test_acc"} <= seen[0][1]
    assert len(result.history) == 2 and result.stopped == "callback"


def test_snapshot_at_an_epoch_equals_the_model_saved_at_that_epoch(synthetic, tmp_path):
    from core.model.checkpoint import save_checkpoint

    train, _, _ = _split(synthetic)
    settings = TrainSettings(dataset=synthetic.name, epochs=4, snapshot_every=2, watch_graphs=train[:2], device="cpu")
    spec = feature_spec_for(synthetic)
    model = DiffPool(model_config_for(synthetic, spec, settings))

    def save_at_two(epoch, metrics):
        if epoch == 2:
            save_checkpoint(tmp_path / "epoch2", model, spec, {"seed": settings.seed})

    result, spec, _, _ = _fit(synthetic, settings, on_epoch=save_at_two, model=model, graphs_limit=20)
    assert result.snapshot_meta["epochs"] == [0, 2, 4]
    assert result.snapshot_meta["graphs"] == train[:2]
    assert np.asarray(result.snapshot_meta["losses"]["link"]).shape == (3, 2, 1)

    reloaded, reloaded_spec, card = load_checkpoint(tmp_path / "epoch2")
    traces = trace_graphs(reloaded, [synthetic[i] for i in train[:2]], reloaded_spec, indices=train[:2],
                          seed=card["seed"])
    for graph, trace in zip(train[:2], traces):
        snapshot = result.snapshots[f"snapshot/e0002/g{graph}/l0"]
        assert snapshot.dtype == torch.float32 and snapshot.shape == trace.levels[0].assignment.shape
        np.testing.assert_allclose(snapshot.numpy(), trace.levels[0].assignment, atol=1e-6)
    # Different epochs really are different models.
    assert not torch.allclose(result.snapshots[f"snapshot/e0000/g{train[0]}/l0"],
                              result.snapshots[f"snapshot/e0004/g{train[0]}/l0"])


def test_cross_validate_paper_protocol_uses_no_validation_and_keeps_the_last_epoch(synthetic):
    small = synthetic.subset(range(30))
    settings = TrainSettings(dataset=small.name, folds=2, epochs=2, protocol="paper", device="cpu")
    summary = cross_validate(small, settings, progress=False)
    assert summary["honest"] is None and summary["paper"]["description"].startswith("paper protocol")
    assert all(f["sizes"]["val"] == 0 and f["best_epoch"] == 2 for f in summary["folds"])


def test_train_single_writes_a_checkpoint_with_snapshots(synthetic, tmp_path):
    from core.train.crossval import train_single

    small = synthetic.subset(range(40))
    settings = TrainSettings(dataset=small.name, folds=5, epochs=3, snapshot_every=2, device="cpu")
    path, summary = train_single(small, settings, tmp_path)
    assert path.name == "synthetic-hierarchy-diffpool.safetensors"
    _, _, card = load_checkpoint(path)
    assert card["snapshots"]["epochs"] == [0, 2, 3] and len(card["snapshots"]["graphs"]) == 3
    assert card["test_indices"] == summary["test_indices"]
    names = load_extra_tensors(path, prefix="snapshot/")
    assert len(names) == 3 * 3 and f"snapshot/e0003/g{card['snapshots']['graphs'][0]}/l0" in names


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_one_epoch_on_cuda(synthetic):
    settings = TrainSettings(dataset=synthetic.name, epochs=1, snapshot_every=1, device="cuda")
    result, *_ = _fit(synthetic, settings, graphs_limit=20)
    assert next(result.model.parameters()).device.type == "cuda"
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])
    assert all(t.device.type == "cpu" for t in result.snapshots.values())


def test_runs_into_bench_results_never_write_weights(tmp_path):
    from core.train import RESULTS_DIR, writes_weights

    assert RESULTS_DIR == Path(__file__).resolve().parents[2] / "bench" / "results"
    inside = TrainSettings(out_dir=str(RESULTS_DIR / "reproduce" / "ENZYMES-patchysan"))
    assert not writes_weights(inside)
    assert writes_weights(TrainSettings(out_dir=str(tmp_path / "runs")))
