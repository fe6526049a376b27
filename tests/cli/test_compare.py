"""`advinspect compare` end to end on real files."""

from __future__ import annotations

import json

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX


def test_compare_two_models(small_set, tmp_path, capsys):
    assert main(["compare", str(DEMO_MODEL), str(DEMO_ONNX), str(small_set), "--steps", "5", "--eps", "0,0.1",
                 "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "comparison.json").read_text())
    assert [m["model"] for m in data["models"]] == ["digits_cnn.pt2", "digits_cnn.onnx"]
    a, b = data["models"]
    assert a["clean_accuracy"] == b["clean_accuracy"]  # the same network in two formats
    assert (tmp_path / "comparison.png").exists() and (tmp_path / "saliency.png").exists()
    assert "digits_cnn.onnx" in capsys.readouterr().out
