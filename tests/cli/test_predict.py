"""`advinspect predict` end to end on real files."""

from __future__ import annotations

import json

from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX, DEMO_SAMPLES


def test_predict_demo_set_with_json(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["predict", str(DEMO_ONNX), str(DEMO_SAMPLES), "--top-k", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["summary"]["n"] == 450 and data["summary"]["accuracy"] > 0.97
    row = data["rows"][0]
    assert set(row) >= {"file", "label", "pred", "pred_name", "top_k"} and len(row["top_k"]) == 3
    assert row["top_k"][0]["probability"] >= row["top_k"][1]["probability"]
    assert "accuracy:" in capsys.readouterr().out


def test_predict_reports_bad_images_and_continues(tmp_path, capsys):
    Image.new("L", (32, 32), 0).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    assert main(["predict", str(DEMO_MODEL), str(tmp_path / "ok.png"), str(tmp_path / "bad.png")]) == 0
    captured = capsys.readouterr()
    assert "ok.png" in captured.out and "bad.png" in captured.err
