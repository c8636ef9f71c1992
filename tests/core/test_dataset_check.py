"""Dataset sanity on load: the one-line check, and damaged copies of ENZYMES refused unless accepted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.data.datasets import DamagedDatasetError, check_dataset, load_dataset, read_tu
from core.train.cli import main as train_main


def _copy_enzymes(tu_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "ENZYMES"
    shutil.copytree(tu_dir / "ENZYMES", folder)
    return folder


def _cut_edge_file(folder: Path, keep_fraction: float) -> None:
    """Cut ENZYMES_A.txt at a line boundary, as an interrupted copy would."""
    path = folder / "ENZYMES_A.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: int(len(lines) * keep_fraction)]))


def test_original_enzymes_passes_with_a_one_line_summary(tu_dir):
    dataset = read_tu(tu_dir / "ENZYMES")
    check = dataset.meta["check"]
    assert check["graphs"] == 600 and check["edgeless"] == 0 and not check["truncated"]
    assert check["summary"].startswith("ENZYMES: 600 graphs, 0 edgeless") and "\n" not in check["summary"]
    assert check["isolated_nodes"] > 0  # ENZYMES has some isolated nodes; they are counted, not refused


def test_edge_file_cut_at_a_line_boundary_is_refused_unless_accepted(tu_dir, tmp_path):
    folder = _copy_enzymes(tu_dir, tmp_path)
    _cut_edge_file(folder, 0.55)
    with pytest.raises(DamagedDatasetError) as error:
        read_tu(folder)
    message = str(error.value)
    assert "ENZYMES_A.txt looks truncated" in message and "accept_damaged=True" in message
    assert "--accept-damaged-data" in message
    dataset = read_tu(folder, accept_damaged=True)
    check = dataset.meta["check"]
    edgeless = sum(g.num_edges == 0 for g in dataset.graphs)
    assert check["edgeless"] == check["trailing_edgeless"] == edgeless > 200
    assert f"the last {edgeless} of 600 graphs have no edges" in check["truncated"]


def test_emptied_edge_file_is_refused_and_counted(tu_dir, tmp_path):
    folder = _copy_enzymes(tu_dir, tmp_path)
    (folder / "ENZYMES_A.txt").write_text("")
    with pytest.raises(DamagedDatasetError, match="all 600 graphs have no edges"):
        load_dataset("ENZYMES", data_dir=tmp_path, download=False)
    dataset = load_dataset("ENZYMES", data_dir=tmp_path, download=False, accept_damaged=True)
    assert dataset.meta["check"]["edgeless"] == 600 and dataset.meta["check"]["isolated_heavy"] == 600


def test_a_few_edgeless_graphs_in_the_middle_are_reported_not_refused(tu_dir):
    dataset = read_tu(tu_dir / "ENZYMES")
    for graph in dataset.graphs[10:13]:  # drop the edges of three graphs in the middle
        graph.edges = graph.edges[:0]
        if graph.edge_weight is not None:
            graph.edge_weight = graph.edge_weight[:0]
    check = check_dataset(dataset)
    assert check["edgeless"] == 3 and check["trailing_edgeless"] == 0 and not check["truncated"]
    assert "3 edgeless" in check["summary"] and "TRUNCATED" not in check["summary"]


def test_cli_stops_on_a_truncated_dataset_and_the_flag_accepts_it(tu_dir, tmp_path, capsys, one_torch_thread):
    folder = _copy_enzymes(tu_dir, tmp_path / "data")
    _cut_edge_file(folder, 0.55)
    base = ["--dataset", "ENZYMES", "--data-dir", str(tmp_path / "data"), "--no-download", "--folds", "2",
            "--epochs", "1", "--subset", "24", "--quiet", "--device", "cpu"]
    assert train_main(base) == 2
    assert "looks truncated" in capsys.readouterr().err
    assert train_main(base + ["--accept-damaged-data"]) == 0
    assert "dataset check: ENZYMES: 600 graphs" in capsys.readouterr().err
