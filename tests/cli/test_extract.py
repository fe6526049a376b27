"""`advinspect extract` with the ONNX demo model as the victim (a black box: only its outputs)."""

from __future__ import annotations

import json

import pytest

from advinspect.cli import main
from advinspect.core.data import collect_images, load_images
from advinspect.core.data.demo import DEMO_MODEL
from advinspect.core.models import load_model
from tests.cli.privacy_sets import digit_folders
from tests.core.privacy import fixtures

one_thread = fixtures.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")

ONNX_MODEL = DEMO_MODEL.with_name("digits_cnn.onnx")


def test_extract_from_the_onnx_demo_model(tmp_path, capsys):
    pool = digit_folders(tmp_path / "pool", "train", 10)
    test = digit_folders(tmp_path / "test", "test", 5)
    code = main(["extract", str(ONNX_MODEL), str(pool), "--test", str(test), "--budget", "200", "--checkpoints",
                 "100", "--epochs", "8", "--batch-size", "16", "--thief-arch", "mlp", "--transfer-images", "20", "--device", "cpu", "--out", str(tmp_path / "out")])
    assert code == 0
    data = json.loads((tmp_path / "out" / "extraction.json").read_text())
    assert [b["queries"] for b in data["budgets"]] == [100, 200]
    assert all(0.0 <= b["fidelity"] <= 1.0 and 0.0 <= b["accuracy"] <= 1.0 for b in data["budgets"])
    assert data["budgets"][-1]["fidelity"] > 0.3
    assert data["pool"].startswith("pool: 100 images, queries beyond them are augmented copies")
    assert data["provenance"]["command"].startswith("advinspect extract")
    assert data["transfer"]["attacked"] > 0
    assert "fidelity" in (tmp_path / "out" / "report.html").read_text()
    assert "200 queries: fidelity" in capsys.readouterr().out
    thief, victim = load_model(tmp_path / "out" / "thief.pt", device="cpu"), load_model(ONNX_MODEL, device="cpu")
    x = load_images(collect_images([test], victim.spec), victim.spec).x
    agreement = float((thief.predict(x) == victim.predict(x)).float().mean())
    assert agreement == pytest.approx(data["budgets"][-1]["fidelity"])  # the saved thief is the measured one


def test_budget_zero_is_one_line(tmp_path, capsys):
    code = main(["extract", str(ONNX_MODEL), "noise", "--test", str(tmp_path), "--budget", "0",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["advinspect: error: budget must be at least 1, got 0"]
