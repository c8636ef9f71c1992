"""CUDA gives the CPU's numbers: every variant, dense and sparse adjacency, forward and gradients.

Skipped without a CUDA GPU (CI has none); run on a GPU machine with
``python3 -m pytest -q tests/core/test_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.data.adjacency import SparseAdjacency
from core.data.batching import collate, prepare_graphs
from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.model.diffpool import VARIANTS, DiffPool, DiffPoolConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

GPU = "cuda"
SPEC = FeatureSpec("attributes", attribute_dim=4)


def _graphs(count: int = 6) -> list[Graph]:
    rng = np.random.default_rng(0)
    graphs = []
    for index in range(count):
        n = int(rng.integers(8, 20))
        pairs = [(i, i + 1) for i in range(n - 1)] + [
            (i, j) for i in range(n) for j in range(i + 2, n) if rng.random() < 0.2]
        graphs.append(Graph.from_edge_list(n, np.array(pairs), label=index % 2,
                                           node_attributes=rng.standard_normal((n, 4)).astype(np.float32)))
    return graphs


@pytest.mark.parametrize("adjacency", ["dense", "sparse"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_cuda_matches_cpu(variant, adjacency):
    graphs = _graphs()
    config = DiffPoolConfig(input_dim=4, num_classes=2, variant=variant, hidden_dim=8, embedding_dim=8,
                            max_nodes=20, assign_ratio=0.25, structure_loss_weight=0.5)
    torch.manual_seed(0)
    model_cpu = DiffPool(config)
    model_gpu = DiffPool(DiffPoolConfig.from_dict(config.to_dict())).to(GPU)
    model_gpu.load_state_dict(model_cpu.state_dict())
    prepared = prepare_graphs(graphs, SPEC, config.variant, config.cluster_counts, 0, list(range(len(graphs))))
    results = []
    for model, device in ((model_cpu, "cpu"), (model_gpu, GPU)):
        model.eval()  # dropout (sortpool's MLP) draws from different generators on CPU and CUDA
        batch = collate(prepared, torch.device(device), adjacency=adjacency)
        assert isinstance(batch.adj, SparseAdjacency) == (adjacency == "sparse")
        output = model(batch.x, batch.adj, batch.mask, batch.fixed)
        loss = model.loss(output, batch.labels)
        model.zero_grad()
        loss.backward()
        gradients = [p.grad.detach().cpu() if p.grad is not None else None for p in model.parameters()]
        results.append((output.logits.detach().cpu(), loss.detach().cpu(), gradients))
    (logits_cpu, loss_cpu, grads_cpu), (logits_gpu, loss_gpu, grads_gpu) = results
    torch.testing.assert_close(logits_gpu, logits_cpu, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(loss_gpu, loss_cpu, atol=1e-4, rtol=1e-4)
    for grad_cpu, grad_gpu in zip(grads_cpu, grads_gpu):
        assert (grad_cpu is None) == (grad_gpu is None)
        if grad_cpu is not None:
            torch.testing.assert_close(grad_gpu, grad_cpu, atol=1e-3, rtol=1e-3)
