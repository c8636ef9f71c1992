"""bench/results/structure_vs_accuracy.{json,md} and README's copy of the table agree with the shipped cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = json.loads((ROOT / "bench" / "results" / "structure_vs_accuracy.json").read_text())
VERDICTS = ("healthy", "fragmented", "feature-driven", "collapsed")


def test_each_shipped_models_row_is_its_cards_structure():
    """Both come from core.diagnose.held_out_structure on the held-out fold; a table made on another CPU
    family (eigenvector models move by a graph) would disagree with the cards the app states."""
    shipped = [row for row in REPORT["rows"] if row.get("levels") and (ROOT / "pretrained" / f"{row['checkpoint']}.json").is_file()]
    assert len(shipped) >= 10
    for row in shipped:
        card = json.loads((ROOT / "pretrained" / f"{row['checkpoint']}.json").read_text())
        stored = card["structure"]["levels"]
        assert [lv["level"] for lv in row["levels"]] == [lv["level"] for lv in stored], row["model"]
        for live, written in zip(row["levels"], stored):
            assert live["shares"] == pytest.approx(written["shares"]), (row["model"], live["level"])
            assert live["modularity_ratio"] == pytest.approx(written["modularity_ratio"]), (row["model"], live["level"])


def test_the_readme_table_is_the_reports_rows():
    """README's *Structural pooling* table condenses the report (levels joined by " / "), row for row."""
    readme = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) == 9 and cells[0] in ("ENZYMES", "PROTEINS", "D&D"):
            readme[(cells[0].replace("D&D", "DD"), cells[2].replace("*", ""))] = cells
    checked = 0
    for row in REPORT["rows"]:
        if not row.get("levels") or row["mean"] is None:
            continue
        accuracy = f"{row['mean']:.1f} ± {row['std']:.1f} ({row['folds']})"
        cells = readme.get((row["dataset"], accuracy))
        if cells is None:  # the README names a few rows' accuracy otherwise (e.g. D&D's long model over its own folds)
            continue
        levels = row["levels"]
        expected = [" / ".join(f"{lv['shares'][verdict]:.0%}" for lv in levels) for verdict in VERDICTS]
        expected.append(" / ".join(f"{lv['modularity_ratio']:.2f}".replace("-", "−") for lv in levels))
        assert cells[4:9] == expected, (row["dataset"], row["model"])
        checked += 1
    assert checked >= 12
