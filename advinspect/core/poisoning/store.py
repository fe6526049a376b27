"""The poisoned set on disk: folder-per-class PNGs and `manifest.json` saying which are poisoned.

The manifest is plain JSON (never a pickle): the attack's settings (so the trigger can be rebuilt
to measure ASR later) and one row per file with its label as written, its original label and
whether it was poisoned. A sanitizer scores itself against it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.poisoning.attacks import PoisonedSet

MANIFEST = "manifest.json"


def write_poisoned_set(folder: str | Path, poisoned: PoisonedSet, label_names: Sequence[str],
                       value_range: tuple[float, float], attack: dict[str, Any]) -> Path:
    """Write every image as `<label name>/<index>.png` plus the manifest; returns its path."""
    from advinspect.core.data.images import save_png

    folder = Path(folder)
    x = poisoned.x.detach().cpu().numpy()
    rows = []
    for i in range(len(x)):
        label = int(poisoned.labels[i])
        name = f"{label_names[label]}/{i:05d}.png"
        save_png(x[i], folder / name, value_range)
        rows.append({"file": name, "index": i, "label": label, "original_label": int(poisoned.original_labels[i]),
                     "poisoned": bool(poisoned.poisoned[i])})
    path = folder / MANIFEST
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps({"version": 1, "attack": attack, "files": rows}, indent=1) + "\n")
    tmp.replace(path)
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest at `path` (or in the folder `path`), checked for the fields used."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    try:
        data = json.loads(path.read_text())
        rows = data["files"]
        _ = [(r["file"], bool(r["poisoned"])) for r in rows]
    except FileNotFoundError:
        raise AdvInspectError(f"no poison manifest at {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdvInspectError(f"{path} is not a poison manifest: {exc}") from None
    data["root"] = str(path.parent)
    return data


def poisoned_mask(paths: Sequence[str], manifest: dict[str, Any]) -> np.ndarray:
    """Which of `paths` the manifest marks poisoned (matched by path below the manifest's folder)."""
    root = Path(manifest["root"]).resolve()
    marked = {r["file"]: bool(r["poisoned"]) for r in manifest["files"]}
    mask = np.zeros(len(paths), bool)
    missing = 0
    for i, p in enumerate(paths):
        try:
            key = Path(p).resolve().relative_to(root).as_posix()
        except ValueError:
            key = ""
        if key not in marked:
            missing += 1
        mask[i] = marked.get(key, False)
    if missing == len(paths) and len(paths):
        raise AdvInspectError(f"none of the images is listed in the manifest of {root}")
    return mask


def save_trained_model(training: Any, path: str | Path) -> Path:
    """Save a TrainingResult as a torch.export `.pt2` with its sidecar spec and training history.

    Not TorchScript (what `save_defended_model` writes first): sanitize reads a layer's features,
    and a TorchScript model hides its layers; a torch.export program keeps them as graph nodes."""
    import copy

    import torch

    from advinspect.core.defenses.training import _save_export
    from advinspect.core.models.spec import write_sidecar

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = copy.deepcopy(training.module).cpu().eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    lo, hi = training.spec.value_range
    tmp = path.with_name(path.name + ".part")
    _save_export(module, torch.full((2, *training.spec.input_shape), (lo + hi) / 2), tmp)
    tmp.replace(path)
    write_sidecar(path, training.spec)
    info = {"summary": training.summary(), "history": training.history}
    Path(str(path) + ".training.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    return path
