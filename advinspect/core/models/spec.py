"""ModelSpec: what a classifier expects (input shape, value range, normalization, labels).

Read from a sidecar `<model>.advinspect.json`, from CLI flags, or inferred from the model.
Attacks work in the pixel space described here; mean/std are applied inside the Classifier.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from advinspect.core.errors import ModelLoadError

RESIZE_POLICIES = ("resize", "center-crop", "none")
SIDECAR_SUFFIX = ".advinspect.json"


@dataclass(frozen=True)
class ModelSpec:
    """Input contract of a classifier. `input_shape` is (C, H, W) without the batch dimension."""

    input_shape: tuple[int, int, int] | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    resize: str = "resize"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.input_shape is not None:
            if len(self.input_shape) != 3 or any(int(s) <= 0 for s in self.input_shape):
                raise ModelLoadError(f"input shape must be three positive numbers C,H,W, got {self.input_shape}")
            object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        lo, hi = (float(v) for v in self.value_range)
        if not lo < hi:
            raise ModelLoadError(f"value range must have low < high, got {self.value_range}")
        object.__setattr__(self, "value_range", (lo, hi))
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in value))
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ModelLoadError(f"std must be positive, got {self.std}")
        if self.channels is not None:
            for name in ("mean", "std"):
                value = getattr(self, name)
                if value is not None and len(value) not in (1, self.channels):
                    raise ModelLoadError(
                        f"{name} has {len(value)} values but the input has {self.channels} channels"
                    )
        if self.labels is not None:
            object.__setattr__(self, "labels", tuple(str(v) for v in self.labels))
        if self.resize not in RESIZE_POLICIES:
            raise ModelLoadError(f"resize policy must be one of {RESIZE_POLICIES}, got {self.resize!r}")

    @property
    def channels(self) -> int | None:
        return None if self.input_shape is None else self.input_shape[0]

    @property
    def num_classes(self) -> int | None:
        return None if self.labels is None else len(self.labels)

    def label_name(self, index: int) -> str:
        if self.labels is not None and 0 <= index < len(self.labels):
            return self.labels[index]
        return str(index)

    def label_index(self, name: str) -> int:
        """Index of a class given by name or by number; raises with the known names otherwise."""
        if self.labels is not None and name in self.labels:
            return self.labels.index(name)
        try:
            index = int(name)
        except ValueError:
            known = ", ".join(self.labels[:10]) + ("…" if self.labels and len(self.labels) > 10 else "")
            raise ModelLoadError(f"unknown class {name!r}; known classes: {known or 'none (no labels)'}") from None
        if self.num_classes is not None and not 0 <= index < self.num_classes:
            raise ModelLoadError(f"class index {index} out of range 0..{self.num_classes - 1}")
        return index

    def merged(self, override: ModelSpec | None = None, **fields: Any) -> ModelSpec:
        """This spec with the non-default fields of `override` and explicit `fields` on top."""
        values: dict[str, Any] = {}
        if override is not None:
            default = ModelSpec()
            for name in ("input_shape", "value_range", "mean", "std", "labels", "resize"):
                if getattr(override, name) != getattr(default, name):
                    values[name] = getattr(override, name)
        values.update({k: v for k, v in fields.items() if v is not None})
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {"input_shape", "value_range", "mean", "std", "labels", "resize"}
        unknown = set(data) - known
        if unknown:
            raise ModelLoadError(f"unknown keys in model spec: {', '.join(sorted(unknown))}")
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**values)


def sidecar_path(model_path: str | Path) -> Path:
    return Path(str(model_path) + SIDECAR_SUFFIX)


def read_sidecar(model_path: str | Path) -> ModelSpec | None:
    """The spec saved next to the model, or None when there is no sidecar."""
    path = sidecar_path(model_path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read model spec {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"model spec {path.name} must be a JSON object")
    return ModelSpec.from_dict(data)


def write_sidecar(model_path: str | Path, spec: ModelSpec) -> Path:
    """Save the spec next to the model (atomically: written to a temporary file, then renamed)."""
    path = sidecar_path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_labels_file(path: str | Path) -> tuple[str, ...]:
    """Labels from a text file (one per line) or a JSON list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelLoadError(f"cannot read labels file {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict):  # {"0": "cat", ...}
            data = [data[k] for k in sorted(data, key=lambda k: int(k))]
        return tuple(str(v) for v in data)
    return tuple(line.strip() for line in text.splitlines() if line.strip())
