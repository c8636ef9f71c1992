"""Edge labels: the TU reader loads ``<NAME>_edge_labels.txt`` (MUTAG) aligned with the edges,
batches carry them as edge types, and the ``ecc`` variant reads them one-hot as its edge features
(falling back to one constant feature on datasets without edge labels)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from core.data.batching import collate, prepare_graphs
from core.data.datasets import TUFormatError, load_dataset, read_tu
from core.model.compat import check_compatibility
from core.model.diffpool import DiffPool, mean_adjacency, typed_mean_adjacency
from core.model.inference import predict_logits
from core.train.settings import TrainSettings, feature_spec_for, model_config_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mutag(tu_dir):
    return load_dataset("MUTAG", data_dir=tu_dir, download=False, progress=False)


def _raw_mutag(tu_dir):
    """MUTAG's A lines (0-based global node ids), their edge labels and each node's graph, from the files."""
    folder = tu_dir / "MUTAG"
    lines = np.loadtxt(folder / "MUTAG_A.txt", delimiter=",", dtype=np.int64) - 1
    labels = np.loadtxt(folder / "MUTAG_edge_labels.txt", dtype=np.int64)
    graph_of_node = np.loadtxt(folder / "MUTAG_graph_indicator.txt", dtype=np.int64) - 1
    return lines, labels, graph_of_node


def test_mutag_edge_labels_are_read_and_aligned_with_both_directions_of_every_edge(mutag, tu_dir):
    lines, labels, graph_of_node = _raw_mutag(tu_dir)
    values = np.unique(labels)
    assert mutag.num_edge_labels == len(values) == 4
    first_node = np.searchsorted(graph_of_node, np.arange(len(mutag)))
    looked_up = {}
    for graph_index, graph in enumerate(mutag.graphs):
        assert graph.edge_labels is not None and len(graph.edge_labels) == graph.num_edges
        for (i, j), label in zip(graph.edges.tolist(), graph.edge_labels.tolist()):
            looked_up[(graph_index, i, j)] = label
    checked = 0
    for (u, v), raw in zip(lines.tolist(), labels.tolist()):  # every line, i.e. both directions of each edge
        graph_index = int(graph_of_node[u])
        i, j = sorted((u - first_node[graph_index], v - first_node[graph_index]))
        assert looked_up[(graph_index, i, j)] == int(np.searchsorted(values, raw))
        checked += 1
    assert checked == 7442


def test_datasets_without_an_edge_label_file_have_none(tu_dir):
    enzymes = load_dataset("ENZYMES", data_dir=tu_dir, download=False, progress=False)
    assert enzymes.num_edge_labels == 0 and all(g.edge_labels is None for g in enzymes.graphs[:20])


def test_an_edge_label_file_of_the_wrong_length_is_refused_naming_it(tu_dir, tmp_path):
    folder = tmp_path / "MUTAG"
    shutil.copytree(tu_dir / "MUTAG", folder)
    path = folder / "MUTAG_edge_labels.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-3]) + "\n")
    with pytest.raises(TUFormatError, match="MUTAG_edge_labels.txt"):
        read_tu(folder)


def test_subgraphs_keep_their_edge_labels(mutag):
    graph = mutag.graphs[0]
    part = graph.subgraph(np.arange(8))
    assert part.edge_labels is not None and len(part.edge_labels) == part.num_edges


@pytest.mark.parametrize("adjacency", ["dense", "sparse"])
def test_batches_carry_edge_types_on_both_directions(mutag, adjacency):
    spec = feature_spec_for(mutag, "auto")
    graphs = mutag.graphs[:5]
    batch = collate(prepare_graphs(graphs, spec), adjacency=adjacency)
    codes = batch.edge_types
    if adjacency == "sparse":
        dense = torch.zeros(batch.adj.shape, dtype=torch.long)
        n = batch.adj.num_nodes
        dense.view(-1, n)[batch.adj.rows, batch.adj.cols % n] = codes
        codes = dense
    for b, graph in enumerate(graphs):
        i, j = graph.edges[:, 0], graph.edges[:, 1]
        expected = torch.from_numpy(graph.edge_labels + 1)
        assert torch.equal(codes[b, i, j], expected) and torch.equal(codes[b, j, i], expected)
        assert int((codes[b] > 0).sum()) == 2 * graph.num_edges  # no self-loops in MUTAG


def _ecc(dataset, seed=0):
    torch.manual_seed(seed)
    spec = feature_spec_for(dataset, "auto")
    return DiffPool(model_config_for(dataset, spec, TrainSettings(dataset=dataset.name, variant="ecc"))), spec


def test_ecc_uses_one_hot_edge_labels_where_the_dataset_has_them(mutag, tu_dir):
    model, _ = _ecc(mutag)
    assert model.config.num_edge_types == 4
    assert model.convs[0].filter_net[0].in_features == 4
    enzymes = load_dataset("ENZYMES", data_dir=tu_dir, download=False, progress=False)
    fallback, _ = _ecc(enzymes)
    assert fallback.config.num_edge_types == 1  # no edge labels: one constant edge feature


@pytest.mark.parametrize("adjacency", ["dense", "sparse"])
def test_typed_parts_add_up_to_the_mean_adjacency(mutag, adjacency):
    spec = feature_spec_for(mutag, "auto")
    batch = collate(prepare_graphs(mutag.graphs[:4], spec), adjacency=adjacency)
    parts = typed_mean_adjacency(batch.adj, batch.edge_types, 4)
    dense = [p.to_dense() if adjacency == "sparse" else p for p in parts]
    whole = mean_adjacency(batch.adj)
    whole = whole.to_dense() if adjacency == "sparse" else whole
    torch.testing.assert_close(sum(dense), whole)
    assert all(float(p.sum()) > 0 for p in dense[:3])  # MUTAG's common bond types all occur


def test_ecc_trains_a_few_steps_with_edge_labels_and_reads_them(mutag):
    model, spec = _ecc(mutag)
    batch = collate(prepare_graphs(mutag.graphs[:60], spec))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        model.train()
        return model.loss(model(batch.x, batch.adj, batch.mask, edge_types=batch.edge_types), batch.labels)

    before = float(loss().detach())
    for _ in range(15):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert float(loss().detach()) < 0.9 * before
    model.eval()
    with torch.no_grad():
        relabelled = torch.where(batch.edge_types > 0, 1, 0)  # every edge the first bond type
        assert not torch.allclose(model(batch.x, batch.adj, batch.mask, edge_types=batch.edge_types).logits,
                                  model(batch.x, batch.adj, batch.mask, edge_types=relabelled).logits)
    sparse = collate(prepare_graphs(mutag.graphs[:60], spec), adjacency="sparse")
    with torch.no_grad():
        torch.testing.assert_close(
            model(batch.x, batch.adj, batch.mask, edge_types=batch.edge_types).logits,
            model(sparse.x, sparse.adj, sparse.mask, edge_types=sparse.edge_types).logits, atol=1e-5, rtol=1e-5)
    assert predict_logits(model, mutag.graphs[:10], spec).shape == (10, 2)


def test_ecc_with_edge_labels_refuses_graphs_without_them(mutag):
    model, spec = _ecc(mutag)
    batch = collate(prepare_graphs(mutag.graphs[:3], spec))
    with pytest.raises(ValueError, match="edge labels"):
        model(batch.x, batch.adj, batch.mask)
    card = {"variant": "ecc", "dataset": "MUTAG", "features": {"kind": "labels", "num_node_labels": 7},
            "config": model.config.to_dict()}
    assert check_compatibility(card, dataset_name="MUTAG").ok
    assert "edge labels" in check_compatibility(card, dataset_name="ENZYMES").problem
    assert "edge labels" in check_compatibility(card, dataset_name=None).problem
