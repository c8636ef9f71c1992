"""The variants without pooling levels (core/model/diffpool.py): set2set, sortpool, ecc, baseline, patchysan.

Shapes, permutation and padding invariance, dense = sparse adjacency, training lowers the loss
on a small real dataset (MUTAG), checkpoints round-trip, traces have zero levels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.adjacency import SparseAdjacency
from core.data.batching import collate, prepare_graphs
from core.data.datasets import load_dataset
from core.data.features import FeatureSpec
from core.model.checkpoint import load_checkpoint, save_checkpoint
from core.model.diffpool import (
    NO_POOLING_VARIANTS,
    DiffPool,
    DiffPoolConfig,
    EdgeConditionedConv,
    MaskedBatchNorm,
    NoPoolingModel,
    mean_adjacency,
    sortpool_k_for,
)
from core.model.inference import predict_logits, trace_graphs
from core.train.crossval import cross_validate
from core.train.settings import TrainSettings, feature_spec_for, model_config_for
from tests.graphs import random_graph

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FEATURES = 4
SPEC = FeatureSpec("attributes", attribute_dim=FEATURES)
TOL = dict(atol=1e-5, rtol=1e-5)


def make_model(variant: str, seed: int = 0, **overrides) -> DiffPool:
    config = dict(input_dim=FEATURES, num_classes=3, variant=variant, hidden_dim=8, embedding_dim=8, max_nodes=20)
    config.update(overrides)
    torch.manual_seed(seed)
    model = DiffPool(DiffPoolConfig(**config))
    generator = torch.Generator().manual_seed(seed + 1)
    for module in model.modules():  # non-trivial running statistics: eval-mode batch norm is not the identity
        if isinstance(module, MaskedBatchNorm):
            dim = module.norm.num_features
            module.norm.running_mean.copy_(torch.randn(dim, generator=generator))
            module.norm.running_var.copy_(torch.rand(dim, generator=generator) + 0.5)
    return model.eval()


def batch_of(graphs, pad_to=None, adjacency="dense"):
    return collate(prepare_graphs(graphs, SPEC), pad_to=pad_to, adjacency=adjacency)


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
def test_variant_builds_its_own_model_without_pooling_levels(variant):
    model = make_model(variant, num_pooling=2)
    assert isinstance(model, NoPoolingModel) and isinstance(model, DiffPool)
    assert model.config.num_pooling == 0 and model.config.cluster_counts == []
    graphs = [random_graph(n, seed=n, label=n % 3) for n in (4, 9, 6)]
    batch = batch_of(graphs)
    output = model(batch.x, batch.adj, batch.mask, keep_levels=True)
    assert output.logits.shape == (3, 3)
    assert output.levels == [] and float(output.link_loss) == 0.0 and float(output.entropy_loss) == 0.0
    assert output.final_embeddings.shape[:2] == (3, 9)
    assert not output.final_embeddings[0, 4:].any(), "padded rows must stay zero"
    assert output.graph_embedding.shape[0] == 3 and torch.isfinite(output.graph_embedding).all()
    traces = trace_graphs(model, graphs, SPEC)
    for graph, trace in zip(graphs, traces):
        assert trace.num_levels == 0
        assert trace.final_embeddings.shape[0] == graph.num_nodes
        np.testing.assert_allclose(trace.adjacency, graph.dense_adjacency())
        assert trace.predicted in (0, 1, 2)


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
def test_permuting_nodes_keeps_logits_and_permutes_node_embeddings(variant):
    model = make_model(variant)
    batch = batch_of([random_graph(9, seed=1), random_graph(6, seed=2)], pad_to=12)
    perm = torch.from_numpy(np.random.default_rng(3).permutation(9))
    full = torch.arange(12)
    full[:9] = perm
    x_p, adj_p = batch.x.clone(), batch.adj.clone()
    x_p[0], adj_p[0] = batch.x[0, full], batch.adj[0][full][:, full]
    with torch.no_grad():
        plain = model(batch.x, batch.adj, batch.mask, keep_levels=True)
        permuted = model(x_p, adj_p, batch.mask, keep_levels=True)
    torch.testing.assert_close(permuted.logits, plain.logits, **TOL)
    torch.testing.assert_close(permuted.graph_embedding, plain.graph_embedding, **TOL)
    torch.testing.assert_close(permuted.final_embeddings[0, :9], plain.final_embeddings[0, perm], **TOL)


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
@pytest.mark.parametrize("extra", [1, 7])
def test_padding_and_batch_mates_do_not_change_a_graphs_logits(variant, extra):
    model = make_model(variant, seed=extra)
    graph, others = random_graph(7, seed=5), [random_graph(n, seed=10 + n) for n in (3, 11, 5)]
    with torch.no_grad():
        alone = model(*_inputs(batch_of([graph]))).logits[0]
        crowded = model(*_inputs(batch_of([*others, graph], pad_to=11 + extra))).logits[-1]
    torch.testing.assert_close(crowded, alone, **TOL)


def _inputs(batch):
    """Positional model inputs: x, adj, mask, no fixed assignments, no levels, the edge labels (MUTAG's, for ecc)."""
    return batch.x, batch.adj, batch.mask, None, False, batch.edge_types


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
def test_sparse_adjacency_gives_the_dense_results(variant):
    model = make_model(variant)
    graphs = [random_graph(n, seed=n) for n in (5, 12, 8)]
    dense, sparse = batch_of(graphs, adjacency="dense"), batch_of(graphs, adjacency="sparse")
    assert isinstance(sparse.adj, SparseAdjacency)
    with torch.no_grad():
        torch.testing.assert_close(model(*_inputs(sparse)).logits, model(*_inputs(dense)).logits, **TOL)


def test_baseline_never_reads_the_edges():
    model = make_model("baseline")
    graphs = [random_graph(n, seed=n) for n in (5, 8)]
    batch = batch_of(graphs)
    with torch.no_grad():
        with_edges = model(*_inputs(batch)).logits
        without = model(batch.x, torch.zeros_like(batch.adj), batch.mask).logits
    torch.testing.assert_close(without, with_edges, **TOL)
    assert model.config.readout == "sum"


def test_graph_models_do_read_the_edges():
    graphs = [random_graph(8, seed=1)]
    batch = batch_of(graphs)
    for variant in ("set2set", "sortpool", "ecc"):
        model = make_model(variant)
        with torch.no_grad():
            changed = model(batch.x, torch.zeros_like(batch.adj), batch.mask).logits
            assert not torch.allclose(changed, model(*_inputs(batch)).logits), variant


def test_sortpool_k_is_the_sixtieth_percentile_of_sizes_at_least_ten():
    assert sortpool_k_for([5, 12, 20, 30, 41]) == 20
    assert sortpool_k_for(list(range(1, 101))) == 60
    assert sortpool_k_for([3, 4, 5]) == 10
    with pytest.raises(ValueError, match="at least one"):
        sortpool_k_for([])
    with pytest.raises(ValueError, match="sortpool_k must be at least 10"):
        DiffPoolConfig(input_dim=2, num_classes=2, variant="sortpool", sortpool_k=4)


def test_sortpool_keeps_only_the_top_k_nodes_by_the_last_channel():
    model = make_model("sortpool", sortpool_k=10)
    big = random_graph(16, seed=4)
    batch = batch_of([big])
    with torch.no_grad():
        z = model.embed_nodes(batch.x, batch.adj, batch.mask)
        reference = model.read_out(z, batch.mask)
        dropped = z[0, :, -1].argsort()[:6]  # the 6 lowest-ranked nodes
        z_changed = z.clone()
        z_changed[0, dropped, :-1] += 5.0  # change them (keeping their rank): the readout must not see it
        torch.testing.assert_close(model.read_out(z_changed, batch.mask), reference)
        kept = z[0, :, -1].argmax()
        z_changed[0, kept, 0] += 5.0
        assert not torch.allclose(model.read_out(z_changed, batch.mask), reference)


def test_edge_conditioned_conv_matches_a_loop_over_typed_edges():
    torch.manual_seed(0)
    conv = EdgeConditionedConv(3, 5, edge_types=2)
    n = 6
    rng = np.random.default_rng(1)
    types = rng.integers(0, 3, size=(n, n))  # 0 = no edge, 1 / 2 = edge types
    types = np.triu(types, 1)
    types = types + types.T
    x = torch.randn(1, n, 3)
    adjacency = torch.from_numpy((types > 0).astype(np.float32))[None]
    degree = adjacency.sum(-1, keepdim=True).clamp(min=1)
    typed = [torch.from_numpy((types == t).astype(np.float32))[None] / degree for t in (1, 2)]
    theta = conv.filter_net(torch.eye(2)).reshape(2, 3, 5)
    expected = torch.zeros(n, 5)
    for i in range(n):
        expected[i] = conv.lin_root(x[0, i])
        for j in range(n):
            if types[i, j]:
                expected[i] += x[0, j] @ theta[types[i, j] - 1] / degree[0, i, 0]
    torch.testing.assert_close(conv(x, typed)[0], expected, **TOL)
    # one edge type: the typed sum is the plain mean aggregation
    single = EdgeConditionedConv(3, 5, edge_types=1)
    torch.testing.assert_close(single(x, [mean_adjacency(adjacency)]),
                               single.lin_root(x) + (mean_adjacency(adjacency) @ x) @ single.filters()[0], **TOL)


# ---------------------------------------------------------------------------- on a small real dataset
@pytest.fixture(scope="module")
def mutag(tu_dir):
    return load_dataset("MUTAG", data_dir=tu_dir, download=False, progress=False)


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
def test_a_few_training_steps_lower_the_loss_on_mutag(mutag, variant):
    torch.manual_seed(0)
    settings = TrainSettings(dataset="MUTAG", variant=variant)
    spec = feature_spec_for(mutag, "auto")
    model = DiffPool(model_config_for(mutag, spec, settings))
    graphs = mutag.graphs[:60]
    batch = collate(prepare_graphs(graphs, spec, variant))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def batch_loss() -> float:
        # Training mode (batch statistics, as the steps see them), the same dropout mask each time.
        model.train()
        torch.manual_seed(1)
        with torch.no_grad():
            return float(model.loss(model(*_inputs(batch)), batch.labels))

    before = batch_loss()
    for _ in range(15):
        model.train()
        optimizer.zero_grad()
        model.loss(model(*_inputs(batch)), batch.labels).backward()
        optimizer.step()
    after = batch_loss()
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("variant", NO_POOLING_VARIANTS)
def test_checkpoint_round_trip_reproduces_logits(tmp_path, mutag, variant):
    settings = TrainSettings(dataset="MUTAG", variant=variant)
    spec = feature_spec_for(mutag, "auto")
    model = DiffPool(model_config_for(mutag, spec, settings)).eval()
    save_checkpoint(tmp_path / f"mutag-{variant}", model, spec, {"dataset": "MUTAG"})
    loaded, loaded_spec, card = load_checkpoint(tmp_path / f"mutag-{variant}")
    assert type(loaded) is type(model) and card["variant"] == variant
    assert loaded.config == model.config
    graphs = mutag.graphs[:20]
    np.testing.assert_allclose(predict_logits(loaded, graphs, loaded_spec), predict_logits(model, graphs, spec),
                               rtol=1e-6, atol=1e-6)


def test_cross_validation_runs_a_variant_end_to_end_and_resumes(tmp_path, mutag):
    settings = TrainSettings(dataset="MUTAG", variant="sortpool", folds=3, fold_limit=2, epochs=2, subset=60,
                             out_dir=str(tmp_path))
    first = cross_validate(mutag, settings, progress=False)
    assert first["folds_completed"] == 2 and first["honest"] is not None
    model, spec, card = load_checkpoint(tmp_path / "MUTAG-sortpool")
    assert model.config.sortpool_k == sortpool_k_for([g.num_nodes for g in mutag.graphs])
    test = [mutag.graphs[i] for i in card["test_indices"]]
    predicted = predict_logits(model, test, spec).argmax(axis=1)
    accuracy = float(np.mean(predicted == np.array([g.label for g in test])))
    assert accuracy == pytest.approx(card["accuracy"]["test"])
    again = cross_validate(mutag, settings, progress=False)
    assert all(f["cached"] for f in again["folds"])
    assert again["honest"]["per_fold"] == first["honest"]["per_fold"]
