"""Graphs and where they come from: the Graph record, TU datasets (read, checked, downloaded), the
synthetic planted hierarchy, file formats (``core.data.io``), node features, and padded batches."""

from core.data.datasets import (  # noqa: F401
    KNOWN_DATASETS,
    SYNTHETIC_NAME,
    DamagedDatasetError,
    canonical_name,
    check_dataset,
    load_dataset,
    read_tu,
    resolve_data_dir,
)
from core.data.features import FEATURE_KINDS, STRUCTURAL_KINDS, FeatureSpec, default_feature_spec  # noqa: F401
from core.data.graphs import Graph, GraphDataset  # noqa: F401
