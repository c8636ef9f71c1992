"""bench/app_latency.py's record says whether other work ran, from the load average at its start only."""

from __future__ import annotations

from bench.app_latency import load_note


def test_a_busy_start_is_called_busy_and_a_quiet_one_is_not():
    busy = load_note([1.7, 1.5, 1.2], [2.2, 1.8, 1.3])
    assert busy.startswith("load average at start 1.7, at end 2.2")
    assert busy.endswith("other work was running when it started, so these figures overstate a quiet machine")
    quiet = load_note([0.3, 1.9, 2.5], [2.4, 2.0, 2.4])  # the run's own browser and servers load the end
    assert "at end 2.4" in quiet and "other work" not in quiet
