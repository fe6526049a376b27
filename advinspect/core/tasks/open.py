"""open: load a model file as a Classifier, with its spec from the file, a sidecar or these fields.

These fields are the model flags of every command and the fields of the GUI's model dialog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param

RESIZE = ("resize", "center-crop", "none")


@dataclass(frozen=True)
class Config:
    input_shape: tuple[float, ...] | None = param(None, "input shape without batch: C,H,W", min=1)
    value_range: tuple[float, ...] | None = param(None, "pixel value range LO,HI (default 0,1)")
    mean: tuple[float, ...] | None = param(None, "normalization mean, applied inside the model")
    std: tuple[float, ...] | None = param(None, "normalization std, applied inside the model")
    labels: str = param("", "class names file: one per line, or a JSON list")
    resize: str = param("", "how images are fitted to the input", choices=("", *RESIZE))
    arch: str = param("", "architecture of a state_dict: torchvision name (resnet18) or package.module:Class")
    num_classes: int | None = param(None, "number of classes of the architecture", min=1)
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    trust_pickle: bool = param(False, "allow code from the model file to run (pickles, file-touching "
                                      "operators): only for files you trust")

    def spec(self) -> Any:
        """The ModelSpec these fields give (None when they give nothing)."""
        from advinspect.core.models import ModelSpec
        from advinspect.core.models.spec import read_labels_file
        from advinspect.core.params import parse_shape

        fields: dict[str, Any] = {}
        if self.input_shape is not None:
            fields["input_shape"] = parse_shape(self.input_shape)
        if self.value_range is not None:
            if len(self.value_range) != 2:
                raise AdvInspectError("the value range takes two numbers LO,HI")
            fields["value_range"] = tuple(self.value_range)
        if self.mean is not None:
            fields["mean"] = tuple(self.mean)
        if self.std is not None:
            fields["std"] = tuple(self.std)
        if self.resize:
            fields["resize"] = self.resize
        if self.labels:
            fields["labels"] = read_labels_file(Path(self.labels))
        return ModelSpec(**fields) if fields else None


@dataclass
class Inputs:
    path: Path


@dataclass
class Result:
    clf: Any
    info: dict[str, Any]
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        return dict(self.info)

    def summary_text(self) -> list[str]:
        info = dict(self.info)
        spec = dict(info.pop("spec", {}))
        lines = []
        for key, value in info.items():
            if key == "parameters" and value is not None:
                value = f"{value:,}"
            lines.append(f"{key:>16}: {value}")
        labels = list(spec.pop("labels", None) or [])
        for key, value in spec.items():
            lines.append(f"{key:>16}: {value}")
        shown = ", ".join(labels[:10]) + (f", … ({len(labels)} in all)" if len(labels) > 10 else "")
        lines.append(f"{'labels':>16}: {shown}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return dict(self.info)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.models import load_model

    progress(0, 1, f"opening {Path(inputs.path).name}")
    clf = load_model(inputs.path, config.spec(), arch=config.arch or None, num_classes=config.num_classes,
                     device=config.device, trust_pickle=config.trust_pickle)
    info = clf.describe()  # hashes the file: keep it off the GUI thread
    progress(1, 1, "opened")
    return Result(clf, info)
