"""Small widget factories the panels share: a titled pyqtgraph plot, a status label, a progress bar."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar

CURVE_COLORS = ("#d64545", "#4c8bd6", "#2e8b57", "#9b59b6", "#e8743b", "#16a085", "#7f8c8d")


def plot(title: str, left: str, bottom: str, min_height: int = 150) -> pg.PlotWidget:
    widget = pg.PlotWidget()
    widget.setTitle(title)
    widget.setLabel("left", left)
    widget.setLabel("bottom", bottom)
    for axis in ("left", "bottom"):
        # plain values: the user typed eps 0.05, the axis must not say "eps (x0.001)" 0–100
        widget.getAxis(axis).enableAutoSIPrefix(False)
    widget.showGrid(x=True, y=True, alpha=0.2)
    widget.setMenuEnabled(False)
    widget.setMinimumHeight(min_height)
    return widget


def label(name: str, text: str = "") -> QLabel:
    """A selectable, wrapping label with an object name (tests and screenshots find it)."""
    widget = QLabel(text)
    widget.setObjectName(name)
    widget.setWordWrap(True)
    widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return widget


def progress_bar(name: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setObjectName(name)
    bar.setRange(0, 1000)
    bar.setValue(0)
    return bar
