"""Tests for core/data/adjacency.py: the sparse first-level adjacency gives the dense model's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.adjacency import SparseAdjacency
from core.data.batching import SPARSE_FROM_NODES, collate, prepare_graphs
from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.model.diffpool import DiffPool, DiffPoolConfig, pool_with_assignment, traces_from_output

FEATURES = 4
SPEC = FeatureSpec("attributes", attribute_dim=FEATURES)
TOL = dict(atol=2e-5, rtol=2e-5)


def weighted_graph(num_nodes: int, seed: int, label: int = 0) -> Graph:
    """A connected random graph with edge weights in [1, 4] and random attributes."""
    rng = np.random.default_rng(seed)
    pairs = [(i, i + 1) for i in range(num_nodes - 1)]
    pairs += [(i, j) for i in range(num_nodes) for j in range(i, num_nodes) if rng.random() < 0.2]
    pairs = np.array(pairs, dtype=np.int64)
    return Graph.from_edge_list(
        num_nodes, pairs, weights=rng.uniform(1, 4, len(pairs)).astype(np.float32),
        node_attributes=rng.standard_normal((num_nodes, FEATURES)).astype(np.float32),
        label=label, name=f"weighted-{num_nodes}-{seed}",
    )


def both_batches(sizes: list[int], variant: str = "diffpool", cluster_counts=(5, 2)):
    graphs = [weighted_graph(n, seed, label=seed % 3) for seed, n in enumerate(sizes)]
    prepared = prepare_graphs(graphs, SPEC, variant, list(cluster_counts), seed=3)
    return collate(prepared, adjacency="dense"), collate(prepared, adjacency="sparse")


def make_model(variant: str, aux_normalization: str) -> DiffPool:
    torch.manual_seed(0)
    return DiffPool(DiffPoolConfig(
        input_dim=FEATURES, num_classes=3, variant=variant, hidden_dim=8, embedding_dim=8, assign_hidden_dim=8,
        num_pooling=2, cluster_counts=[5, 2], aux_normalization=aux_normalization,
    ))


def test_sparse_products_match_the_dense_tensor():
    dense, sparse = both_batches([7, 12, 3])
    assert isinstance(sparse.adj, SparseAdjacency) and sparse.adj.shape == dense.adj.shape
    torch.testing.assert_close(sparse.adj.to_dense(), dense.adj)
    h = torch.randn(3, 12, 6)
    torch.testing.assert_close(sparse.adj @ h, dense.adj @ h, **TOL)
    torch.testing.assert_close(sparse.adj.row_sums(), dense.adj.sum(-1), **TOL)
    torch.testing.assert_close(sparse.adj.mean().to_dense(), dense.adj / dense.adj.sum(-1, keepdim=True).clamp(min=1))
    torch.testing.assert_close(sparse.adj.graph_max(), dense.adj.amax(dim=(1, 2)))
    round_trip = SparseAdjacency.from_dense(dense.adj)
    torch.testing.assert_close(round_trip.to_dense(), dense.adj)


def test_the_csr_product_sums_unsorted_and_repeated_entries_with_gradients_like_the_dense_tensor():
    rng = np.random.default_rng(4)
    batch, nodes, width = 3, 7, 5
    count = 40  # unsorted, with repeats (the COO sum rule): sorted into CSR order inside
    rows = torch.from_numpy(rng.integers(0, batch * nodes, count))
    cols = (rows // nodes) * nodes + torch.from_numpy(rng.integers(0, nodes, count))
    weights = torch.from_numpy(rng.random(count).astype(np.float32))
    adjacency = SparseAdjacency(rows, cols, weights, batch, nodes)
    x = torch.randn(batch, nodes, width, requires_grad=True)
    (adjacency @ x).pow(2).sum().backward()
    sparse_grad, x.grad = x.grad.clone(), None
    dense = adjacency.to_dense()
    expected = dense @ x
    expected.pow(2).sum().backward()
    torch.testing.assert_close(adjacency @ x, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_grad, x.grad, rtol=1e-5, atol=1e-5)
    assert adjacency.csr().layout == torch.sparse_csr and adjacency.csr() is adjacency.csr()  # built once
    torch.testing.assert_close(adjacency.csr(transposed=True).to_dense(), adjacency.csr().to_dense().T)
    # entries that need their own gradient take the differentiable gather-and-sum path
    learned = weights.clone().requires_grad_(True)
    (SparseAdjacency(rows, cols, learned, batch, nodes) @ x.detach()).sum().backward()
    reference = learned.detach().clone().requires_grad_(True)
    flat = x.detach().reshape(batch * nodes, width)
    torch.zeros_like(flat).index_add_(0, rows, flat[cols] * reference[:, None]).sum().backward()
    torch.testing.assert_close(learned.grad, reference.grad)


@pytest.mark.parametrize("aux_normalization", ["real", "pyg"])
def test_pooling_on_sparse_adjacency_matches_dense(aux_normalization):
    dense, sparse = both_batches([9, 14, 5, 11])
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(4, 14, 6, generator=generator)
    assignment = torch.softmax(3 * torch.randn(4, 14, 5, generator=generator), dim=-1)
    expected = pool_with_assignment(z, dense.adj, assignment, dense.mask, aux_normalization=aux_normalization)
    got = pool_with_assignment(z, sparse.adj, assignment, sparse.mask, aux_normalization=aux_normalization)
    for name, a, b in zip(("pooled", "coarsened", "link", "entropy"), got, expected):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    assert float(expected[2]) > 0  # the comparison would be empty if the link loss vanished


@pytest.mark.parametrize("variant", ["diffpool", "diffpool-nolp", "diffpool-det", "random", "graphsage"])
@pytest.mark.parametrize("aux_normalization", ["real", "pyg"])
def test_model_outputs_and_gradients_do_not_depend_on_the_adjacency_format(variant, aux_normalization):
    dense, sparse = both_batches([10, 6, 16, 8, 12], variant=variant)
    results = []
    for batch in (dense, sparse):
        model = make_model(variant, aux_normalization)
        model.train()
        output = model(batch.x, batch.adj, batch.mask, batch.fixed)
        loss = model.loss(output, batch.labels)
        loss.backward()
        results.append((output, loss, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (out_d, loss_d, grads_d), (out_s, loss_s, grads_s) = results
    torch.testing.assert_close(out_s.logits, out_d.logits, **TOL)
    torch.testing.assert_close(out_s.link_loss, out_d.link_loss, **TOL)
    torch.testing.assert_close(out_s.entropy_loss, out_d.entropy_loss, **TOL)
    torch.testing.assert_close(loss_s, loss_d, **TOL)
    assert grads_d.keys() == grads_s.keys() and grads_d
    for name in grads_d:
        torch.testing.assert_close(grads_s[name], grads_d[name], atol=1e-4, rtol=1e-4, msg=name)


def test_traces_from_a_sparse_batch_carry_the_dense_input_adjacency():
    """Small graphs of a sparse batch: each trace holds the graph's dense adjacency, the same as from a
    dense batch, and the same link loss (graphs above DENSE_TRACE_MAX_NODES keep CSR: test_inference)."""
    dense, sparse = both_batches([6, 9])
    model = make_model("diffpool", "real").eval()
    out_d = model(dense.x, dense.adj, dense.mask, keep_levels=True)
    out_s = model(sparse.x, sparse.adj, sparse.mask, keep_levels=True)
    assert isinstance(out_s.input_adjacency, SparseAdjacency)  # as batched: no dense [B, N, N] copy
    torch.testing.assert_close(out_s.input_adjacency.to_dense(), dense.adj)
    torch.testing.assert_close(out_s.levels[0]["coarsened_adjacency"], out_d.levels[0]["coarsened_adjacency"], **TOL)
    for trace_s, trace_d in zip(traces_from_output(out_s, sparse.num_nodes), traces_from_output(out_d, dense.num_nodes)):
        assert isinstance(trace_s.adjacency, np.ndarray)
        np.testing.assert_array_equal(trace_s.adjacency, trace_d.adjacency)
        assert trace_s.levels[0].link_loss == pytest.approx(trace_d.levels[0].link_loss, rel=1e-5)


def test_auto_adjacency_goes_sparse_for_large_batches_only():
    small = prepare_graphs([weighted_graph(20, 0)], SPEC)
    large = prepare_graphs([weighted_graph(SPARSE_FROM_NODES, 1)], SPEC)
    assert isinstance(collate(small, adjacency="auto").adj, torch.Tensor)
    assert isinstance(collate(large, adjacency="auto").adj, SparseAdjacency)


def test_collate_keeps_one_entry_per_repeated_edge_like_the_dense_tensor():
    graph = weighted_graph(5, 2)
    prepared = prepare_graphs([graph], SPEC)
    # Repeat every directed edge: the dense tensor overwrites, so the sparse one must not add up.
    prepared[0].edges = np.concatenate([prepared[0].edges, prepared[0].edges], axis=1)
    prepared[0].weights = np.concatenate([prepared[0].weights, prepared[0].weights])
    dense, sparse = collate(prepared, adjacency="dense"), collate(prepared, adjacency="sparse")
    torch.testing.assert_close(sparse.adj.to_dense(), dense.adj)


def test_bad_arguments_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="adjacency must be one of"):
        collate(prepare_graphs([weighted_graph(4, 0)], SPEC), adjacency="csr")
    with pytest.raises(ValueError, match="1-D of one length"):
        SparseAdjacency(torch.zeros(3, dtype=torch.long), torch.zeros(2, dtype=torch.long), torch.ones(3), 1, 4)
    adjacency = SparseAdjacency.from_dense(torch.eye(4).unsqueeze(0))
    with pytest.raises(ValueError, match="cannot multiply"):
        adjacency @ torch.zeros(1, 5, 2)
