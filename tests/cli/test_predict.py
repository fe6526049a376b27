"""`advinspect predict` end to end on real files."""

from __future__ import annotations

import json

import torch
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


class _NaNOnBright(torch.nn.Module):
    """Logits that are NaN for bright images: a broken model, not broken images."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x.flatten(1))
        bright = (x.flatten(1).mean(1) > 0.5).unsqueeze(1)
        return torch.where(bright, torch.full_like(out, float("nan")), out)


def _nan_model_and_images(tmp_path):
    torch.manual_seed(0)
    model = torch.jit.script(_NaNOnBright().eval())
    path = tmp_path / "nan.ts"
    torch.jit.save(model, str(path))
    (tmp_path / "nan.ts.advinspect.json").write_text(json.dumps({"input_shape": [1, 8, 8]}))
    folder = tmp_path / "images"
    folder.mkdir()
    for i, value in enumerate((20, 60, 200, 240)):
        Image.new("L", (8, 8), value).save(folder / f"{i}.png")
    return path, folder


def test_nan_outputs_are_written_as_null_and_do_not_exit_0(tmp_path, capsys):
    path, folder = _nan_model_and_images(tmp_path)
    out = tmp_path / "p.json"
    assert main(["predict", str(path), str(folder), "--json", str(out)]) == 1
    data = json.loads(out.read_text())
    assert data["summary"]["n_nonfinite"] == 2 and len(data["rows"]) == 4
    assert "NaN or infinite on 2 of 4 images" in capsys.readouterr().err


def test_attack_on_nan_outputs_keeps_its_results_and_exits_1(tmp_path, capsys):
    path, folder = _nan_model_and_images(tmp_path)
    run = tmp_path / "run"
    assert main(["attack", str(path), str(folder), "--attack", "fgsm", "--eps", "0.1", "--out", str(run)]) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["summary"]["n_nonfinite"] == 2 and len(results["samples"]) == 4
    assert len(list((run / "adversarial").rglob("*.png"))) == 4
