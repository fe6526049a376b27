"""Save model as…: a trained (in-memory) model written as TorchScript, torch.export and ONNX with
its sidecar, and opened again by the loader every command uses, with the same logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.models import ModelSpec, load_model
from advinspect.core.models.spec import read_sidecar
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.save_model import save_model, saveable


@pytest.fixture(scope="module")
def tiny() -> TorchClassifier:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 3))
    spec = ModelSpec(input_shape=(1, 8, 8), mean=(0.5,), std=(0.25,), labels=("a", "b", "c"))
    return TorchClassifier(module, spec, torch.device("cpu"))


@pytest.mark.parametrize("suffix", [".pt", ".onnx", ".pt2"])
def test_saved_model_reopens_with_the_same_logits_and_spec(tmp_path: Path, tiny: TorchClassifier,
                                                            suffix: str) -> None:
    path = save_model(tiny, tmp_path / f"trained{suffix}")
    assert read_sidecar(path) == tiny.spec  # normalization and labels travel with the file
    reopened = load_model(path, device="cpu")
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(reopened.logits(x), tiny.logits(x), atol=1e-4, rtol=1e-3)


def test_what_cannot_be_saved_says_why(tmp_path: Path, tiny: TorchClassifier) -> None:
    with pytest.raises(AdvInspectError, match=r"\.pt \(TorchScript\), \.pt2 .* or \.onnx"):
        save_model(tiny, tmp_path / "trained.pkl")
    onnx = load_model(save_model(tiny, tmp_path / "m.onnx"), device="cpu")
    assert "ONNX model is already a file" in saveable(onnx)
    with pytest.raises(AdvInspectError, match="cannot save this model"):
        save_model(onnx, tmp_path / "again.pt")
