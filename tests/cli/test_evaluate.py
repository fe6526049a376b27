"""`advinspect evaluate` end to end on real files."""

from __future__ import annotations

import json

from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from tests.cli.conftest import small_set_at


def test_evaluate_writes_json_and_plots(tmp_path, capsys):
    data = small_set_at(tmp_path / 'set', 4)
    out = tmp_path / "eval"
    code = main(["evaluate", str(DEMO_MODEL), str(data), "--eps", "0,2/255,0.1", "--steps", "5",
                 "--no-sanity-checks", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "evaluation.json").read_text())
    calib = result["calibration"]
    for key in ("ece", "mce", "nll", "brier", "temperature", "ece_after_temperature"):
        assert isinstance(calib[key], float)
    bins = calib["bins"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 40
    curve = result["curves"][0]
    assert curve["attack"] == "pgd" and curve["eps"] == [0, 2 / 255, 0.1]
    assert curve["robust_accuracy"][0] == result["clean_accuracy"]
    assert curve["robust_accuracy"] == sorted(curve["robust_accuracy"], reverse=True)
    assert len(curve["success_rate"]) == 3 and "warnings" in result
    for name in ("robustness.png", "reliability.png", "histograms.png", "confusion.png"):
        assert Image.open(out / name).size[0] > 200
    assert "robust accuracy by eps" in capsys.readouterr().out


def test_evaluate_needs_labels(tmp_path, capsys):
    files = [str(p) for p in sorted((DEMO_SAMPLES / "0").glob("*.png"))[:2]]
    assert main(["evaluate", str(DEMO_MODEL), *files, "--out", str(tmp_path / "e")]) == 1
    assert "needs labels" in capsys.readouterr().err
