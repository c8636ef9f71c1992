"""bench/reproduce.py --stack: one worker command per cell, training its missing folds as one stack."""

from __future__ import annotations

import pytest

from bench import reproduce


def test_stack_gives_one_command_per_cell_with_all_its_missing_folds(tu_dir, tmp_path, capsys):
    code = reproduce.main(["--datasets", "ENZYMES", "--variants", "diffpool", "graphsage", "--epochs", "2",
                           "--data-dir", str(tu_dir), "--out", str(tmp_path), "--stack", "--dry-run"])
    assert code == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if "-m core.train" in line]
    assert len(commands) == 2
    for command in commands:
        assert "--only-folds 0,1,2,3,4,5,6,7,8,9" in command and command.endswith("--stack-folds")


def test_stacked_tasks_group_folds_by_cell(tmp_path):
    a, b = reproduce.Cell("ENZYMES", "diffpool", tmp_path / "a"), reproduce.Cell("ENZYMES", "random", tmp_path / "b")
    assert reproduce.stacked_tasks([(a, 1), (b, 0), (a, 3)]) == [(a, "1,3"), (b, "0")]


if __name__ == "__main__":
    pytest.main([__file__])
