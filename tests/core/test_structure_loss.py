"""The structural training objective (DMoN modularity + collapse regulariser, core.model.structure_loss)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from core.data.adjacency import SparseAdjacency
from core.analysis.diagnosis import partition_modularity
from core.model.diffpool import DiffPool, DiffPoolConfig, structure_loss


def _batch():
    graphs = [nx.planted_partition_graph(2, 6, 0.9, 0.1, seed=s) for s in (0, 1)]
    adj = torch.zeros(2, 12, 12)
    for b, graph in enumerate(graphs):
        adj[b] = torch.tensor(nx.to_numpy_array(graph), dtype=torch.float32)
    return graphs, adj


def test_one_hot_partition_gives_minus_its_modularity_and_no_collapse_penalty():
    graphs, adj = _batch()
    truth = np.repeat([0, 1], 6)
    s = torch.tensor(np.eye(2)[truth], dtype=torch.float32).expand(2, 12, 2)
    coarsened = s.transpose(1, 2) @ adj @ s
    expected = [partition_modularity(sp.csr_matrix(nx.to_numpy_array(g)), truth) for g in graphs]
    assert structure_loss(adj, s, coarsened).item() == pytest.approx(-np.mean(expected), abs=1e-5)


def test_everything_in_one_cluster_pays_the_full_collapse_penalty():
    _, adj = _batch()
    s = torch.zeros(2, 12, 4)
    s[..., 0] = 1
    coarsened = s.transpose(1, 2) @ adj @ s
    # modularity of the trivial partition is 0; the regulariser is sqrt(C) - 1
    assert structure_loss(adj, s, coarsened).item() == pytest.approx(4 ** 0.5 - 1, abs=1e-5)


def test_padding_rows_and_sparse_adjacency_do_not_change_the_loss():
    _, adj = _batch()
    s = torch.softmax(torch.randn(2, 12, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    loss = structure_loss(adj, s, s.transpose(1, 2) @ adj @ s)
    padded_adj = torch.zeros(2, 15, 15)
    padded_adj[:, :12, :12] = adj
    padded_s = torch.cat([s, torch.full((2, 3, 3), 1 / 3)], dim=1)
    mask = torch.zeros(2, 15, dtype=torch.bool)
    mask[:, :12] = True
    masked = padded_s * mask.unsqueeze(-1)
    coarsened = masked.transpose(1, 2) @ padded_adj @ masked
    assert structure_loss(padded_adj, padded_s, coarsened, mask).item() == pytest.approx(loss.item(), abs=1e-5)
    sparse = SparseAdjacency.from_dense(padded_adj)
    assert structure_loss(sparse, padded_s, coarsened, mask).item() == pytest.approx(loss.item(), abs=1e-5)


def test_weight_adds_the_objective_to_the_training_loss_and_has_gradients():
    _, adj = _batch()
    x = torch.randn(2, 12, 5, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1])
    torch.manual_seed(0)
    plain = DiffPool(DiffPoolConfig(input_dim=5, num_classes=2, max_nodes=12, cluster_counts=[3]))
    torch.manual_seed(0)
    structural = DiffPool(DiffPoolConfig(input_dim=5, num_classes=2, max_nodes=12, cluster_counts=[3],
                                         structure_loss_weight=0.5))
    out_plain, out_structural = plain(x, adj), structural(x, adj)
    assert out_plain.structure_loss is None
    difference = structural.loss(out_structural, labels) - plain.loss(out_plain, labels)
    assert difference.item() == pytest.approx(0.5 * out_structural.structure_loss.item(), abs=1e-5)
    structural.loss(out_structural, labels).backward()
    assert structural.assign_heads[0].weight.grad.abs().sum() > 0
