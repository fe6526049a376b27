"""`advinspect sanitize` end to end on the poisoned tiny set (`poisoned_out`, conftest.py): one score
row per training file, the detection AUC of every layer with the manifest, an unknown layer named
with the valid ones."""

from __future__ import annotations

import csv
import json

from advinspect.cli import main


def test_sanitize_scores_each_file_against_the_manifest(poisoned_out, tmp_path, capsys):
    out, test = poisoned_out
    code = main(["sanitize", str(out / "poisoned_model.pt2"), str(out / "poisoned"), "--method", "outlier",
                 "--expected-ratio", "0.2", "--test", str(test), "--out", str(tmp_path)])
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    assert len(rows) == 90 and {"path", "score", "flagged", "poisoned"} <= set(rows[0])
    data = json.loads((tmp_path / "sanitize.json").read_text())
    assert data["summary"]["auc"] is not None and len(data["summary"]["layer_auc"]) >= 5
    assert data["summary"]["before"]["asr"] >= 0.8
    assert "detection AUC" in capsys.readouterr().out and (tmp_path / "report.html").is_file()


def test_unknown_layer_lists_the_valid_ones(poisoned_out, tmp_path, capsys):
    out, _ = poisoned_out
    assert main(["sanitize", str(out / "poisoned_model.pt2"), str(out / "poisoned"), "--layer", "nope",
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no layer 'nope'; layers: conv2d, relu" in err and len(err.strip().splitlines()) == 1

