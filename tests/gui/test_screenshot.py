"""`advinspect gui --demo --screenshot FILE`: attack the first image, save the window, exit 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from advinspect.gui.app import run_gui


@pytest.mark.slow  # seconds of training, a full report or 20 GUI round trips: `make test` runs it
def test_screenshot_after_fgsm(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ADVINSPECT_GUI_NO_DIALOGS", "1")
    out = tmp_path / "shot.png"
    assert run_gui(None, [], True, str(out), device="cpu") == 0
    image = QImage(str(out))
    assert image.width() >= 1000 and image.height() >= 600
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(rgb.constBits(), np.uint8)
    assert pixels.std() > 10  # a rendered window, not a blank image
