"""Pure helpers of the upload page (viz_app/upload_logic.py)."""

from __future__ import annotations

import numpy as np

from core import analysis
from core.data.graphs import Graph
from core.data.io.reader import read_graph
from viz_app import upload_logic as logic


def test_only_structure_only_pooling_models_are_compatible():
    assert logic.model_compatibility({"variant": "diffpool", "features": {"kind": "degree"}})[0]
    assert logic.model_compatibility({"variant": "random", "features": {"kind": "constant"}})[0]
    ok, why = logic.model_compatibility({"variant": "diffpool", "features": {"kind": "labels+attributes"}})
    assert not ok and "labels+attributes" in why
    ok, why = logic.model_compatibility({"variant": "graphsage", "features": {"kind": "degree"}})
    assert not ok and "no pooling" in why


def test_split_compatible_keeps_order_and_gives_reasons():
    entries = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    cards = [{"variant": "diffpool", "features": {"kind": "degree"}},
             {"variant": "diffpool", "features": {"kind": "labels"}},
             {"variant": "diffpool-nolp", "features": {"kind": "constant"}}]
    usable, refused = logic.split_compatible(entries, cards)
    assert [e["name"] for e in usable] == ["a", "c"]
    assert refused[0]["name"] == "b" and "labels" in refused[0]["reason"]


def test_attribute_labels_maps_categories_in_first_seen_order_and_missing_apart():
    assert logic.attribute_labels(["Mr. Hi", "Officer", "Mr. Hi"]).tolist() == [0, 1, 0]
    assert logic.attribute_labels([1, 1.0, 2, None]).tolist() == [0, 0, 1, 2]


def test_ground_truth_candidates_skip_id_like_and_constant_attributes():
    node_data = {"id": [0, 1, 2, 3], "same": [1, 1, 1, 1], "club": ["a", "a", "b", "b"], "short": [1]}
    assert logic.ground_truth_candidates(node_data, 4) == ["club"]


def test_comparison_rows_include_quality_and_symmetric_agreement():
    graph = Graph.from_edge_list(6, [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)])
    clusterings = {"a": np.array([0, 0, 0, 1, 1, 1]), "b": np.array([1, 1, 1, 0, 0, 0]), "c": np.array([0, 0, 1, 1, 2, 2])}
    rows = logic.comparison_rows(analysis.clustering_report(graph, clusterings, ground_truth=[0, 0, 0, 1, 1, 1]))
    assert [r["clustering"] for r in rows] == ["a", "b", "c", "ground truth"]
    assert rows[0]["NMI vs b"] == rows[1]["NMI vs a"] == 1.0
    assert rows[2]["ARI vs a"] == rows[0]["ARI vs c"] < 1.0
    assert rows[0]["clusters"] == 2 and rows[2]["clusters"] == 3
    assert rows[0]["modularity"] > rows[2]["modularity"]
    assert rows[3]["NMI vs a"] == 1.0


def test_default_cluster_counts_stay_in_range():
    assert logic.default_cluster_counts(2) == [2]
    assert logic.default_cluster_counts(10**6, 2) == [64, 16]
    assert len(logic.default_cluster_counts(100, 1)) == 1


def test_export_columns_are_renamed_when_the_file_uses_the_name():
    columns = logic.export_cluster_columns({"louvain": np.zeros(2), "spectral": np.ones(2)}, ["louvain", "louvain_1"])
    assert list(columns) == ["louvain_2", "spectral"]


def test_drawing_note_only_for_large_graphs():
    assert logic.drawing_note(2000) is None
    assert "sample of 2,000" in logic.drawing_note(2001)


def test_heatmap_rows_sample_evenly_beyond_the_limit():
    order = np.arange(1000)[::-1]
    rows = logic.heatmap_rows(1000, order, limit=100)
    assert len(rows) == 100 and rows[0] == 999 and rows[-1] == 0
    assert logic.heatmap_rows(5, np.arange(5), limit=100).tolist() == [0, 1, 2, 3, 4]


def test_shipped_examples_are_small_and_readable():
    folder = logic.Path(logic.__file__).parent / "examples"
    names = logic.example_files(folder)
    assert {"karate-club.gml", "planted-4-blocks.graphml", "les-miserables.edgelist"} <= set(names)
    for name in names:
        path = folder / name
        assert path.stat().st_size < 20_000, name
        graph = read_graph(path)
        assert graph.num_nodes > 10 and graph.num_edges > 10
    karate = read_graph(folder / "karate-club.gml")
    assert logic.ground_truth_candidates(karate.node_data, karate.num_nodes) == ["club"]


def test_file_digest_depends_on_content_only():
    assert logic.file_digest(b"a b\n") == logic.file_digest(bytearray(b"a b\n")) != logic.file_digest(b"a c\n")


def test_fit_verdict_is_healthy_only_when_every_level_is():
    from viz_app.upload_logic import fit_verdict

    healthy = {"verdict": "healthy", "explanation": "Fine.", "entropy_normalised": 0.05, "clusters_used": 4}
    uniform = {"verdict": "uniform", "explanation": "Undecided.", "entropy_normalised": 0.97, "clusters_used": 1}
    assert fit_verdict([healthy, healthy], [8, 4])["healthy"]
    mixed = fit_verdict([healthy, uniform], [8, 4])
    assert not mixed["healthy"] and len(mixed["lines"]) == 2
    assert mixed["lines"][1].startswith("Level 2 (4 clusters): **uniform**")
    assert "fewer clusters" in mixed["lines"][1] and "0.97" in mixed["lines"][1]
    assert "Try" not in mixed["lines"][0]
    assert not fit_verdict([], [8])["healthy"]  # no diagnosis: never green


def test_list_valued_attributes_are_ground_truth_candidates_scored_by_their_first_group():
    values = [[0], [0], [0, 1], [1], [1], [1]]
    assert logic.ground_truth_candidates({"community": values, "name": list("abcdef")}, 6) == ["community"]
    assert logic.truth_labels(values).tolist() == [0, 0, 0, 1, 1, 1]
    assert logic.truth_labels(["x", "y", "x"]).tolist() == [0, 1, 0]
