"""Known-answer tests of the pooling diagnosis (core/analysis/diagnosis.py)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from core.analysis.diagnosis import diagnose_level, diagnose_trace, partition_modularity, verdict_shares


def _planted(groups: int, size: int, p_in: float, p_out: float, seed: int):
    graph = nx.planted_partition_graph(groups, size, p_in, p_out, seed=seed)
    return nx.to_numpy_array(graph), np.repeat(np.arange(groups), size)


def test_one_hot_planted_partition_is_healthy_with_ratio_near_one():
    adjacency, truth = _planted(4, 25, 0.5, 0.02, seed=1)
    result = diagnose_level(adjacency, np.eye(4)[truth], truth=truth)
    assert result["verdict"] == "healthy"
    assert result["modularity_ratio"] == pytest.approx(1.0, abs=0.05)
    assert result["truth_nmi"] == pytest.approx(1.0)
    assert result["connected_share"] == pytest.approx(1.0)
    assert result["clusters_used"] == 4 and result["entropy_normalised"] == pytest.approx(0.0)


@pytest.mark.parametrize("concentration", [None, 50.0, 8.0])
def test_uniform_and_near_uniform_rows_are_uniform_whatever_the_mass(concentration):
    adjacency, _ = _planted(4, 25, 0.5, 0.02, seed=1)
    if concentration is None:
        assignment = np.full((100, 8), 1 / 8)
    else:
        assignment = np.random.default_rng(0).dirichlet(np.full(8, concentration), 100)
    result = diagnose_level(adjacency, assignment)
    assert result["verdict"] == "uniform"
    assert result["effective_clusters"] > 7.5  # mass alone reads these rows as healthy


def test_all_mass_in_one_cluster_is_collapsed():
    adjacency, _ = _planted(4, 25, 0.5, 0.02, seed=1)
    assignment = np.zeros((100, 6))
    assignment[:, 2] = 0.95
    assignment[:, [0, 1, 3, 4, 5]] = 0.01
    result = diagnose_level(adjacency, assignment)
    assert result["verdict"] == "collapsed"
    assert result["clusters_used"] == 1


def test_confident_27_35_split_at_two_clusters_is_not_collapsed():
    graph = nx.planted_partition_graph(2, 31, 0.4, 0.03, seed=2)
    sides = np.r_[np.zeros(27, int), np.ones(35, int)]
    assignment = np.eye(2)[sides] * 0.98 + 0.01
    result = diagnose_level(nx.to_numpy_array(graph), assignment)
    assert result["verdict"] != "collapsed"
    assert result["entropy_normalised"] < 0.15


def test_clusters_that_copy_scattered_node_labels_are_feature_driven():
    adjacency, _ = _planted(4, 25, 0.5, 0.02, seed=1)
    node_labels = np.random.default_rng(3).integers(0, 3, 100)
    with_labels = diagnose_level(adjacency, np.eye(3)[node_labels], node_labels=node_labels)
    assert with_labels["verdict"] == "feature-driven"
    assert with_labels["label_nmi"] == pytest.approx(1.0)
    # the same partition without labels to blame is still not structure
    assert diagnose_level(adjacency, np.eye(3)[node_labels])["verdict"] == "fragmented"


def test_tiny_graph_split_worse_than_chance_is_not_healthy():
    # A 4-node star has no community structure (Louvain's best is 0, so no ratio); every node
    # alone in its own cluster (PROTEINS #1104's first level under proteins-diffpool-structural) has
    # modularity -1/3: worse than chance, never "healthy".
    star = nx.to_numpy_array(nx.star_graph(3))
    alone = diagnose_level(star, np.eye(8)[[0, 3, 5, 6]] * 0.92 + 0.01)
    assert alone["modularity_ratio"] is None
    assert alone["modularity"] == pytest.approx(-1 / 3)
    assert alone["verdict"] == "fragmented"
    assert any("cut more edges than chance" in reason for reason in alone["reasons"])
    assert alone["explanation"].startswith("Every node is alone in a cluster of its own: the level pools nothing")
    # on a graph with structure the rule stays out of the way: the ratio decides
    adjacency, truth = _planted(2, 10, 0.8, 0.02, seed=5)
    assert diagnose_level(adjacency, np.eye(2)[truth] * 0.98 + 0.01)["verdict"] == "healthy"


def test_clusters_of_an_edgeless_graph_are_not_called_connected_regions():
    # No edges: every node is its own connected piece, so two clusters of three nodes are scattered.
    # It used to read "healthy: ... the clusters are connected regions of the graph".
    split = diagnose_level(np.zeros((6, 6)), np.kron(np.eye(2), np.ones((3, 1))) * 0.98 + 0.01)
    assert split["verdict"] == "fragmented" and split["connected_share"] == pytest.approx(2 / 6)
    assert split["modularity_ratio"] is None and "the graph has no edges" in split["reasons"][0]
    # each node alone in its own cluster stays in one piece: nothing is scattered
    assert diagnose_level(np.zeros((3, 3)), np.eye(3) * 0.97 + 0.01)["connected_share"] == 1.0


def test_a_fragmented_levels_sentence_names_what_is_weak_and_never_contradicts_its_numbers():
    # A triangle split in two: both clusters are connected (share 1.0) but the split cuts more edges
    # than chance. The sentence used to say "not connected regions ... their nodes are scattered".
    triangle = nx.to_numpy_array(nx.complete_graph(3))
    split = diagnose_level(triangle, np.eye(2)[[0, 0, 1]] * 0.98 + 0.01)
    assert split["verdict"] == "fragmented" and split["connected_share"] == 1.0
    assert "connected but cut more edges than chance" in split["explanation"]
    assert "scattered" not in split["explanation"] and "not connected" not in split["explanation"]
    # Every other node of a ring: no cluster has an inner edge, so the nodes are scattered.
    ring = nx.to_numpy_array(nx.cycle_graph(40))
    alternate = diagnose_level(ring, np.eye(2)[np.arange(40) % 2] * 0.98 + 0.01)
    assert alternate["connected_share"] < 0.6 and "scattered over the graph" in alternate["explanation"]
    # Clusters that copy random node labels on a dense planted graph: connected (dense communities) but
    # cutting across the four communities; with the labels to blame, feature-driven for that reason.
    adjacency, _ = _planted(4, 25, 0.5, 0.02, seed=1)
    node_labels = np.random.default_rng(3).integers(0, 3, 100)
    across = diagnose_level(adjacency, np.eye(3)[node_labels])
    assert across["verdict"] == "fragmented" and across["connected_share"] >= 0.6
    assert "connected but" in across["explanation"] and "scattered" not in across["explanation"]
    labelled = diagnose_level(adjacency, np.eye(3)[node_labels], node_labels=node_labels)
    assert labelled["verdict"] == "feature-driven"
    assert labelled["explanation"].startswith("Clusters follow the node labels, not the graph: the clusters are "
                                              "connected but")


def test_a_healthy_level_with_a_few_stray_nodes_says_mostly_connected_with_the_share():
    from core.analysis.diagnosis import explain

    stray = explain("healthy", 0.76, 0.73, 0.62)
    assert "mostly connected regions of the graph (73% of the nodes lie in their cluster's largest" in stray
    assert "mostly" not in explain("healthy", 0.76, 0.97, 0.62)
    # end to end: two cliques, one node of each put in the other's cluster (not joined to it)
    adjacency = np.kron(np.eye(2), np.ones((10, 10))) - np.eye(20)
    hard = np.repeat([0, 1], 10)
    hard[[0, 10]] = [1, 0]
    level = diagnose_level(adjacency, np.eye(2)[hard] * 0.98 + 0.01)
    assert level["verdict"] == "healthy" and level["connected_share"] == pytest.approx(0.9)
    assert "mostly connected regions of the graph (90% of the nodes" in level["explanation"]


def test_sparse_and_dense_adjacency_give_the_same_numbers():
    adjacency, truth = _planted(3, 20, 0.4, 0.05, seed=4)
    assignment = np.random.default_rng(1).dirichlet(np.ones(5) * 0.3, 60)
    dense = diagnose_level(adjacency, assignment)
    sparse = diagnose_level(sp.csr_matrix(adjacency), assignment)
    for key in ("modularity", "modularity_louvain", "connected_share", "entropy_normalised", "conductance"):
        assert dense[key] == pytest.approx(sparse[key])


def test_modularity_matches_networkx():
    graph = nx.karate_club_graph()
    labels = np.array([0 if graph.nodes[i]["club"] == "Mr. Hi" else 1 for i in graph])
    expected = nx.community.modularity(graph, [set(np.flatnonzero(labels == c)) for c in (0, 1)], weight=None)
    ours = partition_modularity(sp.csr_matrix(nx.to_numpy_array(graph, weight=None)), labels)
    assert ours == pytest.approx(expected)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="square"):
        diagnose_level(np.zeros((3, 4)), np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="rows"):
        diagnose_level(np.zeros((3, 3)), np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="sum to 1"):
        diagnose_level(np.zeros((3, 3)), np.full((3, 2), 0.7))


def test_trace_levels_are_judged_on_their_own_graphs_and_truth_through_composition():
    from core.model.trace import GraphTrace, LevelTrace

    adjacency, truth = _planted(4, 10, 0.8, 0.01, seed=5)
    level0 = np.eye(4)[truth]
    level1 = np.eye(2)[[0, 0, 1, 1]]
    coarse0 = level0.T @ adjacency @ level0
    levels = [
        LevelTrace(assignment=s, coarsened_adjacency=c, pooled_features=np.zeros((s.shape[1], 1)),
                   node_embeddings=np.zeros((s.shape[0], 1)), node_entropy=np.zeros(s.shape[0]),
                   link_loss=0.0, entropy_loss=0.0)
        for s, c in ((level0, coarse0), (level1, level1.T @ coarse0 @ level1))
    ]
    trace = GraphTrace(levels=levels, adjacency=adjacency, final_embeddings=np.zeros((2, 1)),
                       graph_embedding=np.zeros(1))
    result = diagnose_trace(trace, truth=truth // 2)
    assert [r["level"] for r in result] == [0, 1]
    assert result[1]["num_nodes"] == 4 and result[1]["truth_nmi"] == pytest.approx(1.0)
    shares = verdict_shares([result, result])
    assert shares[0]["graphs"] == 2 and sum(shares[0]["shares"].values()) == pytest.approx(1.0)


# ---------------------------------------------------------------- one collapse rule everywhere
@pytest.mark.parametrize("case", ["split_27_35", "dominant_95", "uniform_one_argmax", "one_cluster", "balanced"])
def test_assignment_stats_collapse_flag_agrees_with_the_verdict(case):
    from core.analysis.assignments import assignment_stats

    adjacency, _ = _planted(2, 31, 0.4, 0.03, seed=2)
    n = adjacency.shape[0]
    if case == "split_27_35":
        assignment = np.eye(2)[np.r_[np.zeros(27, int), np.ones(35, int)]] * 0.98 + 0.01
    elif case == "dominant_95":
        assignment = np.eye(2)[(np.arange(n) >= 59).astype(int)]
    elif case == "uniform_one_argmax":  # nearly uniform rows that all lean to cluster 0
        assignment = np.full((n, 4), 0.249)
        assignment[:, 0] = 0.253
    elif case == "one_cluster":
        assignment = np.ones((n, 1))
    else:
        assignment = np.eye(2)[np.arange(n) % 2]
    stats = assignment_stats(assignment)
    verdict = diagnose_level(adjacency, assignment)["verdict"]
    assert stats["collapsed"] == (verdict == "collapsed"), (case, verdict)
    assert stats["collapsed"] == (case in ("dominant_95", "one_cluster"))


# ---------------------------------------------------------------- the command line
def test_cli_json_matches_the_in_process_diagnosis(tmp_path, one_torch_thread):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from core.model.checkpoint import load_checkpoint
    from core.data.datasets import load_dataset
    from core.model.inference import trace_graphs

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "core.diagnose", "--model", "synthetic-hierarchy-diffpool", "--dataset",
         "synthetic-hierarchy", "--graphs", "3,7", "--json"],
        cwd=root, capture_output=True, text=True, timeout=300, check=True)
    document = json.loads(done.stdout)
    assert [g["index"] for g in document["graphs"]] == [3, 7]
    assert document["truth"] == "community"
    assert [row["graphs"] for row in document["shares"]] == [2, 2]
    for row in document["shares"]:
        assert sum(row["shares"].values()) == pytest.approx(1.0)

    model, spec, card = load_checkpoint(root / "pretrained" / "synthetic-hierarchy-diffpool")
    graph = load_dataset("synthetic-hierarchy")[7]
    trace = trace_graphs(model, [graph], spec, [7], seed=card["seed"])[0]
    expected = diagnose_trace(trace, graph.node_labels, graph.node_data["community"])
    printed = document["graphs"][1]["levels"]
    assert [level["verdict"] for level in printed] == [level["verdict"] for level in expected]
    for got, want in zip(printed, expected):
        for key in ("modularity", "modularity_louvain", "connected_share", "entropy_normalised", "truth_nmi"):
            assert got[key] == pytest.approx(want[key], abs=1e-6), key


def test_cli_rejects_an_out_of_range_graph_with_a_clear_message(capsys):
    from core.diagnose import main

    with pytest.raises(SystemExit) as stop:
        main(["--model", "synthetic-hierarchy-diffpool", "--dataset", "synthetic-hierarchy", "--graphs", "100000"])
    assert stop.value.code == 2
    assert "out of range" in capsys.readouterr().err


@pytest.mark.parametrize("argv, fragment", [
    (["--model", "no-such-model", "--dataset", "synthetic-hierarchy"], "no model 'no-such-model'"),
    # a model reading ENZYMES' node labels and attributes on another dataset
    (["--model", "enzymes-diffpool", "--dataset", "synthetic-hierarchy"],
     "enzymes-diffpool cannot run on synthetic-hierarchy: it reads ENZYMES's node labels"),
    # no pooling level: nothing to diagnose
    (["--model", "enzymes-baseline", "--dataset", "ENZYMES"], "baseline variant: no pooling"),
])
def test_cli_refuses_a_missing_or_unfit_model_in_words(argv, fragment, tu_dir, capsys):
    from core.diagnose import main

    with pytest.raises(SystemExit) as stop:
        main([*argv, "--data-dir", str(tu_dir), "--no-download"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and fragment in err and "Traceback" not in err


def test_cli_warns_on_stderr_when_the_model_was_trained_on_another_dataset(tu_dir, capsys, one_torch_thread):
    from core.diagnose import main

    if not (tu_dir / "MUTAG").is_dir():
        pytest.skip("MUTAG not in the TU test data")
    assert main(["--model", "synthetic-hierarchy-diffpool", "--dataset", "MUTAG", "--data-dir", str(tu_dir),
                 "--no-download", "--graphs", "0"]) == 0
    out = capsys.readouterr()
    assert "warning: This model was trained on synthetic-hierarchy, not MUTAG" in out.err
    assert out.out.startswith("model synthetic-hierarchy-diffpool on MUTAG") and "warning" not in out.out
    assert main(["--model", "synthetic-hierarchy-diffpool", "--dataset", "synthetic-hierarchy"]) == 0
    assert "warning" not in capsys.readouterr().err  # its own dataset: nothing to warn about


def test_cli_names_its_own_flag_for_a_missing_dataset(tmp_path, monkeypatch, capsys):
    from core.diagnose import main

    monkeypatch.setenv("DIFFPOOL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as stop:
        main(["--model", "proteins-diffpool-structural", "--dataset", "PROTEINS", "--data-dir", str(tmp_path),
              "--no-download"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "dataset 'PROTEINS' not found" in err
    assert "run without --no-download to fetch it" in err and "download=True" not in err


def test_card_structure_words_short_and_long_agree_and_rank_the_rest_by_share():
    from core.model.card import structure_sentences, structure_summary

    structure = {"levels": [
        {"level": 1, "clusters": 8, "verdict": "feature-driven", "modularity_ratio": 0.21, "label_nmi": 0.91,
         "shares": {"healthy": 0.1, "collapsed": 0.002, "uniform": 0.3, "feature-driven": 0.598, "fragmented": 0.0}},
        {"level": 2, "clusters": 2, "verdict": "healthy", "modularity_ratio": None,
         "shares": {"healthy": 1.0, "collapsed": 0.0, "uniform": 0.0, "feature-driven": 0.0, "fragmented": 0.0}},
    ]}
    assert structure_summary(structure) == "level 1 feature-driven (60%), level 2 healthy (100%)"
    assert structure_sentences(structure) == [
        "level 1 (8 clusters): feature-driven on 60% of graphs, uniform 30%, healthy 10%; "
        "modularity 0.21 of Louvain's; NMI with the node labels 0.91",
        "level 2 (2 clusters): healthy on 100% of graphs",
    ]
    assert structure_summary(None) is None and structure_summary({"levels": []}) is None


def test_a_healthy_levels_sentence_says_how_modular_it_is_against_louvain():
    """Healthy needs only 0.3 of Louvain's modularity: two clusters over a ring of four cliques (0.68) must
    not read like the four cliques themselves (1.0)."""
    adjacency = nx.to_numpy_array(nx.ring_of_cliques(4, 6))
    halves = diagnose_level(adjacency, np.kron(np.eye(2), np.ones((12, 1))))
    cliques = diagnose_level(adjacency, np.kron(np.eye(4), np.ones((6, 1))))
    assert halves["verdict"] == cliques["verdict"] == "healthy"
    assert halves["modularity_ratio"] == pytest.approx(0.68, abs=0.01)
    assert "less modular than Louvain's communities (0.68" in halves["explanation"]
    assert "about as modular as Louvain's communities (1.00" in cliques["explanation"]
    assert "about as modular" not in halves["explanation"]
