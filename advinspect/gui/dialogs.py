"""Modal dialogs in one place, so tests can replace them (monkeypatch these functions).

Set ADVINSPECT_GUI_NO_DIALOGS=1 to log instead of blocking (headless runs such as --screenshot):
errors are still printed to stderr and recorded in the Log dock.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QMessageBox, QWidget

# What the file dialogs offer for models (the window's Open Model and the Compare dock's Add)
MODEL_SUFFIXES = {".pt", ".pth", ".pt2", ".onnx", ".ts", ".jit", ".pkl", ".bin", ".ckpt"}
MODEL_FILTER = "Models (*.pt *.pth *.pt2 *.onnx *.ts *.jit *.pkl *.bin *.ckpt);;All files (*)"


def headless() -> bool:
    """True when dialogs must not block (ADVINSPECT_GUI_NO_DIALOGS=1: screenshots, benchmarks)."""
    return os.environ.get("ADVINSPECT_GUI_NO_DIALOGS", "") not in ("", "0")


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """An error the user can read; the full traceback sits behind 'Show Details'."""
    if headless():
        print(f"advinspect: {title}: {message}", file=sys.stderr)
        return
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def confirm(parent: QWidget | None, title: str, question: str, default: bool = False) -> bool:
    """Yes/No question; headless runs take `default`."""
    if headless():
        return default
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, title, question, buttons,
                                  QMessageBox.StandardButton.Yes if default else QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def inform(parent: QWidget | None, title: str, text: str) -> None:
    if headless():
        return
    QMessageBox.information(parent, title, text)
