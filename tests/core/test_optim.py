"""core.train.optim.FlatAdam: torch's Adam over one flat tensor — the same training, one update per step."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from core.data.batching import collate, prepare_graphs
from core.data.features import FeatureSpec
from core.model.diffpool import DiffPool, DiffPoolConfig
from core.train.optim import FlatAdam
from tests.graphs import random_graph

SPEC = FeatureSpec("attributes", attribute_dim=4)


def _model(dtype=torch.float64) -> DiffPool:
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=4, num_classes=3, hidden_dim=8, embedding_dim=8, assign_hidden_dim=8,
                            num_pooling=2, cluster_counts=[5, 2])
    return DiffPool(config).to(dtype)


def _batches():
    graphs = [random_graph(6 + (seed * 5) % 13, seed, label=seed % 3) for seed in range(24)]
    prepared = prepare_graphs(graphs, SPEC)
    return [collate(prepared[i:i + 6]) for i in range(0, 24, 6)]


def _train(model, optimizer, batches, steps: int, clip: float = 2.0, flat: bool = False) -> None:
    model.train()
    for step in range(steps):
        batch = batches[step % len(batches)]
        optimizer.zero_grad(set_to_none=True)
        output = model(batch.x.to(torch.float64), batch.adj.to(torch.float64), batch.mask)
        model.loss(output, batch.labels).backward()
        if flat:
            optimizer.clip_grad_norm_(clip)
        else:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_flat_adam_trains_exactly_like_torch_adam(one_torch_thread, weight_decay):
    batches = _batches()
    plain, flat = _model(), _model()
    _train(plain, torch.optim.Adam(plain.parameters(), lr=1e-2, weight_decay=weight_decay), batches, 8)
    optimizer = FlatAdam(flat, lr=1e-2, weight_decay=weight_decay)
    _train(flat, optimizer, batches, 8, flat=True)
    for (name, a), (_, b) in zip(plain.named_parameters(), flat.named_parameters()):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-9, msg=name)
    # the parameters are slices of the flat tensor, their gradients slices of its gradient
    assert all(p.data_ptr() >= optimizer.flat.data_ptr() for p in flat.parameters())
    assert all(p.grad.untyped_storage().data_ptr() == optimizer.flat.grad.untyped_storage().data_ptr()
               for p in flat.parameters())


def test_flat_adam_state_has_torch_adams_layout_both_ways(one_torch_thread):
    batches = _batches()
    plain, flat = _model(), _model()
    plain_opt = torch.optim.Adam(plain.parameters(), lr=1e-2)
    flat_opt = FlatAdam(flat, lr=1e-2)
    _train(plain, plain_opt, batches, 3)
    _train(flat, flat_opt, batches, 3, flat=True)
    # deep copies: a state_dict shares the live moment tensors, which the next steps update in place
    mine, theirs = copy.deepcopy(flat_opt.state_dict()), copy.deepcopy(plain_opt.state_dict())
    assert mine["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    assert mine["state"].keys() == theirs["state"].keys()
    for i in theirs["state"]:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(mine["state"][i][key], theirs["state"][i][key], atol=1e-10, rtol=1e-9)
    # a torch.optim.Adam state (an old resume file) continues in FlatAdam, and the reverse
    resumed, resumed_plain = _model(), _model()
    resumed.load_state_dict(plain.state_dict())
    resumed_plain.load_state_dict(flat.state_dict())
    resumed_opt = FlatAdam(resumed, lr=1e-2)
    resumed_opt.load_state_dict(theirs)
    resumed_plain_opt = torch.optim.Adam(resumed_plain.parameters(), lr=1e-2)
    resumed_plain_opt.load_state_dict(mine)
    _train(plain, plain_opt, batches, 2)
    _train(resumed, resumed_opt, batches, 2, flat=True)
    _train(resumed_plain, resumed_plain_opt, batches, 2)
    for a, b, c in zip(plain.parameters(), resumed.parameters(), resumed_plain.parameters()):
        torch.testing.assert_close(b, a, atol=1e-10, rtol=1e-9)
        torch.testing.assert_close(c, a, atol=1e-10, rtol=1e-9)


def test_flat_adam_refuses_a_state_of_another_model():
    optimizer = FlatAdam(_model(), lr=1e-2)
    with pytest.raises(ValueError, match="parameters"):
        optimizer.load_state_dict({"state": {}, "param_groups": [{"params": [0, 1], "lr": 1e-2}]})
