"""Tests for core/model/diffpool.py: PyG equivalence of the operators, invariances, traces, variants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.batching import collate, prepare_graphs
from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.model.diffpool import (
    VARIANTS,
    DiffPool,
    DiffPoolConfig,
    MaskedBatchNorm,
    SAGEConv,
    dense_diff_pool,
    entropy_upper_bound,
    mean_adjacency,
    readout,
    row_softmax,
)
from core.model.inference import trace_graphs
from tests.graphs import random_graph

pyg_dense = pytest.importorskip("torch_geometric.nn")

FEATURES = 4
SPEC = FeatureSpec("attributes", attribute_dim=FEATURES)
TOL = dict(atol=1e-4, rtol=1e-4)  # float32: a padded batch sums in another order (seen: 1.5e-5 on a logit)
FAST = settings(max_examples=25, deadline=None)


# ---------------------------------------------------------------------------- fixtures
def make_model(variant: str = "diffpool", seed: int = 0, **overrides) -> DiffPool:
    settings_ = dict(input_dim=FEATURES, num_classes=3, variant=variant, hidden_dim=8, embedding_dim=8,
                     assign_hidden_dim=8, max_nodes=20, assign_ratio=0.25)
    settings_.update(overrides)
    torch.manual_seed(seed)
    return DiffPool(DiffPoolConfig(**settings_))


def randomise_norm_statistics(model: DiffPool, seed: int = 1) -> DiffPool:
    """Non-trivial running statistics so eval-mode batch norm is not the identity."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, MaskedBatchNorm):
            dim = module.norm.num_features
            module.norm.running_mean.copy_(torch.randn(dim, generator=generator))
            module.norm.running_var.copy_(torch.rand(dim, generator=generator) + 0.5)
            module.norm.weight.data.copy_(torch.randn(dim, generator=generator))
            module.norm.bias.data.copy_(torch.randn(dim, generator=generator))
    return model


def batch_of(graphs: list[Graph], model: DiffPool, pad_to: int | None = None, seed: int = 0):
    c = model.config
    prepared = prepare_graphs(graphs, SPEC, c.variant, c.cluster_counts, seed=seed)
    return collate(prepared, pad_to=pad_to)


def run(model: DiffPool, batch):
    return model(batch.x, batch.adj, batch.mask, batch.fixed, keep_levels=True)


# ---------------------------------------------------------------------------- (a) dense_diff_pool
@FAST
@given(
    batch=st.integers(1, 3), nodes=st.integers(1, 9), features=st.integers(1, 5), clusters=st.integers(1, 4),
    normalize=st.booleans(), use_mask=st.booleans(), seed=st.integers(0, 2**31 - 1),
)
def test_dense_diff_pool_matches_pyg(batch, nodes, features, clusters, normalize, use_mask, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, nodes, features, generator=generator)
    adj = (torch.rand(batch, nodes, nodes, generator=generator) < 0.4).float()
    adj = ((adj + adj.transpose(1, 2)) > 0).float() * torch.rand(batch, nodes, nodes, generator=generator)
    s = 3 * torch.randn(batch, nodes, clusters, generator=generator)
    mask = torch.rand(batch, nodes, generator=generator) < 0.7 if use_mask else None
    if mask is not None:
        adj = adj * mask.unsqueeze(1) * mask.unsqueeze(2)
    ours = dense_diff_pool(x, adj, s, mask, normalize=normalize)
    theirs = pyg_dense.dense_diff_pool(x, adj, s, mask, normalize=normalize)
    for name, a, b in zip(("pooled", "coarsened", "link_loss", "entropy_loss"), ours, theirs):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("clusters", [3, 12, 40])
def test_dense_diff_pool_gradients_match_pyg(clusters):
    """The link loss from the expansion through Sᵀ A S (not the N×N residual) and the narrow-softmax
    path give PyG's gradients, in float64 so that only a wrong formula could differ."""
    generator = torch.Generator().manual_seed(clusters)
    batch, nodes = 3, 17
    adj = (torch.rand(batch, nodes, nodes, generator=generator, dtype=torch.float64) < 0.3).double()
    adj = ((adj + adj.transpose(1, 2)) > 0).double()
    mask = torch.rand(batch, nodes, generator=generator) < 0.8
    adj = adj * mask.unsqueeze(1) * mask.unsqueeze(2)
    grads = []
    for pool in (dense_diff_pool, pyg_dense.dense_diff_pool):
        x = torch.randn(batch, nodes, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        s = 3 * torch.randn(batch, nodes, clusters, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        x.requires_grad_(True)
        s.requires_grad_(True)
        pooled, coarsened, link, entropy = pool(x, adj, s, mask)
        (pooled.sin().sum() + coarsened.cos().sum() + 7 * link + 3 * entropy).backward()
        grads.append((x.grad, s.grad))
    for mine, theirs in zip(*grads):
        torch.testing.assert_close(mine, theirs, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("clusters", [1, 2, 12, 15, 16, 31])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_softmax_is_softmax_over_the_last_dimension(clusters, dtype):
    scores = (4 * torch.randn(5, 23, clusters, generator=torch.Generator().manual_seed(clusters))).to(dtype)
    weights = torch.randn(5, 23, clusters, generator=torch.Generator().manual_seed(7)).to(dtype)
    outputs = []
    for softmax in (row_softmax, lambda t: torch.softmax(t, dim=-1)):
        leaf = scores.clone().requires_grad_(True)
        value = softmax(leaf)
        (value * weights).sum().backward()
        outputs.append((value.detach(), leaf.grad))
    tolerance = dict(atol=1e-6, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-13, rtol=1e-12)
    for mine, theirs in zip(*outputs):
        torch.testing.assert_close(mine, theirs, **tolerance)


def test_max_readout_ignores_padding_and_sends_the_gradient_to_the_real_maximum():
    z = torch.tensor([[[1.0, -5.0], [-2.0, -1.0], [9.0, 9.0]]], requires_grad=True)  # row 2 is padding
    mask = torch.tensor([[True, True, False]])
    value = readout(z, mask, "max")
    assert value.tolist() == [[1.0, -1.0]]
    value.sum().backward()
    assert z.grad.tolist() == [[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]


# ---------------------------------------------------------------------------- (b) SAGEConv
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("use_mask", [False, True])
def test_sage_conv_matches_dense_sage_conv_with_copied_weights(normalize, use_mask):
    torch.manual_seed(0)
    ours = SAGEConv(5, 7, normalize=normalize)
    theirs = pyg_dense.DenseSAGEConv(5, 7, normalize=normalize)
    with torch.no_grad():
        theirs.lin_rel.weight.copy_(ours.lin_rel.weight)
        theirs.lin_root.weight.copy_(ours.lin_root.weight)
        theirs.lin_root.bias.copy_(ours.lin_rel.bias)  # bias on the other linear: same sum
    x = torch.randn(3, 6, 5)
    adj = (torch.rand(3, 6, 6) < 0.5).float()
    adj = ((adj + adj.transpose(1, 2)) > 0).float()
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 1 + [0] * 5], dtype=torch.bool) if use_mask else None
    if mask is not None:
        adj = adj * mask.unsqueeze(1) * mask.unsqueeze(2)
        x = x * mask.unsqueeze(-1)
    out = ours(x, mean_adjacency(adj))
    if mask is not None:  # ours leaves masking to the block; PyG masks inside the conv
        out = out * mask.unsqueeze(-1)
    torch.testing.assert_close(out, theirs(x, adj, mask), **TOL)


# ---------------------------------------------------------------------------- (c) permutation
@pytest.mark.parametrize("variant,input_norm", [("diffpool", False), ("diffpool-nolp", False), ("graphsage", False),
                                                ("diffpool", True), ("graphsage", True)])
def test_permuting_nodes_permutes_assignment_rows_and_keeps_pooled_graph_and_logits(variant, input_norm):
    model = randomise_norm_statistics(make_model(variant, input_norm=input_norm)).eval()
    first, second = random_graph(9, seed=1), random_graph(6, seed=2)
    batch = batch_of([first, second], model, pad_to=12)
    perm = torch.from_numpy(np.random.default_rng(3).permutation(9))
    full = torch.arange(12)
    full[:9] = perm  # permute graph 0's real nodes only; padding stays at the end
    x_p, adj_p = batch.x.clone(), batch.adj.clone()
    x_p[0] = batch.x[0, full]
    adj_p[0] = batch.adj[0][full][:, full]
    with torch.no_grad():
        plain = model(batch.x, batch.adj, batch.mask, keep_levels=True)
        permuted = model(x_p, adj_p, batch.mask, keep_levels=True)
    torch.testing.assert_close(permuted.logits, plain.logits, **TOL)
    torch.testing.assert_close(permuted.graph_embedding, plain.graph_embedding, **TOL)
    assert len(plain.levels) == (0 if variant == "graphsage" else 1)
    for level_plain, level_perm in zip(plain.levels, permuted.levels):
        torch.testing.assert_close(level_perm["assignment"][0, :9], level_plain["assignment"][0, perm], **TOL)
        torch.testing.assert_close(level_perm["node_embeddings"][0, :9], level_plain["node_embeddings"][0, perm], **TOL)
        for key in ("coarsened_adjacency", "pooled_features"):
            torch.testing.assert_close(level_perm[key], level_plain[key], **TOL)
    if variant == "graphsage":
        torch.testing.assert_close(permuted.final_embeddings[0, :9], plain.final_embeddings[0, perm], **TOL)


# ---------------------------------------------------------------------------- (d) padding
def _graph_alone_and_padded(model: DiffPool, graph: Graph, others: list[Graph], extra: int):
    alone = run(model, batch_of([graph], model))
    crowded = run(model, batch_of([graph, *others], model))
    padded = run(model, batch_of([*others, graph], model, pad_to=max(g.num_nodes for g in [graph, *others]) + extra))
    return alone, (crowded, 0), (padded, len(others))


@FAST
@given(
    sizes=st.lists(st.integers(1, 10), min_size=2, max_size=4), extra=st.integers(1, 6),
    batch_norm=st.booleans(), input_norm=st.booleans(), assign_only=st.integers(0, FEATURES - 1),
    seed=st.integers(0, 10_000),
)
def test_padding_does_not_change_assignments_pooled_graph_or_logits(sizes, extra, batch_norm, input_norm, assign_only,
                                                                     seed):
    model = make_model("diffpool", seed=seed % 7, batch_norm=batch_norm, input_norm=input_norm,
                       assign_only_dim=assign_only)
    model = randomise_norm_statistics(model, seed).eval()
    graphs = [random_graph(n, seed + i, label=i % 3) for i, n in enumerate(sizes)]
    n = graphs[0].num_nodes
    with torch.no_grad():
        alone, *others = _graph_alone_and_padded(model, graphs[0], graphs[1:], extra)
    for output, b in others:
        torch.testing.assert_close(output.logits[b], alone.logits[0], **TOL)
        level, reference = output.levels[0], alone.levels[0]
        torch.testing.assert_close(level["assignment"][b, :n], reference["assignment"][0, :n], **TOL)
        assert not level["assignment"][b, n:].any()
        torch.testing.assert_close(level["coarsened_adjacency"][b], reference["coarsened_adjacency"][0], **TOL)
        torch.testing.assert_close(level["pooled_features"][b], reference["pooled_features"][0], **TOL)


@pytest.mark.parametrize("input_norm", [False, True])
def test_padding_does_not_change_batch_norm_statistics_in_training(input_norm):
    graphs = [random_graph(n, seed=n) for n in (7, 4, 9)]
    tight, loose = make_model("diffpool", input_norm=input_norm), make_model("diffpool", input_norm=input_norm)
    loose.load_state_dict(tight.state_dict())
    tight.train(), loose.train()
    out_tight = run(tight, batch_of(graphs, tight))
    out_loose = run(loose, batch_of(graphs, loose, pad_to=16))
    torch.testing.assert_close(out_loose.logits, out_tight.logits, **TOL)
    norms = [(name, m) for name, m in tight.named_modules() if isinstance(m, MaskedBatchNorm)]
    assert norms, "the model should use MaskedBatchNorm"
    assert ("input_norm" in dict(norms)) == input_norm
    loose_modules = dict(loose.named_modules())
    for name, module in norms:
        other = loose_modules[name].norm
        torch.testing.assert_close(other.running_mean, module.norm.running_mean, **TOL, msg=f"{name} running_mean")
        torch.testing.assert_close(other.running_var, module.norm.running_var, **TOL, msg=f"{name} running_var")
        assert other.num_batches_tracked == module.norm.num_batches_tracked == 1


# ---------------------------------------------------------------------------- (e) rows of S
@pytest.mark.parametrize("variant", ["diffpool", "diffpool-nolp", "diffpool-det", "random"])
def test_assignment_rows_sum_to_one_on_real_nodes_and_zero_on_padding(variant):
    model = make_model(variant).eval()
    graphs = [random_graph(n, seed=n) for n in (3, 8, 5)]
    batch = batch_of(graphs, model, pad_to=11)
    with torch.no_grad():
        output = run(model, batch)
    sums = output.levels[0]["assignment"].sum(dim=-1)
    torch.testing.assert_close(sums, batch.mask.float(), **TOL)


# ---------------------------------------------------------------------------- (f) traces
@pytest.mark.parametrize("variant", ["diffpool", "diffpool-det", "random"])
def test_traces_are_sized_to_real_nodes_and_consistent(variant):
    model = randomise_norm_statistics(make_model(variant, num_pooling=2)).eval()
    graphs = [random_graph(n, seed=n, label=n % 3) for n in (2, 5, 11, 8, 17)]
    traces = trace_graphs(model, graphs, SPEC, batch_size=2)
    counts = model.config.cluster_counts
    for graph, trace in zip(graphs, traces):
        n = graph.num_nodes
        assert trace.adjacency.shape == (n, n)
        np.testing.assert_allclose(trace.adjacency, graph.dense_adjacency())
        assert trace.logits.shape == (3,)
        rows, adjacency = n, trace.adjacency
        for level, clusters in zip(trace.levels, counts):
            s = level.assignment
            assert s.shape == (rows, clusters)
            assert level.node_embeddings.shape[0] == rows and level.node_entropy.shape == (rows,)
            assert level.coarsened_adjacency.shape == (clusters, clusters)
            np.testing.assert_allclose(level.coarsened_adjacency, s.T @ adjacency @ s, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(s.sum(axis=1), 1.0, atol=1e-5)
            assert level.node_entropy.min() >= -1e-6
            assert level.node_entropy.max() <= entropy_upper_bound(clusters) + 1e-5
            rows, adjacency = clusters, level.coarsened_adjacency
        assert trace.final_embeddings.shape[0] == rows


# ---------------------------------------------------------------------------- (g) config and variants
@pytest.mark.parametrize(
    "max_nodes, ratio, levels, expected",
    [(126, 0.1, 1, [12]), (620, 0.1, 1, [62]), (100, 0.25, 2, [25, 6]), (10, 0.1, 2, [2, 2])],
)
def test_cluster_counts_follow_assign_ratio(max_nodes, ratio, levels, expected):
    config = DiffPoolConfig(input_dim=3, num_classes=2, max_nodes=max_nodes, assign_ratio=ratio, num_pooling=levels)
    assert config.cluster_counts == expected
    model = DiffPool(config)
    assert [head.out_features for head in model.assign_heads] == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_runs_forward_and_backward(variant):
    model = make_model(variant, num_pooling=1 if variant == "graphsage" else 2).train()
    graphs = [random_graph(n, seed=n, label=n % 3) for n in (4, 9, 6)]
    batch = batch_of(graphs, model)
    output = model(batch.x, batch.adj, batch.mask, batch.fixed)
    loss = model.loss(output, batch.labels)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
    assert output.logits.shape == (3, 3)


def test_fixed_variants_need_their_assignments():
    model = make_model("diffpool-det")
    batch = batch_of([random_graph(5, seed=0)], model)
    with pytest.raises(ValueError, match="fixed_assignments"):
        model(batch.x, batch.adj, batch.mask)


def test_deterministic_variant_assignments_are_one_hot_and_repeatable():
    model = make_model("diffpool-det", num_pooling=2).eval()
    graphs = [random_graph(n, seed=n) for n in (6, 13, 19)]
    first = trace_graphs(model, graphs, SPEC, batch_size=3)
    second = trace_graphs(model, list(reversed(graphs)), SPEC, batch_size=1)[::-1]
    for a, b in zip(first, second):
        for level_a, level_b in zip(a.levels, b.levels):
            s = level_a.assignment
            assert set(np.unique(s)) <= {0.0, 1.0}
            np.testing.assert_array_equal(s.sum(axis=1), 1.0)
            np.testing.assert_array_equal(s, level_b.assignment)


def test_random_variant_assignments_are_fixed_per_graph():
    model = make_model("random").eval()
    graphs = [random_graph(n, seed=n) for n in (5, 8, 12)]
    first = trace_graphs(model, graphs, SPEC, indices=[10, 11, 12], batch_size=3, seed=4)
    second = trace_graphs(model, graphs, SPEC, indices=[10, 11, 12], batch_size=1, seed=4)
    other_seed = trace_graphs(model, graphs, SPEC, indices=[10, 11, 12], batch_size=1, seed=5)
    for a, b, c in zip(first, second, other_seed):
        np.testing.assert_allclose(a.levels[0].assignment, b.levels[0].assignment, atol=1e-6)
        assert not np.allclose(a.levels[0].assignment, c.levels[0].assignment)
    assert not np.allclose(first[0].levels[0].assignment[:5], first[1].levels[0].assignment[:5])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(variant="diffpol"), "unknown variant"),
        (dict(readout="median"), "readout"),
        (dict(num_layers=1), "num_layers"),
        (dict(num_pooling=2, cluster_counts=[5]), "cluster_counts"),
    ],
)
def test_config_rejects_invalid_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        DiffPoolConfig(input_dim=3, num_classes=2, **overrides)


def test_config_round_trips_through_dict():
    config = DiffPoolConfig(input_dim=3, num_classes=2, variant="diffpool-nolp", num_pooling=2, max_nodes=50)
    assert DiffPoolConfig.from_dict(config.to_dict()) == config
    assert DiffPoolConfig(input_dim=3, num_classes=2, variant="graphsage").cluster_counts == []
    assert math.isclose(entropy_upper_bound(12), math.log(12))


@pytest.mark.skipif("aux_normalization" not in DiffPoolConfig.__dataclass_fields__,
                    reason="this core.model has only PyG's padding-dependent auxiliary losses")
def test_real_aux_losses_do_not_depend_on_padding():
    model = make_model("diffpool", aux_normalization="real", num_pooling=2).eval()
    graphs = [random_graph(n, seed=n) for n in (5, 9, 3)]
    with torch.no_grad():
        tight = run(model, batch_of(graphs, model))
        loose = run(model, batch_of(graphs, model, pad_to=20))
    torch.testing.assert_close(loose.link_loss, tight.link_loss, **TOL)
    torch.testing.assert_close(loose.entropy_loss, tight.entropy_loss, **TOL)


def test_training_on_a_batch_with_a_single_real_node_does_not_fail():
    """Batch norm has no variance over one node; the masked norm falls back to running statistics."""
    from core.model.diffpool import DiffPool, DiffPoolConfig

    model = DiffPool(DiffPoolConfig(input_dim=2, num_classes=2, max_nodes=10)).train()
    output = model(torch.randn(1, 1, 2), torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool))
    model.loss(output, torch.tensor([1])).backward()
    assert torch.isfinite(output.logits).all()


def test_input_norm_makes_the_model_blind_to_the_scale_of_a_feature_column():
    """Training-mode batch norm of the input: multiplying a column by 1,000 (a TU attribute's range)
    and shifting it changes nothing downstream; without it the logits move."""
    graphs = [random_graph(n, seed=n) for n in (7, 4, 9)]
    for input_norm, same in ((True, True), (False, False)):
        model = make_model("diffpool", input_norm=input_norm).train()
        batch = batch_of(graphs, model)
        scaled = batch.x.clone()
        scaled[..., 0] = (scaled[..., 0] * 1000 + 5) * batch.mask
        with torch.no_grad():
            plain, big = model(batch.x, batch.adj, batch.mask).logits, model(scaled, batch.adj, batch.mask).logits
        assert torch.allclose(plain, big, atol=1e-3) == same


@pytest.mark.parametrize("assign_only", [0, 2])
def test_assign_only_columns_move_the_assignments_but_never_the_level_1_embeddings(assign_only):
    """With assign_only_dim K the last K feature columns (positional) reach level 1's assignment GNN
    only: changing them moves S but leaves the embeddings Z the classifier pools untouched; with
    K = 0 they move both."""
    model = randomise_norm_statistics(make_model("diffpool", assign_only_dim=assign_only)).eval()
    assert model.embed_blocks[0].convs[0].lin_root.in_features == FEATURES - assign_only
    batch = batch_of([random_graph(8, seed=4), random_graph(5, seed=5)], model)
    moved = batch.x.clone()
    moved[..., FEATURES - 2:] = torch.randn(moved[..., FEATURES - 2:].shape) * batch.mask.unsqueeze(-1)
    with torch.no_grad():
        plain, other = run(model, batch).levels[0], model(moved, batch.adj, batch.mask, keep_levels=True).levels[0]
    assert not torch.allclose(plain["assignment"], other["assignment"], atol=1e-4)
    assert torch.allclose(plain["node_embeddings"], other["node_embeddings"], atol=1e-6) == bool(assign_only)


@pytest.mark.parametrize("overrides,message", [
    (dict(variant="graphsage", assign_only_dim=1), "needs a learned assignment"),
    (dict(variant="diffpool-det", assign_only_dim=1), "needs a learned assignment"),
    (dict(assign_only_dim=FEATURES), r"must be in 0..input_dim - 1 = 3 .*got 4"),
    (dict(assign_only_dim=-1), r"must be in 0..input_dim - 1 = 3 .*got -1"),
])
def test_assign_only_dim_refuses_models_without_a_learned_assignment_or_without_embedding_columns(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_model(**overrides)
