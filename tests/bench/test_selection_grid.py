"""bench/selection_grid.py: nested model selection over a grid, its resumable jobs, and accuracy.json."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from bench import selection_grid
from bench.model_selection import load_candidate
from bench.selection_grid import GridPoint, Job, full_grid, run_jobs, train_one
from core import train

ROOT = Path(__file__).resolve().parents[2]
POINTS = [GridPoint(16, 1, "max", "ref", 1e-3), GridPoint(16, 2, "sum", "dmon", 1e-3)]


def _fold_files(folder: Path) -> dict[int, dict]:
    records = (json.loads(p.read_text()) for p in (Path(folder) / "folds").glob("fold-*.json"))
    return {r["fold"]: r for r in records}


def test_full_grid_spans_the_required_axes_once_each():
    points = full_grid()
    assert len(points) == len({p.name for p in points}) == 48
    assert {p.hidden_dim for p in points} == {30, 64} and {p.num_pooling for p in points} == {1, 2}
    assert {p.readout for p in points} == {"max", "sum"} and {p.lr for p in points} == {1e-3, 1e-4}
    # link + entropy (reference), entropy only (no link prediction), and the structure objective
    assert {(p.variant, p.structure_weight) for p in points} == {("diffpool", 0.0), ("diffpool-nolp", 0.0),
                                                                 ("diffpool", 1.0)}


def _grid_args(tu_dir, root: Path, *extra: str) -> list[str]:
    return ["--datasets", "ENZYMES", "--folds", "3", "--subset", "40", "--epochs", "2", "--patience", "1",
            "--data-dir", str(tu_dir), "--results-root", str(root),
            "--runs-root", str(root / "selection_grid" / "runs"),
            "--out", str(root / "selection_grid"), "--accuracy", str(root / "accuracy.json"), *extra]


@pytest.fixture(scope="module")
def tiny_grid(tu_dir, tmp_path_factory):
    """A results root with a reference and a baseline run (3 folds, 40 ENZYMES graphs) and a 2-point grid run
    on it: two jobs through worker processes, the rest in this process."""
    root = tmp_path_factory.mktemp("grid") / "results"
    for model, folder in (("diffpool", "reproduce/ENZYMES-diffpool"), ("baseline", "reproduce/ENZYMES-baseline")):
        assert train.main(["--dataset", "ENZYMES", "--model", model, "--folds", "3", "--epochs", "2", "--subset", "40",
                           "--data-dir", str(tu_dir), "--no-download", "--no-checkpoint", "--quiet",
                           "--out", str(root / folder)]) == 0
    jobs = [Job("ENZYMES", p, k, root / "selection_grid" / "runs", 2, 1, str(tu_dir), 3, 40)
            for p in POINTS for k in range(3)]
    assert run_jobs(jobs[:2], workers=2) == []
    for job in jobs[2:]:
        assert train_one(job)[0] == 0
    return root, jobs


def test_dry_run_counts_the_jobs_left_and_estimates_from_the_rate_table(tu_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(selection_grid.GRIDS, "small", lambda: POINTS)
    assert selection_grid.main(_grid_args(tu_dir, tmp_path, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "2 configurations × 1 dataset(s) × 3 folds = 6 jobs: 0 finished, 6 to run" in out
    # 40 graphs: 2/3 in the training fold, 90 % of that trained on; 2 epochs (< 100 + patience)
    minutes = selection_grid.SECONDS_PER_GRAPH_EPOCH_CPU["ENZYMES"] * 40 * (2 / 3) * 0.9 * 2 / 60
    assert f"6 jobs × {minutes:6.1f} min" in out
    assert "--only-folds 0" in out and "--patience 1" in out


def test_selection_takes_each_folds_best_validation_candidate_and_writes_accuracy_json(tiny_grid, tu_dir,
                                                                                      monkeypatch, capsys):
    root, jobs = tiny_grid
    monkeypatch.setitem(selection_grid.GRIDS, "small", lambda: POINTS)
    monkeypatch.setattr(selection_grid, "full_grid", lambda: POINTS)  # a "full grid" whose points are all complete
    before = {p: p.stat().st_mtime_ns for job in jobs for p in (job.out_dir / "folds").glob("*.json")}
    # A rerun of the training command finds every job finished: nothing is retrained.
    assert selection_grid.main(_grid_args(tu_dir, root)) == 0
    assert "6 finished, 0 to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in before} == before

    report = json.loads((root / "selection_grid" / "selection_grid.json").read_text())["datasets"][0]
    assert report["grid_jobs"] == {"total": 6, "finished": 6} and report["grid_configs"]["complete"] == 2
    names = [c["name"] for c in report["candidates"]]
    assert len(names) == 4  # reference, two grid points, the baseline found on disk
    folds = {name: _fold_files(Path(name) if Path(name).is_absolute() else ROOT / name) for name in names}
    for row in report["selected"]["per_fold"]:
        k = row["fold"]
        best = max(names, key=lambda n: (folds[n][k]["val_acc"], -names.index(n)))  # ties: earlier candidate
        assert row["chosen"] == best and row["test_acc"] == folds[best][k]["test_acc"]

    accuracy = json.loads((root / "accuracy.json").read_text())
    entry = accuracy["ENZYMES"]
    tests = [100 * r["test_acc"] for r in report["selected"]["per_fold"]]
    assert entry["selected"]["mean"] == pytest.approx(statistics.fmean(tests))
    assert entry["selected"]["std"] == pytest.approx(statistics.pstdev(tests)) and entry["selected"]["folds"] == 3
    baseline = [100 * f["test_acc"] for _, f in sorted(_fold_files(root / "reproduce/ENZYMES-baseline").items())]
    assert entry["baseline"]["mean"] == pytest.approx(statistics.fmean(baseline))
    assert entry["published"]["errica_diffpool"]["mean"] == 59.5 and entry["target"] == 65.2
    grid_only = entry["selected_grid"]
    assert grid_only["candidates"] == names[:3] and grid_only["folds"] == 3
    grid_tests = [100 * folds[max(names[:3], key=lambda n: (folds[n][k]["val_acc"], -names.index(n)))][k]["test_acc"]
                  for k in range(3)]
    assert grid_only["mean"] == pytest.approx(statistics.fmean(grid_tests))
    # the full grid alone: its own points, without the reference run or anything else on disk
    full_tests = [100 * folds[max(names[1:3], key=lambda n: (folds[n][k]["val_acc"], -names.index(n)))][k]["test_acc"]
                  for k in range(3)]
    assert entry["selected_full_grid"]["mean"] == pytest.approx(statistics.fmean(full_tests))
    assert entry["selected_full_grid"]["candidates"] == 2

    # Each fold file names the CPU it was timed on, and the table says where its job times come from.
    from core.train.loop import cpu_model

    assert all(f["cpu"] == cpu_model() for run in folds.values() for f in run.values() if "cpu" in f)
    assert all("cpu" in f for f in folds[names[1]].values())
    markdown = (root / "selection_grid" / "selection_grid.md").read_text()
    assert f"measured on 6 finished job(s): 6 on {cpu_model()}" in markdown

    # Finished grid runs get a summary.json, from which bench/model_selection.py reads their settings.
    candidate = load_candidate(jobs[-1].out_dir)
    assert candidate.settings["num_pooling"] == 2 and candidate.settings["structure_weight"] == 1.0
    assert candidate.settings["patience"] == 1 and sorted(candidate.folds) == [0, 1, 2]


def test_the_estimate_takes_each_jobs_epochs_from_its_own_configuration_else_from_one_as_long(tiny_grid, tu_dir):
    root, jobs = tiny_grid
    epochs = {job: len(_fold_files(job.out_dir)[job.fold]["history"]) for job in jobs}
    own = selection_grid.estimate(jobs[:3], jobs, 2)["per_dataset"]["ENZYMES"]
    assert own["sources"] == {"own": 3, "length": 0, "assumed": 0}
    assert own["epochs_per_job"] == pytest.approx(statistics.fmean(epochs[j] for j in jobs[:3]))
    assert "epochs: 3 from their configuration's finished folds" in own["how"]

    # A configuration without folds: the epochs of the finished ones as long as it (same --epochs and
    # --patience), else 100 + its patience (here: a long grid's 2,000 epochs with patience 300).
    runs = root / "selection_grid" / "runs"
    same = Job("ENZYMES", GridPoint(16, 1, "sum", "ref", 1e-3), 0, runs, 2, 1, str(tu_dir), 3, 40)
    long = Job("ENZYMES", GridPoint(16, 1, "sum", "ref", 1e-3, epochs=2000, patience=300), 0, runs, 2, 1,
               str(tu_dir), 3, 40)
    guess = selection_grid.estimate([same, long], [*jobs, same, long], 2)["per_dataset"]["ENZYMES"]
    assert guess["sources"] == {"own": 0, "length": 1, "assumed": 1}
    assert guess["epochs_per_job"] == pytest.approx((statistics.fmean(epochs.values()) + 400) / 2)
    rate = selection_grid.measured_rates(jobs)["ENZYMES"]["seconds_per_graph_epoch"]
    train_graphs = 40 * (2 / 3) * 0.9
    assert guess["seconds_per_job"] == pytest.approx(rate * train_graphs * guess["epochs_per_job"])


def test_a_job_that_resumes_mid_fold_here_is_estimated_by_the_epochs_it_has_left(tmp_path, monkeypatch):
    """--hours decides by these estimates: a fold 120 epochs in must not count as a whole fold (it was
    left unstarted for a shorter job elsewhere in the grid), nor at another CPU's pace."""
    from core.train.resume import _state_paths, fit_state_stem

    monkeypatch.setenv("DIFFPOOL_RESUME", str(tmp_path / "resume"))
    point = GridPoint(16, 1, "sum", "ref", 1e-3, epochs=2000, patience=300)
    job = Job("ENZYMES", point, 0, tmp_path / "runs", 2, 1, None, 3, 40)
    fresh = selection_grid.job_estimates([job], [job])[job]
    assert fresh[1:] == (400, "assumed")  # no fold of its kind anywhere: 100 + patience epochs
    meta = _state_paths(fit_state_stem(job.settings(), job.fold))[1]
    meta.parent.mkdir(parents=True)
    history = [{"epoch": e, "seconds": 2.0 if e % 10 else 30.0} for e in range(1, 101)]  # a busy spell: medians
    meta.write_text(json.dumps({"epoch": 100, "best_epoch": 90, "history": history}))
    assert selection_grid.saved_progress(job) == {"epoch": 100, "best_epoch": 90, "seconds_per_epoch": 2.0}
    assert selection_grid.job_estimates([job], [job])[job] == (600.0, 300.0, "assumed")  # 400 - 100 epochs at 2 s
    meta.write_text(json.dumps({"epoch": 100, "best_epoch": 350, "history": history}))
    assert selection_grid.job_estimates([job], [job])[job][1] == 550.0  # patience runs from its best epoch (350)
    meta.write_text("{broken")
    assert selection_grid.saved_progress(job) is None
    assert selection_grid.job_estimates([job], [job])[job] == fresh


def test_a_configurations_pace_comes_from_its_folds_on_this_cpu_model(tiny_grid, monkeypatch):
    """One fold ran on another, ten times slower CPU: the estimate here takes the pace of the others."""
    import copy

    from core.train.loop import cpu_model

    root, jobs = tiny_grid
    mine = jobs[:3]
    real = selection_grid.finished_fold

    def fold_file(job):
        entry = real(job)
        if entry is not None and job in mine and job.fold == 0:
            entry = copy.deepcopy(entry)
            entry["cpu"], entry["seconds"] = "a slow CPU", entry["seconds"] * 10
            for row in entry["history"]:
                row["seconds"] *= 10
        return entry

    monkeypatch.setattr(selection_grid, "finished_fold", fold_file)
    pace = selection_grid.measured_rates(mine[1:], cpu_model=cpu_model())["ENZYMES"]["seconds_per_graph_epoch"]
    slow = selection_grid.measured_rates(mine, cpu_model="a slow CPU")["ENZYMES"]["seconds_per_graph_epoch"]
    assert slow > 5 * pace
    train_graphs = 40 * (2 / 3) * 0.9
    here = selection_grid.job_estimates(mine, jobs)
    for job in mine:
        assert here[job][0] == pytest.approx(pace * train_graphs * here[job][1])
    monkeypatch.setattr("core.train.loop.cpu_model", lambda: "a slow CPU")
    there = selection_grid.job_estimates(mine, jobs)
    for job in mine:
        assert there[job][0] == pytest.approx(slow * train_graphs * there[job][1])


def test_stack_trains_each_configurations_folds_as_one_stack_with_the_same_fold_files(tiny_grid, tu_dir,
                                                                                    tmp_path, monkeypatch, capsys):
    root, jobs = tiny_grid
    monkeypatch.setitem(selection_grid.GRIDS, "small", lambda: POINTS)
    runs = tmp_path / "runs"
    args = _grid_args(tu_dir, root, "--stack")
    args[args.index("--runs-root") + 1] = str(runs)
    args[args.index("--out") + 1] = str(tmp_path / "tables")
    args[args.index("--accuracy") + 1] = str(tmp_path / "accuracy.json")
    assert selection_grid.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("(stack of 3): ok") == 2  # one process per configuration, not per fold
    assert not list(runs.glob("**/*.safetensors"))  # --no-checkpoint holds in a stack too
    for job in jobs:
        alone = _fold_files(job.out_dir)[job.fold]
        stacked = _fold_files(runs / job.point.name / f"ENZYMES-{job.point.variant}")[job.fold]
        assert stacked["stack"] == {"models": 3, "aligned_batches": False}
        # same cache key: either run resumes the other; same graphs in every part of the fold
        assert stacked["fingerprint"] == alone["fingerprint"]
        for part in ("train_indices", "val_indices", "test_indices"):
            assert stacked[part] == alone[part]
    # the unstacked command finds every stacked fold finished
    args.remove("--stack")
    assert selection_grid.main(args) == 0 and "6 finished, 0 to run" in capsys.readouterr().out


def test_stack_units_group_by_configuration_and_leave_proteins_and_dd_one_process_per_fold(tmp_path):
    jobs = [Job(d, p, k, tmp_path, 2, 1, None) for d in ("ENZYMES", "PROTEINS", "DD") for p in POINTS
            for k in range(3)]
    units = selection_grid.stack_units(jobs)
    stacks = [u for u in units if isinstance(u, tuple)]
    assert [(u[0].dataset, u[0].point, [j.fold for j in u]) for u in stacks] == [
        ("ENZYMES", POINTS[0], [0, 1, 2]), ("ENZYMES", POINTS[1], [0, 1, 2])]
    # PROTEINS' stacks were measured slower than a process per fold; D&D's graphs do not fit one
    assert [u for u in units if not isinstance(u, tuple)] == [j for j in jobs if j.dataset != "ENZYMES"]
    normed = [Job("ENZYMES", GridPoint(16, 1, "max", "ref", 1e-3, input_norm=True), k, tmp_path, 2, 1, None)
              for k in range(3)]
    assert selection_grid.stack_units(normed) == normed  # stacks do not implement --input-norm


def test_a_failing_job_reports_its_exit_code_instead_of_stopping_the_grid(tmp_path):
    job = Job("ENZYMES", POINTS[0], 0, tmp_path / "runs", 2, 1, str(tmp_path / "no-data-here"), 3, 40)
    code, err = train_one(job)
    assert code == 2 and "ENZYMES" in err
    assert not (job.out_dir / "folds" / "fold-0.json").exists()


def test_a_deadline_starts_only_the_jobs_whose_estimate_ends_before_it(tmp_path):
    """--hours: a job that would be cut off by the deadline is not started (its progress would be lost on
    a fresh machine); shorter ones behind it still run."""
    import time

    jobs = [Job("ENZYMES", POINTS[0], k, tmp_path / "runs", 2, 1, str(tmp_path / "no-data-here"), 3, 40)
            for k in range(3)]
    left: list = []
    failures = run_jobs(jobs, 1, deadline=time.time() + 120, seconds=lambda job: 10_000 if job.fold == 1 else 1,
                        left=left)
    assert left == [jobs[1]]
    assert len(failures) == 2 and all("exit 2" in f for f in failures)  # folds 0 and 2 ran (no data: exit 2)
    assert [f.split(":")[0] for f in failures] == [f"ENZYMES {POINTS[0].name} fold {k}" for k in (0, 2)]
    left.clear()
    assert run_jobs(jobs, 2, deadline=time.time() + 120, seconds=lambda job: 10_000, left=left) == []
    assert left == jobs


def test_hours_leaves_jobs_that_would_not_finish_and_still_writes_the_tables(tu_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(selection_grid.GRIDS, "small", lambda: POINTS)
    monkeypatch.setattr(selection_grid, "job_estimates",
                        lambda todo, jobs: {job: (7200.0, 500.0, "own") for job in todo})
    with pytest.raises(SystemExit):
        selection_grid.main(_grid_args(tu_dir, tmp_path, "--hours", "0"))
    assert "--hours must be a positive number" in capsys.readouterr().err
    assert selection_grid.main(_grid_args(tu_dir, tmp_path, "--hours", "1.5")) == 0
    out = capsys.readouterr().out
    assert "6 job(s) not started" in out and "~120 min" in out and "rerun the same command" in out
    assert not list((tmp_path / "selection_grid" / "runs").glob("*/*/folds/*.json"))
    assert (tmp_path / "selection_grid" / "selection_grid.md").is_file()


def _recomputed(folder: str) -> tuple[float, float, int]:
    tests = [100 * f["test_acc"] for _, f in sorted(_fold_files(ROOT / folder).items())]
    return statistics.fmean(tests), statistics.pstdev(tests), len(tests)


def test_committed_accuracy_json_has_the_agreed_shape_and_is_recomputable_from_fold_files():
    path = ROOT / "bench" / "results" / "accuracy.json"
    accuracy = json.loads(path.read_text())
    grid = {d["dataset"]: d for d in
            json.loads((ROOT / "bench" / "results" / "selection_grid" / "selection_grid.json").read_text())["datasets"]}
    assert {"ENZYMES", "PROTEINS", "DD"} <= accuracy.keys()
    for dataset in ("ENZYMES", "PROTEINS", "DD"):
        entry = accuracy[dataset]
        for row in ("selected", "baseline", "diffpool"):
            assert {"mean", "std", "folds"} <= entry[row].keys()
        assert entry["selected"]["folds"] == 10 and entry["diffpool"]["folds"] == 10
        mean, std, n = _recomputed(entry["diffpool"]["run"])
        assert (entry["diffpool"]["mean"], entry["diffpool"]["std"], n) == (pytest.approx(mean), pytest.approx(std), 10)
        if entry["baseline"]["mean"] is None:
            assert entry["baseline"]["note"]  # says why there is no figure
        else:
            mean, std, n = _recomputed(entry["baseline"]["run"])
            assert (entry["baseline"]["mean"], entry["baseline"]["std"]) == (pytest.approx(mean), pytest.approx(std))
        names = [c["name"] for c in grid[dataset]["candidates"]]
        tests = []
        for row in entry["selected"]["per_fold"]:
            k = row["fold"]
            chosen = _fold_files(ROOT / row["chosen"])[k]
            assert 100 * chosen["test_acc"] == pytest.approx(row["test_acc"])
            best_val = max(_fold_files(ROOT / name)[k]["val_acc"] for name in names)
            assert chosen["val_acc"] == best_val  # nobody on disk had a better validation score
            tests.append(100 * chosen["test_acc"])
        assert entry["selected"]["mean"] == pytest.approx(statistics.fmean(tests))
        assert entry["selected"]["std"] == pytest.approx(statistics.pstdev(tests))


def test_dd_jobs_cap_level_one_clusters_like_every_other_dd_run(tmp_path):
    """574 clusters (D&D's 5,748-node maximum × 0.1) would exceed the median graph's 241 nodes."""
    from core.train.settings import cluster_counts_for

    for dataset, expected in (("DD", [100]), ("ENZYMES", [12])):
        job = Job(dataset, POINTS[0], 0, tmp_path, 2, 1, None)
        settings = job.settings()
        assert cluster_counts_for(selection_grid.MAX_NODES[dataset], settings) == expected


def test_long_grid_trains_the_baseline_and_diffpool_for_errica_length_whatever_the_command_says(tmp_path):
    points = selection_grid.long_grid()
    assert [p.name for p in points] == ["baseline-h128-lr0.001-p300", "h64-l1-max-ref-in-lr0.001-p300",
                                        "h64-l2-max-ref-in-lr0.001-p300", "h64-l1-max-ref-lr0.001-p300",
                                        "h64-l2-max-dmon-in-pa16-k8-lr0.001-p300",
                                        "h64-l2-sum-dmon-in-pa16-k8-lr0.001-p300"]
    # never the small grid's folders (patience 50): another cache key would overwrite their fold files
    assert not {p.name for p in points} & {p.name for p in selection_grid.small_grid() + full_grid()}
    for point, model in zip(points, ("baseline", "diffpool", "diffpool", "diffpool", "diffpool", "diffpool"),
                            strict=True):
        argv = Job("ENZYMES", point, 3, tmp_path, 500, 50, None).train_argv(-1)
        assert argv[argv.index("--model") + 1] == model
        assert argv[argv.index("--epochs") + 1] == "2000" and argv[argv.index("--patience") + 1] == "300"
        assert ("--input-norm" in argv) == point.input_norm
        assert Job("ENZYMES", point, 3, tmp_path, 500, 50, None).settings().input_norm == point.input_norm
    assert [p.is_diffpool for p in points] == [False, True, True, True, True, True]
    # the structural points (max and sum readout; the small grid's fifth point is the sum one at its own
    # length): 8 -> 4 clusters on every dataset (D&D's cap of 100 does not apply), eigenvectors for the
    # assignment GNN only, DMoN at weight 1
    from core.train.settings import cluster_counts_for

    small_structural = selection_grid.small_grid()[4]
    assert small_structural.name == "h64-l2-sum-dmon-in-pa16-k8-lr0.001"
    for structural, readout in ((points[-2], "max"), (points[-1], "sum"), (small_structural, "sum")):
        for dataset in ("ENZYMES", "DD"):
            settings = Job(dataset, structural, 0, tmp_path, 500, 50, None).settings()
            assert (settings.positional, settings.positional_assign_only, settings.structure_weight,
                    settings.input_norm, settings.readout) == (16, True, 1.0, True, readout)
            assert settings.eigenbasis == "solver"  # the basis the folds on disk were trained on
            assert cluster_counts_for(selection_grid.MAX_NODES[dataset], settings) == [8, 4]
        units = selection_grid.stack_units([Job("ENZYMES", structural, k, tmp_path, 2, 1, None) for k in range(2)])
        assert all(isinstance(u, Job) for u in units)  # stacks do not implement --positional-assign-only
    argv = Job("DD", small_structural, 0, tmp_path, 500, 50, None).train_argv(-1)
    assert argv[argv.index("--epochs") + 1] == "500" and argv[argv.index("--patience") + 1] == "50"


def test_a_baseline_grid_point_is_a_candidate_but_not_a_diffpool_configuration(tiny_grid, tu_dir, tmp_path,
                                                                               monkeypatch):
    import shutil

    source, _ = tiny_grid
    root = tmp_path / "results"
    shutil.copytree(source, root)
    baseline = GridPoint(16, 1, "max", "mlp", 1e-3, epochs=3, patience=1)
    monkeypatch.setitem(selection_grid.GRIDS, "small", lambda: POINTS)
    monkeypatch.setitem(selection_grid.GRIDS, "long", lambda: [baseline])
    monkeypatch.setattr(selection_grid, "LONG_BASELINE_RUN", f"selection_grid/runs/{baseline.name}/{{name}}-baseline")
    runs = root / "selection_grid" / "runs"
    for k in range(3):
        assert train_one(Job("ENZYMES", baseline, k, runs, 2, 1, str(tu_dir), 3, 40))[0] == 0
    assert selection_grid.main(_grid_args(tu_dir, root, "--table-only")) == 0
    report = json.loads((root / "selection_grid" / "selection_grid.json").read_text())["datasets"][0]
    long_run = f"selection_grid/runs/{baseline.name}/ENZYMES-baseline"
    names = [c["name"] for c in report["candidates"]]
    assert len(names) == 5 and any(n.endswith(long_run) for n in names)
    # "grid + reference" stays DiffPool: the reference and the two DiffPool points
    assert len(report["grid_only"]["candidates"]) == 3
    assert not any(n.endswith(long_run) for n in report["grid_only"]["candidates"])
    assert report["grid_jobs"] == {"total": 6, "finished": 6}  # counts --grid small's jobs
    # the baseline row is the long-trained run once its folds are complete
    entry = json.loads((root / "accuracy.json").read_text())["ENZYMES"]
    assert entry["baseline"]["run"].endswith(long_run)
    tests = [100 * f["test_acc"] for _, f in sorted(_fold_files(root / long_run).items())]
    assert entry["baseline"]["mean"] == pytest.approx(statistics.fmean(tests))


def test_the_small_grid_varies_the_learning_rate_and_shares_the_full_grids_folders(tmp_path):
    points = selection_grid.small_grid()
    assert sorted({p.lr for p in points}) == [1e-4, 1e-3]
    slow = [p for p in points if p.lr == 1e-4]
    assert [p.name for p in slow] == ["h64-l2-max-ref-lr0.0001"]
    argv = Job("PROTEINS", slow[0], 0, tmp_path, 500, 50, None).train_argv(-1)
    assert argv[argv.index("--lr") + 1] == "0.0001" and argv[argv.index("--num-pooling") + 1] == "2"
    # plain points (default length, no input norm or positional features) are full-grid points, so the
    # two grids train the same folder once
    plain = [p for p in points if not (p.input_norm or p.positional)]
    assert {p.name for p in plain} <= {p.name for p in full_grid()}


def _scored(point: GridPoint, tests: list[float]):
    from bench.model_selection import Candidate

    folds = {k: {"test_acc": t / 100, "val_acc": 0.5} for k, t in enumerate(tests)}
    return point, Candidate(point.name, Path(point.name), {}, folds)


def test_setting_effects_pair_configurations_that_differ_in_one_setting_only():
    one = GridPoint(64, 1, "max", "ref", 1e-3)
    configurations = dict([
        _scored(one, [60, 60, 60]),
        _scored(replace(one, num_pooling=2), [70, 50, 66]),          # levels: +2.0, folds 2 better / 1 worse
        _scored(replace(one, readout="sum"), [60, 60, 60]),          # readout: ties
        _scored(replace(one, aux="dmon"), [57, 57, 57]),             # ref -> dmon: -3.0
        _scored(replace(one, aux="nolp"), [63, 63, 63]),             # ref -> nolp +3.0, nolp -> dmon -6.0
        _scored(replace(one, hidden_dim=30, lr=1e-4), [10, 10, 10]),  # two settings apart: paired with nothing
        _scored(replace(one, num_pooling=2, hidden_dim=30), [40, 40, 40]),  # hidden 30 -> 64 beside two levels
        _scored(replace(one, epochs=2000, patience=300), [66, 66, 54]),  # epochs and patience: one setting
    ])
    rows = {(r["setting"], r["from"], r["to"]): r for r in selection_grid.setting_effects(configurations)}
    assert set(rows) == {("num_pooling", 1, 2), ("readout", "max", "sum"), ("aux", "ref", "dmon"),
                         ("aux", "ref", "nolp"), ("aux", "nolp", "dmon"), ("hidden_dim", 30, 64),
                         ("length", (None, None), (2000, 300))}
    levels = rows[("num_pooling", 1, 2)]
    assert levels["pairs"] == 1 and levels["mean_change"] == pytest.approx(2.0)
    assert (levels["folds_better"], levels["folds_worse"], levels["folds"]) == (2, 1, 3)
    assert rows[("readout", "max", "sum")]["better"] == rows[("readout", "max", "sum")]["worse"] == 0
    assert rows[("aux", "ref", "dmon")]["mean_change"] == pytest.approx(-3.0)
    assert rows[("aux", "nolp", "dmon")]["mean_change"] == pytest.approx(-6.0)
    # the change is told from the lower value whatever order the pair comes in
    assert rows[("hidden_dim", 30, 64)]["mean_change"] == pytest.approx(22.0)
    markdown = "\n".join(selection_grid.setting_lines(list(rows.values())))
    assert "| pooling levels | 1 → 2 | 1 | +2.0 | +2.0 to +2.0 | 1 / 0 | 2 / 1 of 3 |" in markdown
    assert "| training length | the command's → ≤ 2000 epochs, patience 300 | 1 | +2.0 |" in markdown
    assert selection_grid.setting_lines([]) == []


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads child processes from /proc")
def test_a_killed_grid_run_ends_its_workers_instead_of_orphaning_them(tu_dir, tmp_path):
    """`kill` on a training grid: an orphaned worker would go on training its fold while a restarted
    run trains the same fold again."""
    import signal
    import subprocess
    import sys
    import time

    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "from pathlib import Path\n"
              "from bench.selection_grid import GridPoint, Job, run_jobs\n"
              f"job = Job('ENZYMES', GridPoint(16, 1, 'max', 'ref', 1e-3), 0, Path({str(tmp_path)!r}), 5000, 5000, "
              f"{str(tu_dir)!r}, 3, 40)\n"
              "run_jobs([job], 1)\n")
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:  # the resource tracker and the worker
        time.sleep(0.2)
        workers = _children(process.pid)
    assert len(workers) >= 2, "the grid's worker did not start"
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive, f"worker processes {alive} outlived the killed grid run"


def test_the_readme_results_table_says_what_the_committed_json_says():
    """The README's selection table is written by hand beside accuracy.json: each grid run that
    moves a figure must move it there too."""
    import re

    accuracy = json.loads((ROOT / "bench" / "results" / "accuracy.json").read_text())
    configs = {d["dataset"]: d["grid_configs"] for d in
               json.loads((ROOT / "bench" / "results" / "selection_grid" / "selection_grid.json").read_text())["datasets"]}
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:5]]
            for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("| selected among") or line.startswith("| the structure-agnostic baseline, trained")
            or line.startswith("| the reference DiffPool (")}

    def figure(entry: dict) -> str:
        return f"{entry['mean']:.1f} ± {entry['std']:.1f}"

    def row(prefix: str) -> list[str]:
        [cells] = [cells for name, cells in rows.items() if name.startswith(prefix)]
        return cells

    for cell, dataset in zip(row("selected among every run on disk"), ("ENZYMES", "PROTEINS", "DD")):
        entry = accuracy[dataset]["selected"]
        assert re.match(rf"\*\*{re.escape(figure(entry))}\*\* \({entry['candidates']}\b", cell), (dataset, cell)
    for prefix, key in (("selected among DiffPool", "selected_grid"), ("the structure-agnostic baseline", "baseline"),
                        ("the reference DiffPool", "diffpool")):
        for cell, dataset in zip(row(prefix), ("ENZYMES", "PROTEINS", "DD")):
            assert cell.startswith(figure(accuracy[dataset][key])), (prefix, dataset, cell)
    for cell, dataset in zip(row("selected among the full grid alone"), ("ENZYMES", "PROTEINS", "DD")):
        done = configs[dataset]
        if done["complete"] == done["total"]:
            assert cell.startswith(figure(accuracy[dataset]["selected_full_grid"])), (dataset, cell)
        else:
            assert cell == f"not complete ({done['complete']} of {done['total']})", (dataset, cell)
