"""File → Save / Open Workspace: the window's side of `core/workspace.py`.

Saving gathers the session (model reference and the options it needed, image sources, defense,
runs) and the dock layout. Opening checks the model's sha256 first: a moved or changed file is
named in an error and not opened — the runs are still shown, with their numbers, because they
are the record of what was computed. An unchanged model is reopened with its images; then the
defense is applied again and the runs are adopted (evaluations rebuilt for the plots from their
saved arrays, nothing re-run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray

from advinspect.core.errors import AdvInspectError
from advinspect.core.runs import restore_result
from advinspect.core.workspace import Workspace, check_model, load, save

STATE_VERSION = 1


def save_workspace(window: Any, folder: str | Path) -> Path | None:
    """Write the window's workspace into `folder`; None (and an error shown) when it cannot."""
    s = window.session
    model = s.model_record() if s.model_path else None
    if model is not None:
        model["options"] = dict(s.model_options.get(str(s.model_path), {}))
    workspace = Workspace(model, list(s.sources), s.defense, list(s.runs),
                          bytes(window.saveState(STATE_VERSION).data()).hex())
    try:
        path = save(folder, workspace)
    except (OSError, AdvInspectError, TypeError) as exc:
        s._fail("Cannot save the workspace", str(exc), "")
        return None
    s.log("info", f"workspace saved to {path.parent} ({len(workspace.runs)} run(s))")
    return path


def open_workspace(window: Any, folder: str | Path) -> Workspace | None:
    """Read `folder`, check the model, reopen it with its images, then adopt the runs."""
    s = window.session
    try:
        workspace = load(folder)
    except AdvInspectError as exc:
        s._fail("Cannot open the workspace", str(exc), "")
        return None
    check = check_model(workspace.model)
    _restore_layout(window, workspace.layout)
    if not check.ok:
        s.replace_runs(workspace.runs)
        if check.state == "none":
            s.log("info", check.message)
        else:
            s._fail("The workspace's model is not the same file", check.message, "")
        return workspace
    s.log("info", check.message)
    model = workspace.model or {}

    def ready() -> None:
        s.ready.disconnect(ready)
        for run in workspace.runs:
            run.result = restore_result(run, s.images) if run.images == s.images_fingerprint() else None
        s.replace_runs(workspace.runs)
        if workspace.defense:
            _apply_defense(s, workspace.defense)

    s.ready.connect(ready)
    s.open_model(str(model["path"]), sources=workspace.sources, options=dict(model.get("options") or {}))
    return workspace


def _apply_defense(session: Any, defense: dict[str, Any]) -> None:
    from advinspect.core.tasks import defend
    from advinspect.core.tasks.base import make_config

    try:
        config = make_config(defend.Config, {"defense": defense.get("text"), "adaptive": defense.get("adaptive"),
                                             "eot_samples": defense.get("eot_samples")})
    except AdvInspectError as exc:
        session._fail("Cannot apply the workspace's defense", str(exc), "")
        return
    session.apply_defense(config)


def _restore_layout(window: Any, layout: str) -> None:
    if not layout:
        return
    try:
        state = bytes.fromhex(layout)
    except ValueError:
        window.session.log("warning", "workspace: the saved layout is damaged; the current one is kept")
        return
    window.restoreState(QByteArray(state), STATE_VERSION)
