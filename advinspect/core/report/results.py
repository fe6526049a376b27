"""Attack results as files: results.json (summary + one row per sample) and adversarial PNGs.

Files are written to a temporary name and renamed into place, so a crash or a full disk never
leaves half a file behind.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from advinspect import __version__
from advinspect.core.attacks.base import AttackResult
from advinspect.core.data.datasets import ImageItem
from advinspect.core.data.images import save_png
from advinspect.core.models.base import Classifier


def sample_rows(result: AttackResult, items: list[ImageItem], clf: Classifier) -> list[dict[str, Any]]:
    spec = clf.spec
    rows = []
    for i, item in enumerate(items):
        rows.append({
            "file": item.name,
            "source": str(item.path.resolve()),
            "label": spec.label_name(int(result.labels[i])) if result.labels_known else None,
            "target": None if result.target is None else spec.label_name(int(result.target[i])),
            "clean_pred": spec.label_name(int(result.clean_pred[i])),
            "adv_pred": spec.label_name(int(result.adv_pred[i])),
            "clean_confidence": round(float(result.clean_confidence[i]), 6),
            "adv_confidence": round(float(result.adv_confidence[i]), 6),
            "success": bool(result.success[i]),
            "linf": round(float(result.linf[i]), 6),
            "l2": round(float(result.l2[i]), 6),
            "l0": int(result.l0[i]),
            "iterations": int(result.iterations[i]),
            "queries": int(result.queries[i]),
            "success_after_quantization": bool(result.success_after_quantization[i]),
        })
    return rows


def provenance(clf: Classifier) -> dict[str, Any]:
    """What reproduces a run: model identity and software versions."""
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "model": {"file": clf.path.name if clf.path else None, "format": clf.format, "sha256": clf.sha256,
                  "spec": clf.spec.to_dict()},
        "versions": {"advinspect": __version__, "torch": torch.__version__, "onnxruntime": ort_version,
                     "python": platform.python_version(), "numpy": np.__version__},
    }


def attack_results(result: AttackResult, items: list[ImageItem], clf: Classifier,
                   command: str | None = None) -> dict[str, Any]:
    return {
        "summary": result.summary(),
        "provenance": {**provenance(clf), "command": command},
        "trace": result.trace,
        "samples": sample_rows(result, items, clf),
    }


def write_json(path: Path, data: Any, *, overwrite: bool = True) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, allow_nan=False, default=_jsonable)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_attack_outputs(out_dir: Path, result: AttackResult, items: list[ImageItem], clf: Classifier,
                         command: str | None = None) -> Path:
    """DIR/results.json and DIR/adversarial/<same relative name>.png for every sample."""
    out_dir = Path(out_dir)
    for i, item in enumerate(items):
        name = Path(item.name).with_suffix(".png")
        save_png(result.x_adv[i], out_dir / "adversarial" / name, clf.spec.value_range)
    return write_json(out_dir / "results.json", attack_results(result, items, clf, command))
