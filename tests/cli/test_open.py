"""`advinspect open` end to end on real files."""

from __future__ import annotations

import json

import torch

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX


def test_info_prints_identity(capsys):
    assert main(["info", str(DEMO_MODEL), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "export" in out and "sha256" in out and "136,586" in out and "[1, 32, 32]" in out


def test_info_json(capsys):
    assert main(["info", str(DEMO_ONNX), "--json", "--device", "cpu"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "onnx" and info["has_gradients"] is True and info["num_classes"] == 10


def test_untrusted_pickle_is_refused_with_advice(tmp_path, tiny_module, capsys):
    path = tmp_path / "model.pt"
    torch.save(tiny_module, path)
    assert main(["info", str(path), "--input-shape", "1,8,8"]) == 1
    assert "--trust-pickle" in capsys.readouterr().err
    assert main(["info", str(path), "--input-shape", "1,8,8", "--trust-pickle"]) == 0
