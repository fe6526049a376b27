"""JSON files written whole and always valid: NaN and infinities become null.

Why a module of its own: the CLI and every report writer use it, and it must import nothing
heavy (no torch) so `advinspect report` starts fast.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np


def write_json(path: Path, data: Any, *, overwrite: bool = True) -> Path:
    """`data` as JSON, whole or not at all; NaN and infinities are written as null (JSON has no
    such numbers, and refusing them would lose everything else computed)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(finite(data), handle, indent=2, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def finite(value: Any) -> Any:
    """`value` as plain JSON types (numpy scalars and arrays, paths, tuples converted), with
    every NaN or infinity replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, np.generic):
        return finite(value.item())
    if isinstance(value, np.ndarray):
        return finite(value.tolist())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
