"""bench/page_script_ab.py: the paired table of two trees' page-script times."""

from __future__ import annotations

import pytest

from bench.page_script_ab import FIRST_RUN, SWITCH, page_table


def test_paired_table_reports_medians_and_the_median_of_round_by_round_differences():
    here = [{FIRST_RUN: 1.0, SWITCH: 0.2, "Compare": 0.3}, {FIRST_RUN: 3.0, SWITCH: 0.1, "Compare": 0.5},
            {FIRST_RUN: 2.0, SWITCH: 0.3, "Compare": 0.4}]
    ref = [{FIRST_RUN: 2.5, SWITCH: 0.2, "Compare": 0.3}, {FIRST_RUN: 3.5, SWITCH: 0.2, "Compare": 0.2},
           {FIRST_RUN: 1.0, SWITCH: 0.2, "Compare": 0.4}]
    table, rows = page_table({"this tree": here, "ref": ref}, "0123456789abcdef")
    # differences round by round: first run -1.5, -0.5, +1.0 (median -0.5), though the medians differ by -0.5 too;
    # Compare: 0.0, +0.3, 0.0 -> median 0.0 while the medians differ by 0.1
    assert rows[FIRST_RUN]["paired_median"] == pytest.approx(-0.5)
    assert rows["Compare"]["paired_median"] == pytest.approx(0.0)
    assert rows[SWITCH]["this_tree"] == [0.2, 0.1, 0.3]
    lines = table.splitlines()
    assert "01234567, median s" in lines[0]
    assert lines[2].startswith(f"| {FIRST_RUN} | 2.00 | 2.50 | -0.50 | -1.50, -0.50, +1.00 |")
    assert any(line.startswith("| first visit: Compare | 0.40 | 0.30 | +0.00 |") for line in lines)
