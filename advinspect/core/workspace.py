"""Workspace: a folder that reopens a review where it was left — the model (path, sha256, spec,
architecture), the defense, the image sources, every run with its result, and the window layout.

`workspace.json` holds everything readable; `runs/<id>.npz` the per-image arrays of each run,
read back with `allow_pickle=False`. Nothing is ever unpickled. An array too large to read into
memory at once (a whole large folder's adversarials) is its own `runs/<id>.<name>.npy`, written
once and memory-mapped when the workspace is opened, so reopening a review of 20,000 images
takes no more memory than making it did. The model is referenced, not
copied: on open its sha256 is compared with the one saved, and a moved or changed file is named
(`ModelCheck`) instead of being used silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.report.jsonio import write_json
from advinspect.core.runs import Run

FORMAT = "advinspect-workspace"
VERSION = 1
MANIFEST = "workspace.json"
MAPPED_BYTES = 64 * 2**20  # a run's array larger than this is its own .npy, memory-mapped when read


class WorkspaceError(AdvInspectError):
    """A workspace folder that cannot be read (missing, not ours, damaged)."""


@dataclass
class Workspace:
    """What a workspace holds. `model` = {"path", "sha256", "spec", "arch", "num_classes"} or
    None (an in-memory model: its runs are kept, the model itself cannot be reopened)."""

    model: dict[str, Any] | None
    sources: list[str]
    defense: dict[str, Any] | None = None
    runs: list[Run] = field(default_factory=list)
    layout: str = ""  # the window's saveState as hex: opaque to the core
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelCheck:
    """Whether the model a workspace names is still the same file: ok, missing, changed, none."""

    state: str
    message: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def save(folder: str | Path, workspace: Workspace) -> Path:
    """Write `workspace` into `folder` (created; an older workspace there is replaced)."""
    folder = Path(folder)
    runs_dir = folder / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    keep = set()
    entries = []
    for run in workspace.runs:
        meta = run.meta()
        small = {k: v for k, v in run.arrays.items() if np.asarray(v).nbytes <= MAPPED_BYTES}
        if small:
            name = f"{_safe(run.id)}.npz"
            np.savez_compressed(runs_dir / name, **small)
            keep.add(name)
            meta["arrays"] = f"runs/{name}"
        mapped = {}
        for key in sorted(set(run.arrays) - set(small)):
            # named by run and creation time: a run never changes, so its file is written once (it
            # may be mapped right now, from this folder); a new file goes in under another name
            # first, so a mapping of an old one never sees a half-written file
            name = f"{_safe(run.id)}-{int(run.created * 1000)}.{_safe(key)}.npy"
            if not (runs_dir / name).is_file():
                partial = runs_dir / f".{name}.partial"
                with open(partial, "wb") as handle:
                    np.save(handle, run.arrays[key], allow_pickle=False)
                os.replace(partial, runs_dir / name)
            keep.add(name)
            mapped[key] = f"runs/{name}"
        if mapped:
            meta["mapped_arrays"] = mapped
        entries.append(meta)
    for stale in [*runs_dir.glob("*.npz"), *runs_dir.glob("*.npy")]:  # runs deleted since the last save
        if stale.name not in keep:
            stale.unlink()
    manifest = {"format": FORMAT, "version": VERSION, "model": workspace.model, "sources": workspace.sources,
                "defense": workspace.defense, "layout": workspace.layout, "extra": workspace.extra, "runs": entries}
    return write_json(folder / MANIFEST, manifest)


def load(folder: str | Path) -> Workspace:
    """Read a workspace folder (or its workspace.json); arrays with allow_pickle=False."""
    folder = Path(folder)
    if folder.name == MANIFEST:
        folder = folder.parent
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise WorkspaceError(f"not a workspace: {manifest_path} not found")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise WorkspaceError(f"{manifest_path} is not an advinspect workspace")
    if int(manifest.get("version", 0)) > VERSION:
        raise WorkspaceError(f"{manifest_path} is workspace version {manifest['version']}; this advinspect "
                             f"reads up to {VERSION}")
    runs = [_run(folder, entry) for entry in manifest.get("runs", [])]
    return Workspace(manifest.get("model"), list(manifest.get("sources") or []), manifest.get("defense"), runs,
                     str(manifest.get("layout") or ""), dict(manifest.get("extra") or {}))


def check_model(model: dict[str, Any] | None) -> ModelCheck:
    """Is the model file the workspace names still there, with the same sha256?"""
    from advinspect.core.models.base import file_sha256

    if not model or not model.get("path"):
        return ModelCheck("none", "the workspace's model was in memory only: its runs are shown, the model is not reopened")
    path = Path(model["path"])
    if not path.is_file():
        return ModelCheck("missing", f"the model {path} has moved or been deleted: open it again (its sha256 was "
                                     f"{str(model.get('sha256'))[:16]}…)")
    digest = file_sha256(path)
    if model.get("sha256") and digest != model["sha256"]:
        return ModelCheck("changed", f"the model {path} has changed since the workspace was saved (sha256 "
                                     f"{digest[:16]}… was {str(model['sha256'])[:16]}…): its runs were made with "
                                     "the old file")
    return ModelCheck("ok", f"model {path.name} unchanged (sha256 {digest[:16]}…)")


def _run(folder: Path, entry: dict[str, Any]) -> Run:
    if not isinstance(entry, dict) or "id" not in entry or "verb" not in entry:
        raise WorkspaceError(f"a run in {folder / MANIFEST} lacks its id or verb")
    arrays: dict[str, np.ndarray] = {}
    if entry.get("arrays"):
        path = _inside(folder, entry["id"], entry["arrays"])
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"run {entry['id']}: cannot read {path.name}: {exc}") from exc
    mapped = entry.get("mapped_arrays") or {}
    if not isinstance(mapped, dict):
        raise WorkspaceError(f"run {entry['id']}: mapped_arrays is not a table of array files")
    for key, relative in mapped.items():
        path = _inside(folder, entry["id"], relative)
        try:
            arrays[str(key)] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"run {entry['id']}: cannot read {path.name}: {exc}") from exc
    return Run(str(entry["id"]), str(entry["verb"]), str(entry.get("name") or entry["id"]),
               float(entry.get("created") or 0.0), dict(entry.get("model") or {}), entry.get("defense"),
               dict(entry.get("params") or {}), [str(s) for s in entry.get("summary") or []],
               dict(entry.get("data") or {}), dict(entry.get("images") or {}), arrays, bool(entry.get("cancelled")))


def _inside(folder: Path, run_id: Any, relative: Any) -> Path:
    """A run's array file, which must lie inside the workspace folder."""
    path = (folder / str(relative)).resolve()
    if folder.resolve() not in path.parents:
        raise WorkspaceError(f"run {run_id}: arrays path {relative!r} leaves the workspace")
    return path


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def import_results(path: str | Path) -> tuple[str, dict[str, Any], list[str]]:
    """A CLI `results.json` (attack) or `evaluation.json` (evaluate, merged shards) as (verb, data,
    summary lines) for a run: the GUI shows what the command line computed."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkspaceError(f"{path.name} is not a results file (a JSON object was expected)")
    if "curves" in data and "calibration" in data:
        lines = [f"clean accuracy {data.get('clean_accuracy')} on {data.get('n')} images"]
        for curve in data["curves"]:
            points = ", ".join(f"{e:g}: {a:.4f}" for e, a in zip(curve["eps"], curve["robust_accuracy"], strict=False)
                               if isinstance(a, (int, float)))
            lines.append(f"{curve.get('attack')} robust accuracy by eps: {points}")
        return "evaluate", data, lines
    summary = data.get("summary")
    if isinstance(summary, dict) and "attack" in summary:
        lines = [f"{summary['attack']}: {summary.get('n')} images, robust accuracy {summary.get('robust_accuracy')}, "
                 f"success rate {summary.get('success_rate')}"]
        return "attack", data, lines
    verb = str(data.get("verb") or data.get("command") or "imported")
    return verb, data, [f"imported from {path.name}"]
