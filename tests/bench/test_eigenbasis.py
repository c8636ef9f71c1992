"""bench/eigenbasis.py: the structural recipe trained with both eigenvector bases on the same folds."""

from __future__ import annotations

import json

from bench import eigenbasis, selection_grid
from bench.selection_grid import run_jobs


def test_the_canonical_run_trains_beside_the_grids_on_the_same_folds_and_the_table_pairs_them(
        tu_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(selection_grid, "LONG_EPOCHS", 2)
    monkeypatch.setattr(selection_grid, "LONG_PATIENCE", 1)
    common = ["--data-dir", str(tu_dir), "--folds", "3", "--subset", "40", "--out", str(tmp_path / "out")]
    solver, canonical = eigenbasis.jobs_for("ENZYMES", tmp_path / "canonical", str(tu_dir), 3, 40, tmp_path / "grid")
    argv = solver[0].train_argv(-1), canonical[0].train_argv(-1)
    assert [a[a.index("--eigenbasis") + 1] for a in argv] == ["solver", "canonical"]
    assert [a.replace("canonical", "solver") for a in argv[1] if a != str(canonical[0].out_dir)] == \
        [a for a in argv[0] if a != str(solver[0].out_dir)]  # the same recipe and folds otherwise
    assert run_jobs(solver, workers=2) == []  # the grid's LAPACK-basis folds, as bench/selection_grid.py trains them
    assert eigenbasis.main(common + ["--runs-root", str(tmp_path / "canonical"), "--solver-root", str(tmp_path / "grid"),
                                     "--jobs", "2"]) == 0
    folds = [json.loads(p.read_text()) for p in sorted((canonical[0].out_dir / "folds").glob("fold-*.json"))]
    solver_folds = [json.loads(p.read_text()) for p in sorted((solver[0].out_dir / "folds").glob("fold-*.json"))]
    assert len(folds) == len(solver_folds) == 3
    assert {f["fingerprint"] for f in folds}.isdisjoint({f["fingerprint"] for f in solver_folds})
    assert [f["test_indices"] for f in folds] == [f["test_indices"] for f in solver_folds]

    result = json.loads((tmp_path / "out" / "eigenbasis.json").read_text())
    runs = result["runs"]
    assert runs["canonical"]["folds_done"] == runs["solver"]["folds_done"] == 3
    assert runs["canonical"]["per_fold"]["1"]["test"] == 100 * folds[1]["test_acc"]
    difference = sum(100 * (c["test_acc"] - s["test_acc"]) for c, s in zip(folds, solver_folds)) / 3
    assert abs(result["paired"]["mean_difference"] - difference) < 1e-9
    # on the first 40 ENZYMES graphs the bases differ, and only LAPACK's differs between drivers
    features = result["features"]
    assert features["graphs"] == 40 and features["changed_by_canonical_basis"] > 0
    assert features["graphs_where_drivers_differ"]["canonical"] == 0
    assert features["graphs_where_drivers_differ"]["solver"] > 0
    markdown = (tmp_path / "out" / "eigenbasis.md").read_text()
    assert "Paired over 3 folds" in markdown and "h64-l2-sum-dmon-in-pa16-k8-lr0.001-p1-canonical" in markdown
