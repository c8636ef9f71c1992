"""bench/diagnosis_table.py: the verdict-share table of the shipped models, merged across partial runs."""

from __future__ import annotations

import json

from bench import diagnosis_table
from core.analysis.diagnosis import VERDICTS


def _document(dataset: str, healthy: float) -> dict:
    shares = {v: 0.0 for v in VERDICTS} | {"healthy": healthy, "fragmented": 1 - healthy}
    level = {"modularity": 0.5, "modularity_louvain": 0.7, "connected_share": 0.9, "label_nmi": 0.2,
             "entropy_normalised": 0.1, "truth_nmi": None}
    return {"dataset": dataset, "shares": [{"level": 0, "graphs": 2, "shares": shares}],
            "graphs": [{"levels": [level]}, {"levels": [level]}]}


def test_a_partial_run_keeps_the_rows_of_other_shipped_models_and_drops_retired_ones(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "diagnosis"
    (folder / "graphs").mkdir(parents=True)
    monkeypatch.setattr(diagnosis_table, "FOLDER", folder)
    (folder / "graphs" / "dd-diffpool.json").write_text(json.dumps(_document("DD", 0.25)))
    old = {"dataset": "ENZYMES", "level": 0, "graphs": 600, **{v: 0.0 for v in VERDICTS}, "healthy": 1.0,
           **{f"mean_{k}": None for k in ("modularity", "modularity_louvain", "connected_share", "label_nmi",
                                          "entropy_normalised", "truth_nmi")}}
    (folder / "shares.json").write_text(json.dumps([
        {**old, "model": "enzymes-diffpool"},                    # shipped, not diagnosed this time: kept
        {**old, "model": "a-retired-model"},                     # no card in pretrained/ any more: dropped
        {**old, "model": "dd-diffpool", "healthy": 0.99},        # diagnosed again: the new row replaces it
    ]))
    diagnosis_table.main()
    rows = json.loads((folder / "shares.json").read_text())
    assert [(r["model"], r["healthy"]) for r in rows] == [("dd-diffpool", 0.25), ("enzymes-diffpool", 1.0)]
    table = (folder / "shares.md").read_text()
    assert "| dd-diffpool | DD | 0 | 2 | 25% |" in table and "a-retired-model" not in table
    assert "here enzymes-diffpool" in table
