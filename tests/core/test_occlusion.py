"""Per-cluster occlusion (core.model.inference.cluster_occlusion): removing a cluster's column of S."""

from __future__ import annotations

import copy

import networkx as nx
import numpy as np
import pytest
import torch

from core.data.features import FeatureSpec
from core.data.graphs import Graph
from core.model.inference import cluster_occlusion, trace_graphs
from core.model.diffpool import DiffPool, DiffPoolConfig

SPEC = FeatureSpec("degree", max_degree=20)


def _graph(seed: int = 3) -> Graph:
    nx_graph = nx.planted_partition_graph(3, 10, 0.6, 0.05, seed=seed)
    return Graph.from_edge_list(30, np.array(list(nx_graph.edges())), label=0)


def _model(variant: str, num_pooling: int = 2) -> DiffPool:
    torch.manual_seed(0)
    config = DiffPoolConfig(input_dim=SPEC.dim, num_classes=3, variant=variant, num_pooling=num_pooling,
                            assign_ratio=0.25, max_nodes=30)
    return DiffPool(config).eval()


def test_removing_a_cluster_matches_a_model_that_cannot_assign_to_it(one_torch_thread):
    graph, model = _graph(), _model("diffpool")
    result = cluster_occlusion(model, graph, SPEC, level=0)
    assert result["deltas"].shape == (model.config.cluster_counts[0],)
    for k in (0, 3):
        blocked = copy.deepcopy(model)
        with torch.no_grad():
            blocked.assign_heads[0].bias[k] = -1e4  # softmax gives cluster k nothing
        blocked_trace = trace_graphs(blocked, [graph], SPEC)[0]
        probability = blocked_trace.probabilities[result["target"]]
        assert result["probability"] + result["deltas"][k] == pytest.approx(float(probability), abs=1e-5)
        full = trace_graphs(model, [graph], SPEC)[0].logits.astype(np.float64)
        odds = _log_odds(blocked_trace.logits.astype(np.float64), result["target"]) - _log_odds(full, result["target"])
        assert result["log_odds_deltas"][k] == pytest.approx(odds, abs=1e-3)


def _log_odds(logits: np.ndarray, target: int) -> float:
    others = np.delete(logits, target)
    return float(logits[target] - np.log(np.exp(others - others.max()).sum()) - others.max())


@pytest.mark.parametrize("variant", ["diffpool", "random"])
def test_batching_the_copies_does_not_change_the_deltas(variant, one_torch_thread):
    graph, model = _graph(), _model(variant)
    whole = cluster_occlusion(model, graph, SPEC, level=1, index=4)
    one_by_one = cluster_occlusion(model, graph, SPEC, level=1, index=4, max_batch_elements=1)
    assert np.allclose(whole["deltas"], one_by_one["deltas"], atol=1e-6)
    assert whole["node_effect"].shape == (graph.num_nodes,)
    trace = trace_graphs(model, [graph], SPEC, [4])[0]
    membership = trace.levels[0].assignment @ trace.levels[1].assignment
    assert np.allclose(whole["node_effect"], membership @ whole["deltas"], atol=1e-5)


def test_fixed_assignment_with_the_cluster_column_removed_moves_the_prediction(one_torch_thread):
    graph, model = _graph(), _model("random", num_pooling=1)
    result = cluster_occlusion(model, graph, SPEC, level=0, index=0)
    assert np.abs(result["deltas"]).max() > 0  # random clusters still carry features to the readout
    assert np.all(np.abs(result["deltas"]) <= 1.0)


def test_occlusion_errors_name_the_problem():
    graph, model = _graph(), _model("diffpool", num_pooling=1)
    with pytest.raises(ValueError, match="level must be in 0..0"):
        cluster_occlusion(model, graph, SPEC, level=1)
    with pytest.raises(ValueError, match="target class 7"):
        cluster_occlusion(model, graph, SPEC, target=7)
