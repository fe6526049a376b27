"""Parameters, declared once: a `param()` field carries its type, default, range, choices and help.

The GUI builds its forms and the CLI its flags from these dataclasses, and every value, typed by a
person or read from a file, is converted and checked here, in one place.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from fractions import Fraction
from typing import Any

from advinspect.core.errors import AdvInspectError

# The budgets an evaluation uses when none are given (8-bit steps up to the common 8/255).
DEFAULT_EPS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255)

def param(default: Any, help: str, *, min: float | None = None, max: float | None = None,
          choices: tuple[str, ...] | None = None, flag: str | None = None) -> Any:
    """A parameter field: the GUI builds its form and the CLI its flags from this metadata.

    `flag` names the command-line flag when it differs from the field name (`--attack` for a
    list of attacks)."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "flag": flag}
    return field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


def parse_number(text: str | float | int) -> float:
    """'8/255', '0.03', '1e-3' -> float. Fractions are how people write epsilons."""
    if isinstance(text, (int, float)):
        return float(text)
    try:
        if "/" not in text:
            return float(text)
        numerator, denominator = text.split("/")
        return float(Fraction(numerator.strip()) / Fraction(denominator.strip()))  # 0.5/255 too
    except (ValueError, ZeroDivisionError):
        raise AdvInspectError(f"not a number: {text!r} (use e.g. 0.03 or 8/255)") from None


def build_params(params_type: type, values: dict[str, Any]) -> Any:
    """A params dataclass from strings or values, converting types and checking ranges."""
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise AdvInspectError(
                f"unknown parameter {key!r} for {params_type.__name__}; known: {', '.join(fields)}"
            )
        kwargs[name] = _convert(fields[name], raw)
    params = params_type(**kwargs)
    validate_params(params)
    return params


def _convert(f: dataclasses.Field, raw: Any) -> Any:
    kind = str(f.type)
    if raw is None:
        return None
    if kind.startswith("dict"):
        if not isinstance(raw, dict):
            raise AdvInspectError(f"{f.name} takes key=value pairs, got {raw!r}")
        return dict(raw)
    if kind.startswith("tuple"):
        if "float" in kind:
            return parse_numbers(raw)
        if isinstance(raw, (tuple, list)):
            return tuple(str(v).strip() for v in raw)
        return tuple(p.strip() for p in str(raw).split(",") if p.strip())
    if "bool" in kind:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise AdvInspectError(f"{f.name} must be true or false, got {raw!r}")
    if "int" in kind and "float" not in kind:
        value = parse_number(raw)
        if value != int(value):
            raise AdvInspectError(f"{f.name} must be a whole number, got {raw!r}")
        return int(value)
    if "float" in kind:
        return parse_number(raw)
    return str(raw) if not isinstance(raw, str) else raw


def validate_params(params: Any) -> None:
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if value is None:
            continue
        meta = f.metadata
        if "choices" in meta:
            for item in value if isinstance(value, tuple) else (value,):
                if item not in meta["choices"]:
                    raise AdvInspectError(f"{f.name} must be one of {', '.join(meta['choices'])}, got {item!r}")
        if isinstance(value, tuple):
            for item in value:
                _check_number(f, item)
            continue
        _check_number(f, value)


def _check_number(f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise AdvInspectError(f"{f.name} must be finite, got {value}")
        if "min" in meta and value < meta["min"]:
            raise AdvInspectError(f"{f.name} must be at least {meta['min']}, got {value}")
        if "max" in meta and value > meta["max"]:
            raise AdvInspectError(f"{f.name} must be at most {meta['max']}, got {value}")


def parse_numbers(text: str | float | tuple | list) -> tuple[float, ...]:
    """'0,1/255,8/255' -> (0.0, 0.0039.., 0.031..): the one way lists of budgets are read."""
    if isinstance(text, (int, float)):
        return (float(text),)
    if isinstance(text, (tuple, list)):
        return tuple(parse_number(v) for v in text)
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise AdvInspectError(f"expected comma-separated numbers such as 0,0.05,8/255, got {text!r}")
    return tuple(parse_number(p) for p in parts)


def parse_shape(text: str | tuple | list) -> tuple[int, int, int]:
    """'3,224,224' or '3x224x224' -> (3, 224, 224): whole positive numbers only."""
    if isinstance(text, (tuple, list)):
        parts = list(text)
    else:
        parts = [p for p in str(text).replace("x", ",").split(",")]
    try:
        values = [parse_number(p) for p in parts]
    except AdvInspectError:
        raise AdvInspectError(f"expected C,H,W such as 3,224,224, got {text!r}") from None
    if len(values) != 3:
        raise AdvInspectError(f"expected three numbers C,H,W, got {text!r}")
    if any(v != int(v) or v < 1 for v in values):
        raise AdvInspectError(f"a shape takes whole positive numbers, got {text!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def config_fields(config_type: type) -> list[dataclasses.Field]:
    """The fields a form or a flag set is built from: those declared with `param()` (a field
    without help text is plumbing, e.g. the attack-specific parameters dict)."""
    return [f for f in dataclasses.fields(config_type) if "help" in f.metadata]
