"""Train the demo model: a small CNN on scikit-learn's digits, upsampled to 32x32.

Reproducible under a seed and CPU-only (about half a minute). Writes, under OUT:
  models/digits_cnn.pt2 (+ .advinspect.json), models/digits_cnn.onnx (+ sidecar),
  models/digits_cnn_state_dict.pt, samples/digits/<label>/*.png (the test split).
Run: python -m advinspect.zoo.digits --out resources
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advinspect.core.data.digits import SIZE, digits_images, to_tensor
from advinspect.core.models.spec import ModelSpec, write_sidecar

LABELS = tuple(str(i) for i in range(10))
MEAN, STD = (0.5,), (0.5,)


class DigitsCNN(nn.Module):
    """Two conv blocks and two dense layers: small enough to attack in milliseconds on a CPU."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    @staticmethod
    def default_spec() -> ModelSpec:
        return ModelSpec(input_shape=(1, SIZE, SIZE), mean=MEAN, std=STD, labels=LABELS)


@dataclass
class TrainResult:
    model: DigitsCNN
    test_accuracy: float
    x_test: np.ndarray
    y_test: np.ndarray


def train(seed: int = 0, epochs: int = 15, batch_size: int = 64) -> TrainResult:
    torch.manual_seed(seed)
    np.random.seed(seed)
    x_tr, y_tr, x_te, y_te = digits_images(seed)
    xt, yt = to_tensor(x_tr), torch.from_numpy(y_tr).long()
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    normalize = lambda x: (x - MEAN[0]) / STD[0]  # noqa: E731 — the Classifier does this at use
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(normalize(xt[idx])), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        pred = model(normalize(to_tensor(x_te))).argmax(1).numpy()
    return TrainResult(model, float((pred == y_te).mean()), x_te, y_te)


def export(result: TrainResult, out: Path) -> dict[str, str]:
    """Write the model (torch.export + ONNX + state_dict), sidecars and the test PNGs."""
    from PIL import Image

    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    model = result.model.eval()
    example = torch.zeros(2, 1, SIZE, SIZE)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    pt2 = models / "digits_cnn.pt2"
    torch.export.save(program, str(pt2))
    onnx_path = models / "digits_cnn.onnx"
    torch.onnx.export(
        model, (example,), str(onnx_path), input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False, opset_version=17,
    )
    state = models / "digits_cnn_state_dict.pt"
    torch.save(model.state_dict(), state)
    spec = DigitsCNN.default_spec()
    for path in (pt2, onnx_path):
        write_sidecar(path, spec)
    write_sidecar(state, spec, arch="advinspect.zoo.digits:DigitsCNN")  # reopens without --arch
    samples = out / "samples" / "digits"
    for index, (pixels, label) in enumerate(zip(result.x_test, result.y_test, strict=True)):
        folder = samples / LABELS[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{index:04d}.png")
    info = {"test_accuracy": result.test_accuracy, "n_test": len(result.y_test)}
    (models / "digits_cnn.training.json").write_text(json.dumps(info, indent=2) + "\n")
    return {"pt2": str(pt2), "onnx": str(onnx_path), "samples": str(samples)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("resources"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    result = train(args.seed, args.epochs)
    print(f"test accuracy: {result.test_accuracy:.4f} on {len(result.y_test)} images")
    print(export(result, args.out))


if __name__ == "__main__":
    main()
