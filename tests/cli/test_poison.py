"""`advinspect poison` end to end on a tiny folder set (the `poisoned_out` fixture in conftest.py:
the poisoned set and its manifest, the poisoned model as .pt2 with readable layers); bad input
exits 1 with one line. `sanitize` and `scan` have their own test files on the same fixture."""

from __future__ import annotations

import json

import pytest

from advinspect.cli import main


def test_poison_writes_the_set_the_manifest_the_model_and_a_report(poisoned_out):
    out, _ = poisoned_out
    data = json.loads((out / "poison.json").read_text())
    manifest = json.loads((out / "poisoned" / "manifest.json").read_text())
    assert len(manifest["files"]) == 90 and sum(r["poisoned"] for r in manifest["files"]) == 18
    assert all((out / "poisoned" / r["file"]).is_file() for r in manifest["files"])
    assert manifest["attack"]["trigger_size"] == 2 and data["summary"]["n_poisoned"] == 18
    assert data["summary"]["poisoned"]["asr"] >= 0.8 and data["summary"]["clean"]["asr"] <= 0.2
    assert (out / "poisoned_model.pt2").is_file() and (out / "report.html").read_text().count("<img") >= 1


@pytest.mark.parametrize("argv, message", [
    (["poison", "demo", "--ratio", "1.5"], "ratio must be at most 1"),
    (["poison", "demo", "--ratio", "0", "--no-train"], r"ratio must lie in \(0, 1\)"),
    (["poison", "demo", "--target", "12", "--no-train"], "target class 12 does not exist"),
    (["poison", "demo", "--trigger-size", "40", "--no-train"], "does not fit 32x32"),
])
def test_bad_poison_input_is_one_line(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and pytest.importorskip("re").search(message, err[0])
    assert not (tmp_path / "poison.json").exists()


