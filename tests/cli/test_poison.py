"""`advinspect poison`, `sanitize` and `scan` end to end on a tiny folder set: the poisoned set
and its manifest, the poisoned model (.pt2, layers readable), one score row per training file,
the scan's anomaly indices and trigger images; bad input exits 1 with one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from advinspect.cli import main
from advinspect.core.data.images import save_png
from tests.backdoor_data import ARCH, bars


def _folder(root: Path, n: int, seed: int) -> Path:
    x, y = bars(n, seed)
    for i, (image, label) in enumerate(zip(x.numpy(), y, strict=True)):
        save_png(image, root / "abc"[label] / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def poisoned_out(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("poison")
    train, test = _folder(base / "train", 30, 0), _folder(base / "test", 10, 1)
    out = base / "out"
    code = main(["poison", str(train), "--arch", ARCH, "--test", str(test), "--ratio", "0.2", "--trigger-size", "2",
                 "--epochs", "8", "--lr", "0.01", "--batch-size", "16", "--baseline", "--out", str(out)])
    assert code == 0
    return out, test


def test_poison_writes_the_set_the_manifest_the_model_and_a_report(poisoned_out):
    out, _ = poisoned_out
    data = json.loads((out / "poison.json").read_text())
    manifest = json.loads((out / "poisoned" / "manifest.json").read_text())
    assert len(manifest["files"]) == 90 and sum(r["poisoned"] for r in manifest["files"]) == 18
    assert all((out / "poisoned" / r["file"]).is_file() for r in manifest["files"])
    assert manifest["attack"]["trigger_size"] == 2 and data["summary"]["n_poisoned"] == 18
    assert data["summary"]["poisoned"]["asr"] >= 0.8 and data["summary"]["clean"]["asr"] <= 0.2
    assert (out / "poisoned_model.pt2").is_file() and (out / "report.html").read_text().count("<img") >= 1


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


def test_scan_writes_anomaly_indices_and_triggers(poisoned_out, tmp_path):
    out, test = poisoned_out
    code = main(["scan", str(out / "poisoned_model.pt2"), str(test), "--steps", "10", "--max-images", "12",
                 "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "scan.json").read_text())
    assert len(data["summary"]["anomaly_index"]) == 3 and isinstance(data["summary"]["flagged"], list)
    assert [f for f in data["trigger_files"]] == [f"triggers/class_{k:03d}.png" for k in range(3)]
    assert all((tmp_path / f).is_file() for f in data["trigger_files"])


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


def test_unknown_layer_lists_the_valid_ones(poisoned_out, tmp_path, capsys):
    out, _ = poisoned_out
    assert main(["sanitize", str(out / "poisoned_model.pt2"), str(out / "poisoned"), "--layer", "nope",
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no layer 'nope'; layers: conv2d, relu" in err and len(err.strip().splitlines()) == 1
