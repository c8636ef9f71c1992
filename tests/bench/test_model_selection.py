"""bench/model_selection.py: per-fold choice by validation accuracy over runs already on disk."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from bench import model_selection
from bench.model_selection import Candidate, SelectionError, select_per_fold
from core import train


def _fold(val: float, test: float, test_indices=(0, 1), val_indices=(2,)) -> dict:
    return {"val_acc": val, "test_acc": test, "test_indices": list(test_indices), "val_indices": list(val_indices)}


def test_each_fold_takes_the_test_accuracy_of_its_best_validation_setting():
    reference = Candidate("reference", Path("."), {}, {0: _fold(0.50, 0.60), 1: _fold(0.80, 0.70), 2: _fold(0.40, 0.9)})
    wide = Candidate("wide", Path("."), {}, {0: _fold(0.70, 0.40), 1: _fold(0.80, 0.10), 2: _fold(0.60, 0.5)})
    result = select_per_fold([reference, wide])
    # fold 0: wide (0.70 > 0.50); fold 1: a tie goes to the earlier candidate; fold 2: wide.
    assert [row["chosen"] for row in result["per_fold"]] == ["wide", "reference", "wide"]
    assert [row["test_acc"] for row in result["per_fold"]] == [0.40, 0.70, 0.5]
    assert result["mean"] == pytest.approx(statistics.fmean([40.0, 70.0, 50.0]))
    assert result["std"] == pytest.approx(statistics.pstdev([40.0, 70.0, 50.0]))
    assert result["chosen_counts"] == {"reference": 1, "wide": 2}


def test_runs_on_other_folds_cannot_be_compared():
    reference = Candidate("reference", Path("."), {}, {0: _fold(0.5, 0.6)})
    other_split = Candidate("other", Path("."), {}, {0: _fold(0.9, 0.9, test_indices=(0, 3))})
    with pytest.raises(SelectionError, match="different test or validation graphs"):
        select_per_fold([reference, other_split])
    fewer = Candidate("fewer", Path("."), {}, {})
    with pytest.raises(SelectionError, match="has folds"):
        select_per_fold([reference, fewer])
    with pytest.raises(SelectionError, match="at least two"):
        select_per_fold([reference])


@pytest.fixture(scope="module")
def two_runs(tu_dir, tmp_path_factory):
    """Two real core.train runs on the same 2 folds of 40 ENZYMES graphs: hidden 30 (reference) and 16."""
    root = tmp_path_factory.mktemp("selection") / "results"
    folders = []
    for name, hidden in (("reference", "30"), ("narrow", "16")):
        folder = root / name / "ENZYMES-diffpool"
        code = train.main(["--dataset", "ENZYMES", "--data-dir", str(tu_dir), "--no-download", "--folds", "2",
                           "--epochs", "2", "--subset", "40", "--hidden-dim", hidden, "--out", str(folder), "--quiet"])
        assert code == 0
        folders.append(folder)
    return root, folders


def test_cli_selects_over_real_run_folders_and_writes_its_table(two_runs, tmp_path):
    root, (reference, narrow) = two_runs
    code = model_selection.main(["--runs", f"reference={reference}", f"narrow={narrow}", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "model_selection.json").read_text())
    cell = report["cells"][0]
    assert (cell["dataset"], cell["variant"]) == ("ENZYMES", "diffpool")
    assert [c["settings"] for c in cell["candidates"]] == ["hidden_dim=30", "hidden_dim=16"]
    folds = {name: {json.loads(p.read_text())["fold"]: json.loads(p.read_text())
                    for p in (folder / "folds").glob("fold-*.json")}
             for name, folder in (("reference", reference), ("narrow", narrow))}
    for row in cell["selection"]["per_fold"]:
        k = row["fold"]
        best = "narrow" if folds["narrow"][k]["val_acc"] > folds["reference"][k]["val_acc"] else "reference"
        assert row["chosen"] == best and row["test_acc"] == folds[best][k]["test_acc"]
    markdown = (tmp_path / "model_selection.md").read_text()
    assert "Selected by validation:" in markdown and "`reference`" in markdown

    # Discovery finds both folders of the cell under a results root; a missing cell is an error.
    assert model_selection.main(["--results-root", str(root), "--datasets", "ENZYMES", "--variants", "diffpool",
                                 "--out", str(tmp_path / "found")]) == 0
    found = json.loads((tmp_path / "found" / "model_selection.json").read_text())["cells"][0]
    assert len(found["candidates"]) == 2
    assert model_selection.main(["--results-root", str(root), "--datasets", "PROTEINS",
                                 "--out", str(tmp_path / "none")]) == 1


def test_a_folder_that_is_not_a_run_is_refused_with_its_path(tmp_path, capsys):
    (tmp_path / "ENZYMES-diffpool").mkdir()
    code = model_selection.main(["--runs", f"a={tmp_path / 'ENZYMES-diffpool'}", f"b={tmp_path / 'ENZYMES-diffpool'}",
                                 "--out", str(tmp_path / "out")])
    assert code == 2
    assert "neither a model card ENZYMES-diffpool.json nor a summary.json" in capsys.readouterr().err
