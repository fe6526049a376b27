"""Where the built-in demo (the digits CNN and its test images) lives."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[3] / "resources"
DEMO_MODEL = RESOURCES / "models" / "digits_cnn.pt2"
DEMO_ONNX = RESOURCES / "models" / "digits_cnn.onnx"
DEMO_SAMPLES = RESOURCES / "samples" / "digits"


def demo_available() -> bool:
    return DEMO_MODEL.is_file() and DEMO_SAMPLES.is_dir()
