"""core.model.compat.check_compatibility: the one model–data compatibility rule set."""

from __future__ import annotations

from core.model.compat import check_compatibility
from core.data.features import FeatureSpec
from core.data.synthetic import make_sbm_graph

GRAPH = make_sbm_graph([5, 5], p_in=0.8, p_out=0.1, seed=0)


def _card(kind="degree", variant="diffpool", dataset="ENZYMES", input_dim=None, num_classes=6, **spec):
    features = FeatureSpec(kind, **spec)
    return {"variant": variant, "dataset": dataset, "features": features.to_dict(),
            "config": {"input_dim": features.dim if input_dim is None else input_dim, "num_classes": num_classes}}


def test_structure_only_model_runs_anywhere_with_a_warning_elsewhere():
    result = check_compatibility(_card(), dataset_name="PROTEINS", sample_graph=GRAPH, num_classes=2)
    assert result.ok
    assert "trained on **ENZYMES**, not PROTEINS" in result.warning and "predicts 6 classes" in result.warning
    assert check_compatibility(_card(), dataset_name="enzymes", sample_graph=GRAPH, num_classes=6).warning is None


def test_dataset_coded_features_refuse_other_datasets_and_uploads():
    labels = _card("labels", num_node_labels=3)
    assert "codes differently" in check_compatibility(labels, dataset_name="PROTEINS").problem
    assert "uploaded graph does not carry" in check_compatibility(labels).problem
    assert check_compatibility(labels, dataset_name="ENZYMES").ok


def test_width_mismatch_and_missing_features_are_problems():
    wrong = _card(input_dim=99)
    assert "expects 99 input features" in check_compatibility(wrong, dataset_name="ENZYMES", sample_graph=GRAPH).problem
    labels = _card("labels", num_node_labels=3)
    assert "needs node labels" in check_compatibility(labels, dataset_name="ENZYMES", sample_graph=GRAPH).problem


def test_pooling_is_required_only_when_asked():
    sage = _card(variant="graphsage")
    assert check_compatibility(sage).ok
    assert check_compatibility(sage, need_pooling=True).problem == "graphsage variant: no pooling, so no clusters"


def test_unreadable_feature_description_is_a_problem_not_a_crash():
    assert "no usable feature description" in check_compatibility({"variant": "diffpool", "features": {}}).problem
