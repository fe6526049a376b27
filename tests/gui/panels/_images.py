"""Test helper: some of the session's images copied into class folders and opened, so the GUI
and the CLI (`advinspect <verb> MODEL FOLDER`) work on the very same files in the same order."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.gui.conftest import LOAD_TIMEOUT_MS


def open_copies(qtbot, window, indices: list[int], folder: Path) -> Path:
    s = window.session
    for i in indices:
        target = folder / s.label_name(s.label(i))
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.images.paths[i], target / Path(s.images.paths[i]).name)
    with qtbot.waitSignal(s.images_changed, timeout=LOAD_TIMEOUT_MS):
        s.open_images([str(folder)])
    assert s.count == len(indices)
    return folder
