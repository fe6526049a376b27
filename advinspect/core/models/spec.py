"""ModelSpec: what a classifier expects (input shape, value range, normalization, labels).

Read from a sidecar `<model>.advinspect.json`, from CLI flags, or inferred from the model.
Attacks work in the pixel space described here; mean/std are applied inside the Classifier.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from advinspect.core.errors import ModelLoadError

RESIZE_POLICIES = ("resize", "center-crop", "none")
SIDECAR_SUFFIX = ".advinspect.json"
FIELDS = ("input_shape", "value_range", "mean", "std", "labels", "resize")
# A state_dict's sidecar may also name its architecture, so it reopens without asking again.
ARCHITECTURE_FIELDS = ("arch", "num_classes")
MAX_ARCH_CHARS = 200
MIN_STD = 1e-6  # smaller divides pixels into overflow: a typo, not a normalization
MAX_INPUT_ELEMENTS = 1 << 26  # C*H*W of one image: 64 Mi floats (256 MB); larger is not an image model
MAX_SPEC_FILE_BYTES = 64 << 20  # a sidecar or labels file larger than this is not one


# --- the schema: every field is checked here, whatever its source (sidecar, flags, code) -------


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelLoadError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ModelLoadError(f"{what} must be a finite number, got {value!r}")
    return number


def _sequence(value: Any, what: str) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ModelLoadError(f"{what} must be a list, got {value!r}"[:200])
    return tuple(value)


def check_shape(value: Any) -> tuple[int, int, int]:
    """Three whole positive numbers C, H, W; a fractional one is refused, never truncated."""
    items = _sequence(value, "input_shape")
    if len(items) != 3:
        raise ModelLoadError(f"input shape must be three positive numbers C,H,W, got {value!r}"[:200])
    dims = []
    for item in items:
        number = _number(item, "each input_shape value")
        if number <= 0 or not number.is_integer():
            raise ModelLoadError(f"input shape must be three whole positive numbers C,H,W, got {value!r}"[:200])
        dims.append(int(number))
    if math.prod(dims) > MAX_INPUT_ELEMENTS:
        raise ModelLoadError(
            f"input shape {tuple(dims)} has {math.prod(dims)} values per image, more than {MAX_INPUT_ELEMENTS}"
        )
    return dims[0], dims[1], dims[2]


def check_value_range(value: Any) -> tuple[float, float]:
    items = _sequence(value, "value_range")
    if len(items) != 2:
        raise ModelLoadError(f"value range must be two numbers LO,HI, got {value!r}"[:200])
    lo, hi = (_number(v, "value_range") for v in items)
    if not lo < hi:
        raise ModelLoadError(f"value range must have low < high, got {value!r}")
    return lo, hi


def check_per_channel(value: Any, name: str) -> tuple[float, ...]:
    items = _sequence(value, name)
    if not items:
        raise ModelLoadError(f"{name} needs one value or one per channel, got none")
    numbers = tuple(_number(v, name) for v in items)
    if name == "std" and any(v < MIN_STD for v in numbers):
        raise ModelLoadError(f"std must be at least {MIN_STD:g} (a positive scale), got {value!r}"[:200])
    return numbers


def check_labels(value: Any) -> tuple[str, ...]:
    """A list of distinct, non-empty class names (one string is refused: it is not a list of names)."""
    items = _sequence(value, "labels")
    if not items:
        raise ModelLoadError("labels must name at least one class")
    labels = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ModelLoadError(f"label {index} must be a string, got {item!r}"[:200])
        if not item.strip():
            raise ModelLoadError(f"label {index} is empty")
        labels.append(item.strip())
    seen: set[str] = set()
    duplicates = sorted({label for label in labels if label in seen or seen.add(label)})
    if duplicates:
        raise ModelLoadError(f"labels must be distinct; repeated: {', '.join(duplicates[:5])}"[:200])
    return tuple(labels)


def check_resize(value: Any) -> str:
    if value not in RESIZE_POLICIES:
        raise ModelLoadError(f"resize policy must be one of {', '.join(RESIZE_POLICIES)}, got {value!r}"[:200])
    return str(value)


@dataclass(frozen=True)
class ModelSpec:
    """Input contract of a classifier. `input_shape` is (C, H, W) without the batch dimension.
    Every field is validated on construction (see the check_* functions above)."""

    input_shape: tuple[int, int, int] | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None
    resize: str = "resize"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", check_shape(self.input_shape))
        object.__setattr__(self, "value_range", check_value_range(self.value_range))
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_per_channel(value, name))
        if self.channels is not None:
            for name in ("mean", "std"):
                value = getattr(self, name)
                if value is not None and len(value) not in (1, self.channels):
                    raise ModelLoadError(
                        f"{name} has {len(value)} values but the input has {self.channels} channels"
                    )
        if self.labels is not None:
            object.__setattr__(self, "labels", check_labels(self.labels))
        object.__setattr__(self, "resize", check_resize(self.resize))

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
    def from_dict(cls, data: Any) -> ModelSpec:
        """A spec from parsed JSON: an object with only the known keys, each validated; null means unset."""
        if not isinstance(data, dict):
            raise ModelLoadError(f"a model spec must be a JSON object, got {type(data).__name__}")
        unknown = sorted(str(k) for k in data if k not in FIELDS)
        if unknown:
            raise ModelLoadError(
                f"unknown keys in model spec: {', '.join(unknown)[:200]} (known: {', '.join(FIELDS)})"
            )
        values = {k: v for k, v in data.items() if v is not None}
        return cls(**values)


def sidecar_path(model_path: str | Path) -> Path:
    return Path(str(model_path) + SIDECAR_SUFFIX)


def _sidecar_data(model_path: str | Path) -> dict[str, Any] | None:
    path = sidecar_path(model_path)
    if not path.exists():
        return None
    data = _read_json(path, "model spec")
    if not isinstance(data, dict):
        raise ModelLoadError(f"model spec {path.name} must be a JSON object")
    return data


def read_sidecar(model_path: str | Path) -> ModelSpec | None:
    """The spec saved next to the model, or None when there is no sidecar."""
    data = _sidecar_data(model_path)
    if data is None:
        return None
    try:
        return ModelSpec.from_dict({k: v for k, v in data.items() if k not in ARCHITECTURE_FIELDS})
    except ModelLoadError as exc:
        raise ModelLoadError(f"model spec {sidecar_path(model_path).name}: {exc}") from exc


def read_sidecar_architecture(model_path: str | Path) -> tuple[str | None, int | None]:
    """The architecture (torchvision name or package.module:Class) and class count a state_dict's
    sidecar names, each None when it names none. Validated here; whether importing it is allowed
    is the loader's decision."""
    data = _sidecar_data(model_path) or {}
    arch, classes = data.get("arch"), data.get("num_classes")
    name = sidecar_path(model_path).name
    if arch is not None and (not isinstance(arch, str) or not arch.strip() or len(arch) > MAX_ARCH_CHARS
                             or any(c.isspace() for c in arch)):
        raise ModelLoadError(f"model spec {name}: arch must be a torchvision name or package.module:Class")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int) or not 1 <= classes <= 1_000_000):
        raise ModelLoadError(f"model spec {name}: num_classes must be a whole number from 1 to 1000000")
    return arch, classes


def _read_text(path: Path, what: str) -> str:
    try:
        if path.stat().st_size > MAX_SPEC_FILE_BYTES:
            raise ModelLoadError(f"{what} {path.name} is larger than {MAX_SPEC_FILE_BYTES >> 20} MB")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelLoadError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"{what} {path.name} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def _read_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ModelLoadError(f"{what} {path.name} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ModelLoadError(f"{what} {path.name} is nested too deeply") from exc


def write_sidecar(model_path: str | Path, spec: ModelSpec, *, arch: str | None = None,
                  num_classes: int | None = None) -> Path:
    """Save the spec (and a state_dict's architecture) next to the model, atomically: written to
    a temporary file, then renamed."""
    path = sidecar_path(model_path)
    data = spec.to_dict()
    data.update({k: v for k, v in (("arch", arch), ("num_classes", num_classes)) if v is not None})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_labels_file(path: str | Path) -> tuple[str, ...]:
    """Labels from a text file (one per line) or a JSON list."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            data = _read_json(path, "labels file")
            if isinstance(data, dict):  # {"0": "cat", "1": "dog", ...}: the keys must be 0..n-1
                data = _labels_from_index(data)
            return check_labels(data)
        return check_labels([line for line in _read_text(path, "labels file").splitlines() if line.strip()])
    except ModelLoadError as exc:
        raise ModelLoadError(f"labels file {path.name}: {exc}") from exc


def _labels_from_index(data: dict[str, Any]) -> list[Any]:
    try:
        indexed = {int(k): v for k, v in data.items()}
    except ValueError:
        raise ModelLoadError("a JSON object of labels must have keys 0, 1, 2, ...") from None
    if sorted(indexed) != list(range(len(indexed))):
        raise ModelLoadError(f"a JSON object of labels must have keys 0..{len(indexed) - 1}, without gaps")
    return [indexed[i] for i in range(len(indexed))]
