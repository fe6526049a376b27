"""`advinspect evaluate` and `advinspect saliency` on the demo: files and numbers a user relies on."""

from __future__ import annotations

import json

from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES


def _small_set(tmp_path, per_class=4):
    root = tmp_path / "set"
    for folder in sorted(DEMO_SAMPLES.iterdir()):
        (root / folder.name).mkdir(parents=True)
        for png in sorted(folder.glob("*.png"))[:per_class]:
            (root / folder.name / png.name).write_bytes(png.read_bytes())
    return root


def test_evaluate_writes_json_and_plots(tmp_path, capsys):
    data = _small_set(tmp_path)
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


def test_saliency_writes_overlays(tmp_path):
    files = [str(p) for p in sorted((DEMO_SAMPLES / "5").glob("*.png"))[:3]]
    out = tmp_path / "sal"
    assert main(["saliency", str(DEMO_MODEL), *files, "--method", "gradient", "--out", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == 3
    image = Image.open(written[0])
    assert image.mode == "RGB" and image.size == (32, 32)
