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
