"""Tests for core/data/features.py: which node features a dataset gets by default."""

from __future__ import annotations

import pytest

from core.data.features import default_feature_spec
from core.data.graphs import GraphDataset


@pytest.mark.parametrize("labels, attributes, expected", [
    (3, 18, "labels+attributes"),   # ENZYMES
    (82, 0, "labels"),              # D&D
    (0, 0, "degree"),               # IMDB-BINARY
    (1, 0, "degree"),               # COLLAB from the DGCNN format: every node tagged 0
    (1, 2, "attributes"),
])
def test_default_features_ignore_a_node_label_with_one_value(labels, attributes, expected):
    dataset = GraphDataset("toy", [], ["a", "b"], num_node_labels=labels, node_attribute_dim=attributes)
    spec = default_feature_spec(dataset)
    assert spec.kind == expected
    if expected == "degree":
        assert spec.dim > 1  # a constant one-hot would carry nothing


def test_remembered_eigenvectors_are_the_computed_ones_kept_read_only_on_the_graph():
    import numpy as np

    from core.data.features import laplacian_eigenvectors, remember_eigenvectors
    from core.data.synthetic import make_synthetic_hierarchy

    graphs = make_synthetic_hierarchy(num_graphs=3, seed=4).graphs
    fresh = [laplacian_eigenvectors(g, 6) for g in graphs]
    assert all("_eigenvectors" not in g.__dict__ for g in graphs)  # nothing kept unless asked
    remember_eigenvectors(graphs[:2])
    first = laplacian_eigenvectors(graphs[0], 6)
    np.testing.assert_array_equal(first, fresh[0])
    assert laplacian_eigenvectors(graphs[0], 6) is first and not first.flags.writeable
    assert laplacian_eigenvectors(graphs[0], 4) is not first  # another width is another entry
    np.testing.assert_array_equal(laplacian_eigenvectors(graphs[0], 4), fresh[0][:, :4])
    assert laplacian_eigenvectors(graphs[2], 6) is not laplacian_eigenvectors(graphs[2], 6)
    # a graph given other edges is computed again, not served the old graph's vectors
    graphs[1].edges = graphs[1].edges[: len(graphs[1].edges) // 2].copy()
    np.testing.assert_array_equal(laplacian_eigenvectors(graphs[1], 6),
                                  laplacian_eigenvectors(type(graphs[1])(graphs[1].num_nodes, graphs[1].edges), 6))
