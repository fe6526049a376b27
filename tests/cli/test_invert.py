"""`advinspect invert` on the demo model, checked by its ONNX twin (the check plumbing, not independence)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL
from tests.core.privacy import fixtures

one_thread = fixtures.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")


def test_invert_two_classes(tmp_path, capsys):
    code = main(["invert", str(DEMO_MODEL), "--classes", "0,7", "--max-steps", "300", "--check-model",
                 str(DEMO_MODEL.with_name("digits_cnn.onnx")), "--device", "cpu", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "inversion.json").read_text())
    assert [r["class"] for r in data["rows"]] == [0, 7]
    assert all(r["iterations"] <= 300 for r in data["rows"])
    with np.load(tmp_path / "reconstructions.npz", allow_pickle=False) as saved:
        assert saved["images"].shape == (2, 1, 32, 32) and saved["classes"].tolist() == [0, 7]
    assert "second model classifies" in capsys.readouterr().out
    assert "MIFace" in (tmp_path / "report.html").read_text()
