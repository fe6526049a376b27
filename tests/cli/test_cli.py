"""The headless CLI on real files: info, predict, attack; errors are one line and non-zero."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX, DEMO_SAMPLES


def test_info_prints_identity(capsys):
    assert main(["info", str(DEMO_MODEL), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "export" in out and "sha256" in out and "136,586" in out and "[1, 32, 32]" in out


def test_info_json(capsys):
    assert main(["info", str(DEMO_ONNX), "--json", "--device", "cpu"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "onnx" and info["has_gradients"] is True and info["num_classes"] == 10


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


def test_attack_writes_results_and_pngs(tmp_path):
    images = tmp_path / "images"
    for label in ("3", "7"):
        (images / label).mkdir(parents=True)
        for png in sorted((DEMO_SAMPLES / label).glob("*.png"))[:3]:
            (images / label / png.name).write_bytes(png.read_bytes())
    out = tmp_path / "run"
    code = main(["attack", str(DEMO_MODEL), str(images), "--attack", "pgd", "--eps", "8/255", "--steps", "5",
                 "--seed", "3", "--out", str(out), "--device", "cpu"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    assert summary["n"] == 6 and summary["params"]["eps"] == pytest.approx(8 / 255) and summary["seed"] == 3
    for key in ("clean_accuracy", "robust_accuracy", "success_rate", "median_linf", "median_l2", "mean_queries",
                "seconds", "device", "n_clean_correct"):
        assert key in summary
    sample = results["samples"][0]
    for key in ("file", "label", "target", "clean_pred", "adv_pred", "clean_confidence", "adv_confidence",
                "success", "linf", "l2", "l0", "iterations", "queries", "success_after_quantization"):
        assert key in sample
    assert sample["linf"] <= 8 / 255 + 1e-5
    assert (out / "adversarial" / "3" / sample["file"].split("/")[1]).exists()
    assert len(list((out / "adversarial").rglob("*.png"))) == 6
    # refuses to overwrite without --force
    again = ["attack", str(DEMO_MODEL), str(images), "--attack", "fgsm", "--out", str(out)]
    assert main(again) == 1
    assert main([*again, "--force"]) == 0


def test_attack_targeted_by_name(tmp_path):
    out = tmp_path / "t"
    files = [str(p) for p in sorted((DEMO_SAMPLES / "1").glob("*.png"))[:4]]
    assert main(["attack", str(DEMO_MODEL), *files, "--attack", "bim", "--eps", "0.3", "--steps", "20",
                 "--target", "8", "--out", str(out)]) == 0
    samples = json.loads((out / "results.json").read_text())["samples"]
    assert all(s["target"] == "8" for s in samples)
    assert sum(s["adv_pred"] == "8" for s in samples) >= 3


@pytest.mark.parametrize("argv, message", [
    (["info", "/nonexistent/model.pt2"], "not found"),
    (["attack", str(DEMO_MODEL), str(DEMO_SAMPLES), "--attack", "nope", "--out", "x"], "unknown attack"),
    (["attack", str(DEMO_MODEL), str(DEMO_SAMPLES), "--attack", "pgd", "--eps", "abc", "--out", "x"], "not a number"),
    (["predict", str(DEMO_MODEL), "/nonexistent/dir"], "no such file"),
    (["info", str(DEMO_MODEL), "--input-shape", "3,32,32"], "does not accept input"),
])
def test_errors_are_one_readable_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("advinspect: error:") and message in err and "\n" not in err


def test_untrusted_pickle_is_refused_with_advice(tmp_path, tiny_module, capsys):
    path = tmp_path / "model.pt"
    torch.save(tiny_module, path)
    assert main(["info", str(path), "--input-shape", "1,8,8"]) == 1
    assert "--trust-pickle" in capsys.readouterr().err
    assert main(["info", str(path), "--input-shape", "1,8,8", "--trust-pickle"]) == 0


def test_help_everywhere(capsys):
    for command in ([], ["info"], ["predict"], ["attack"], ["gui"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
    assert "--top-k" in capsys.readouterr().out
