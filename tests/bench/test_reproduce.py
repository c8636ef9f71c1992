"""bench/reproduce.py: the honest accuracy table, its fold cache reuse, partial cells and dry runs."""

from __future__ import annotations

import json

import pytest

from bench import reproduce


def _args(tu_dir, tmp_path, *extra):
    return ["--datasets", "ENZYMES", "--variants", "diffpool", "graphsage", "--folds", "2", "--epochs", "1",
            "--subset", "40", "--data-dir", str(tu_dir), "--out", str(tmp_path / "runs"),
            "--results-dir", str(tmp_path / "results"), *extra]


@pytest.fixture(scope="module")
def finished_run(tu_dir, tmp_path_factory):
    """One tiny end-to-end run: ENZYMES, 2 variants, 2 folds, 1 epoch, 40 graphs, 2 worker processes."""
    tmp_path = tmp_path_factory.mktemp("reproduce")
    code = reproduce.main(_args(tu_dir, tmp_path, "--jobs", "2"))
    assert code == 0
    return tmp_path


def test_tiny_run_writes_a_table_with_one_row_per_variant_and_the_paper_figures(finished_run):
    markdown = (finished_run / "results" / "reproduce.md").read_text()
    report = json.loads((finished_run / "results" / "reproduce.json").read_text())
    assert report["datasets"] == ["ENZYMES"] and report["variants"] == ["diffpool", "graphsage"]
    header = next(line for line in markdown.splitlines() if line.startswith("| variant | ENZYMES ours"))
    assert header == "| variant | ENZYMES ours | ENZYMES paper (Δ) | gain vs graphsage: ours | gain: paper |"
    rows = [line for line in markdown.splitlines() if line.startswith(("| diffpool |", "| graphsage |"))]
    assert len(rows) == 4  # honest table + paper-protocol table
    assert "62.53" in rows[0] and "54.25" in rows[1]
    for cell in report["cells"]:
        assert cell["complete"] and cell["folds_completed"] == 2 and cell["folds_total"] == 2
        assert 0 <= cell["honest"]["mean"] <= 100 and len(cell["honest"]["per_fold"]) == 2
        assert cell["difference_vs_paper"] == pytest.approx(cell["honest"]["mean"] - cell["paper"])
        assert cell["paper_protocol"]["accuracy"] >= 0
        assert cell["command"].startswith("python -m core.train --dataset ENZYMES --model")
    diffpool = report["cells"][0]
    assert diffpool["errica"] == {"mean": 59.5, "std": 5.6, "source": reproduce.ERRICA_SOURCE}
    assert "optimistic" in markdown and "59.5 ± 5.6" in markdown and "unverified" in markdown
    assert report["run"]["epochs"] == 1 and report["run"]["reference_epochs"] == 1000
    assert {"platform", "cpu_count", "torch", "device"} <= report["machine"].keys()
    assert "k/N folds" in markdown and "1000 epochs" in markdown
    by_variant = {c["variant"]: c for c in report["cells"]}
    gain = by_variant["diffpool"]["honest"]["mean"] - by_variant["graphsage"]["honest"]["mean"]
    assert rows[0].endswith(f"| {gain:+.1f} | {62.53 - 54.25:+.2f} |")
    assert rows[1].endswith("| (reference) | (reference) |")
    assert rows[0].count("|") == rows[1].count("|") == header.count("|")


def test_table_lists_the_papers_other_rows_and_says_which_are_not_run(finished_run, tu_dir, tmp_path, capsys):
    args = _args(tu_dir, finished_run, "--table-only", "--results-dir", str(tmp_path))
    args[args.index("--variants"):args.index("graphsage") + 1] = [
        "--models", "diffpool", "graphsage", "set2set", "sortpool", "ecc", "baseline", "patchysan"]
    assert reproduce.main(args) == 0
    markdown = (tmp_path / "reproduce.md").read_text()
    rows: dict[str, str] = {}
    for line in markdown.splitlines():  # the first table (honest) comes first
        if line.startswith("| ") and " | " in line:
            rows.setdefault(line.split(" | ")[0][2:], line)
    assert "60.15" in rows["set2set"] and "57.12" in rows["sortpool"] and "53.50" in rows["ecc"]
    for variant in ("set2set", "sortpool", "ecc", "baseline", "patchysan"):
        assert "not run yet (0/2 folds)" in rows[variant] and "not all cells run" in rows[variant]
    assert "65.2 Errica" in rows["baseline"]
    assert "not implemented" not in markdown  # PATCHY-SAN, the last row without a model, is the patchysan variant
    assert rows["patchysan"].split(" | ")[2] == "—"  # the paper gives no ENZYMES figure for PATCHY-SAN
    assert reproduce.PAPER["patchysan"] == {"DD": 76.27, "PROTEINS": 75.00}
    report = json.loads((tmp_path / "reproduce.json").read_text())
    baseline = next(c for c in report["cells"] if c["variant"] == "baseline")
    assert baseline["errica"]["mean"] == 65.2 and baseline["honest"] is None


def test_rerun_reuses_every_cached_fold_without_training(finished_run, tu_dir, monkeypatch, capsys):
    folds = sorted((finished_run / "runs").glob("*/folds/fold-*.json"))
    assert len(folds) == 4
    stamps = [f.stat().st_mtime_ns for f in folds]

    def no_training(*_args, **_kwargs):
        raise AssertionError("a rerun must not train")

    monkeypatch.setattr(reproduce, "run_tasks", no_training)
    assert reproduce.main(_args(tu_dir, finished_run, "--jobs", "2")) == 0
    assert "4 folds cached (reused, no training), 0 to train" in capsys.readouterr().out
    assert [f.stat().st_mtime_ns for f in folds] == stamps


def test_table_only_marks_cells_with_missing_folds_as_partial(finished_run, tu_dir, tmp_path, capsys):
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(finished_run / "runs", partial / "runs")
    (partial / "runs" / "ENZYMES-graphsage" / "folds" / "fold-1.json").unlink()
    args = _args(tu_dir, partial, "--table-only")
    args[args.index("graphsage") + 1:args.index("graphsage") + 1] = ["random"]  # a row never trained
    assert reproduce.main(args) == 0
    out = capsys.readouterr().out
    graphsage = next(line for line in out.splitlines() if line.startswith("| graphsage |"))
    assert "(1/2 folds)" in graphsage
    random = next(line for line in out.splitlines() if line.startswith("| random |"))
    assert "0/2 folds" in random
    report = json.loads((partial / "results" / "reproduce.json").read_text())
    by_variant = {c["variant"]: c for c in report["cells"]}
    assert by_variant["diffpool"]["complete"] and not by_variant["graphsage"]["complete"]
    assert by_variant["graphsage"]["folds_done"] == [0] and by_variant["random"]["honest"] is None


def test_table_only_ignores_fold_files_from_other_settings(finished_run, tu_dir, tmp_path, capsys):
    args = _args(tu_dir, finished_run, "--table-only", "--lr", "0.01", "--results-dir", str(tmp_path))
    assert reproduce.main(args) == 0
    report = json.loads((tmp_path / "reproduce.json").read_text())
    assert all(c["folds_completed"] == 0 and c["stale_fold_files"] == 2 for c in report["cells"])


def test_dry_run_prints_one_worker_command_per_fold_and_an_estimate(tu_dir, tmp_path, capsys):
    assert reproduce.main(_args(tu_dir, tmp_path, "--dry-run", "--jobs", "4")) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if line.startswith("python -m core.train")]
    assert len(commands) == 4
    assert all("--only-folds" in c and "--threads 1" in c and "--subset 40" in c for c in commands)
    assert "estimated:" in out and "min/fold" in out
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_regularisation_options_reach_every_worker_command(tu_dir, tmp_path, capsys):
    assert reproduce.main(_args(tu_dir, tmp_path, "--dry-run", "--dropout", "0.5", "--weight-decay", "0.001")) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith("python -m core.train")]
    assert commands and all("--dropout 0.5" in c and "--weight-decay 0.001" in c for c in commands)


def test_unknown_dataset_is_rejected_with_the_accepted_names(capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--datasets", "MUTAG", "--dry-run"])
    assert "REDDIT-MULTI-12K" in capsys.readouterr().err
