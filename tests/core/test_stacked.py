"""Tests for core/train/stacked.py: a stack of models trains as each model would alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.batching import collate, prepare_graphs
from core.data.features import FeatureSpec
from core.model.diffpool import DiffPool, DiffPoolConfig
from core.train.crossval import cross_validate
from core.train.loop import epoch_batches
from core.train.settings import TrainSettings
from core.train.stacked import (
    StackedAdam,
    StackedDiffPool,
    StackError,
    StackMember,
    aligned_plans,
    collate_stack,
    cross_validate_stacked,
    stack_accuracy,
    train_stack,
)
from tests.graphs import random_graph

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FEATURES = 4
SPEC = FeatureSpec("attributes", attribute_dim=FEATURES)
# float64: the stack and the models alone agree to rounding (~1e-11 measured). In float32 they
# agree to ~1e-6 per step in the gradients, but Adam divides by the gradient's running RMS, so a
# parameter whose gradient is ~0 (rounding noise) moves by up to lr per step either way: float32
# parameters can differ by O(lr) after a few steps whatever the implementation.
TOL64 = 1e-9


@pytest.fixture(scope="module")
def graphs():
    rng = np.random.default_rng(0)
    return [random_graph(int(rng.integers(4, 21)), seed, p=0.3, label=seed % 3) for seed in range(60)]


def config(variant="diffpool", **overrides) -> DiffPoolConfig:
    values = dict(input_dim=FEATURES, num_classes=3, variant=variant, hidden_dim=8, embedding_dim=8,
                  assign_hidden_dim=8, max_nodes=20, assign_ratio=0.25)
    values.update(overrides)
    return DiffPoolConfig(**values)


def train_alone_and_stacked(graphs, configs, lrs, plans, dtype, adjacency, steps):
    """Train each model alone (torch Adam, clip_grad_norm_) and all as one stack on the same batches."""
    variant, clusters = configs[0].variant, configs[0].cluster_counts
    prepared = prepare_graphs(graphs, SPEC, variant, clusters, 0, list(range(len(graphs))))
    models = []
    for i, c in enumerate(configs):
        torch.manual_seed(i)
        models.append(DiffPool(c).to(dtype))
    stack = StackedDiffPool(models, dtype=dtype)
    optimizer = StackedAdam(stack, lrs)
    alone = [torch.optim.Adam(m.parameters(), lr=lr) for m, lr in zip(models, lrs)]
    for step in range(steps):
        batches = [[prepared[j] for j in plan[step]] if step < len(plan) else [] for plan in plans]
        for model, opt, batch_graphs in zip(models, alone, batches):
            if not batch_graphs:
                continue
            model.train()
            batch = collate(batch_graphs)
            fixed = [f.to(dtype) for f in batch.fixed] if batch.fixed else None
            opt.zero_grad()
            loss = model.loss(model(batch.x.to(dtype), batch.adj.to(dtype), batch.mask, fixed), batch.labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            opt.step()
        stack.train()
        optimizer.zero_grad()
        loss, _ = stack.losses(collate_stack(batches, dtype=dtype, adjacency=adjacency))
        loss.sum().backward()
        optimizer.clip(2.0)
        optimizer.step([len(b) > 0 for b in batches])
    return models, stack


@pytest.mark.parametrize("variant,levels,adjacency,structure", [
    ("diffpool", 1, "sparse", 0.0), ("diffpool", 2, "dense", 0.0), ("diffpool-nolp", 1, "sparse", 0.0),
    ("diffpool-det", 1, "sparse", 0.0), ("graphsage", 0, "dense", 0.0),
    # DMoN's structure objective (--structure-weight) is trained by the stack too, not dropped
    ("diffpool", 2, "sparse", 1.0), ("diffpool", 1, "dense", 0.5),
])
def test_stack_of_three_matches_three_models_trained_alone(graphs, variant, levels, adjacency, structure):
    # Three models that differ in learning rate, loss weights and readout; the third sits out
    # the last steps (its epoch has fewer batches), which must leave its parameters and Adam
    # state untouched.
    configs = [config(variant, num_pooling=levels, link_loss_weight=w, entropy_loss_weight=e, readout=r,
                      structure_loss_weight=structure)
               for w, e, r in [(1.0, 1.0, "max"), (0.5, 2.0, "sum"), (2.0, 0.1, "mean")]]
    lrs = [1e-3, 3e-3, 1e-2]
    sizes = [g.num_nodes for g in graphs]
    plans = [epoch_batches(sizes, 8, 10 + i, "bucket") for i in range(3)]
    plans[2] = plans[2][:3]
    models, stack = train_alone_and_stacked(graphs, configs, lrs, plans, torch.float64, adjacency, steps=6)
    for position, model in enumerate(models):
        stacked = stack.state_dict_of(position)
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                assert torch.allclose(stacked[name], value, rtol=0, atol=TOL64), (position, name)
            else:
                assert torch.equal(stacked[name], value), (position, name)
    # The training moved the parameters (the comparison is not between untouched copies).
    torch.manual_seed(0)
    fresh = DiffPool(configs[0]).to(torch.float64).state_dict()
    assert max(float((models[0].state_dict()[k] - v).abs().max()) for k, v in fresh.items()
               if v.is_floating_point()) > 1e-3


def test_eval_mode_logits_match_each_model_and_padding_graphs_change_nothing(graphs):
    configs = [config(readout=r) for r in ("max", "sum")]
    models = []
    for seed, c in enumerate(configs):
        torch.manual_seed(seed)
        models.append(DiffPool(c).eval())
    prepared = prepare_graphs(graphs, SPEC)
    stack = StackedDiffPool(models).eval()
    batches = [prepared[:7], prepared[10:13]]  # model 1's batch is padded with 4 empty graphs
    logits, _, _ = stack.forward(collate_stack(batches))
    for m, (model, batch_graphs) in enumerate(zip(models, batches)):
        batch = collate(batch_graphs)
        alone = model(batch.x, batch.adj, batch.mask).logits
        assert torch.allclose(logits[m, : len(batch_graphs)], alone, atol=1e-5, rtol=1e-5)
    accuracy = stack_accuracy(stack, [prepared[:30], prepared[30:40]])
    for model, graph_set, value in zip(models, [prepared[:30], prepared[30:40]], accuracy):
        batch = collate(graph_set)
        expected = float((model(batch.x, batch.adj, batch.mask).logits.argmax(-1) == batch.labels).float().mean())
        assert value == pytest.approx(expected)


def test_models_of_other_shapes_or_padding_dependent_losses_are_refused():
    with pytest.raises(StackError, match="hidden_dim"):
        StackedDiffPool([DiffPool(config()), DiffPool(config(hidden_dim=16))])
    with pytest.raises(StackError, match="aux_normalization"):
        StackedDiffPool([DiffPool(config(aux_normalization="pyg"))] * 2)
    with pytest.raises(StackError, match="input_norm"):
        StackedDiffPool([DiffPool(config(input_norm=True))] * 2)


def test_early_stopping_and_callbacks_remove_members_and_keep_their_best_epoch(graphs):
    prepared = prepare_graphs(graphs, SPEC)
    members = [StackMember(train=prepared[:40], val=prepared[40:50], test=prepared[50:], config=config(),
                           init_seed=seed, batch_seed=seed) for seed in range(3)]
    sizes_seen = []

    def stop_member_one_after_two(member, epoch, row):
        sizes_seen.append((epoch, member))
        return not (member == 1 and epoch == 2)

    results = train_stack(members, epochs=5, batch_size=8, patience=2, on_epoch=stop_member_one_after_two)
    assert results[1].stopped == "callback" and len(results[1].history) == 2
    assert not any(member == 1 for epoch, member in sizes_seen if epoch > 2)  # it left the stack
    for result in results:
        history = result.history
        best = max(range(len(history)), key=lambda i: (history[i]["val_acc"], -i))
        assert result.best_epoch == history[best]["epoch"]
        assert result.test_acc == history[best]["test_acc"]
        if result.stopped == "early-stopping":
            assert len(history) - result.best_epoch >= 2
        # The returned model is the best-validation one: its validation accuracy is the recorded one.
        batch = collate(prepared[40:50])
        logits = result.model(batch.x, batch.adj, batch.mask).logits
        assert float((logits.argmax(-1) == batch.labels).float().mean()) == pytest.approx(result.val_acc)


def test_aligned_plans_keep_every_batch_once_and_pair_similar_sizes():
    rng = np.random.default_rng(3)
    sizes = [rng.integers(5, 100, size=200).tolist() for _ in range(4)]
    plans = [epoch_batches(s, 20, seed, "bucket") for seed, s in enumerate(sizes)]
    aligned = aligned_plans(plans, sizes, seed=7)
    for plan, new in zip(plans, aligned):
        assert sorted(map(sorted, plan)) == sorted(map(sorted, new))

    def mean_spread(schedule):
        width = [[max(s[i] for i in b) for b in plan] for plan, s in zip(schedule, sizes)]
        steps = min(len(w) for w in width)
        return np.mean([max(w[k] for w in width) - min(w[k] for w in width) for k in range(steps)])

    assert mean_spread(aligned) < 0.5 * mean_spread(plans)


def test_stacked_cross_validation_matches_the_unstacked_run_fold_by_fold(tu_dir, tmp_path):
    from core.data.datasets import load_dataset

    dataset = load_dataset("ENZYMES", data_dir=tu_dir, download=False)
    settings = TrainSettings(dataset="ENZYMES", folds=3, epochs=2, subset=90, device="cpu",
                             out_dir=str(tmp_path / "stacked"))
    stacked = cross_validate_stacked(dataset, settings, progress=False)
    alone = cross_validate(dataset, TrainSettings(**{**settings.__dict__, "out_dir": None}), progress=False)
    for a, b in zip(alone["folds"], stacked["folds"]):
        assert a["test_indices"] == b["test_indices"] and a["best_epoch"] == b["best_epoch"]
        for row_a, row_b in zip(a["history"], b["history"]):
            assert row_b["train_loss"] == pytest.approx(row_a["train_loss"], rel=1e-4)
            assert (row_b["val_acc"], row_b["test_acc"]) == (row_a["val_acc"], row_a["test_acc"])
    # The fold files carry the unstacked run's cache key: a plain rerun resumes from them.
    again = cross_validate(dataset, settings, progress=False)
    assert all(f["cached"] for f in again["folds"])
    assert (tmp_path / "stacked" / "summary.json").is_file()


def test_cli_aligned_stack_writes_fold_files_a_plain_run_does_not_mistake_for_its_own(tu_dir, tmp_path, capsys):
    import json

    from core.train.cli import main

    args = ["--dataset", "ENZYMES", "--data-dir", str(tu_dir), "--folds", "2", "--epochs", "1", "--subset", "40",
            "--out", str(tmp_path), "--quiet"]
    assert main(args + ["--stack-folds", "aligned"]) == 0
    entry = json.loads((tmp_path / "folds" / "fold-0.json").read_text())
    assert entry["fingerprint"].endswith("-aligned") and entry["stack"] == {"models": 2, "aligned_batches": True}
    assert main(args) == 0  # the plain run retrains both folds ...
    entry = json.loads((tmp_path / "folds" / "fold-0.json").read_text())
    assert "stack" not in entry and not entry["fingerprint"].endswith("-aligned")
    assert main(args + ["--stack-folds"]) == 0  # ... and an exact stacked run reuses the plain run's folds
    assert "cached" in capsys.readouterr().out
