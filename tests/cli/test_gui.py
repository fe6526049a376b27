"""`advinspect gui` takes the same model flags as every other command (no window is opened)."""

from __future__ import annotations

from advinspect.cli.gui import model_options
from advinspect.cli.main import build_parser


def test_gui_accepts_the_model_flags() -> None:
    args = build_parser().parse_args(["gui", "weights.pt", "imgs/", "--arch", "resnet18", "--num-classes", "7",
                                      "--input-shape", "3,64,64", "--mean", "0.5", "--std", "0.25",
                                      "--resize", "center-crop", "--device", "cpu", "--trust-pickle"])
    assert args.model == "weights.pt" and args.images == ["imgs/"]
    assert args.device == "cpu" and args.trust_pickle is True
    assert model_options(args) == {"input_shape": "3,64,64", "mean": "0.5", "std": "0.25", "resize": "center-crop",
                                   "arch": "resnet18", "num_classes": "7"}
    assert model_options(build_parser().parse_args(["gui"])) == {}
