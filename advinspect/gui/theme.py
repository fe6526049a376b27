"""Light and dark themes: Qt's Fusion style with our palette; pyqtgraph views follow it."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

THEMES = ("light", "dark")


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text, mid = QColor(30, 32, 36), QColor(43, 45, 50), QColor(222, 224, 228), QColor(60, 63, 70)
    roles = QPalette.ColorRole
    p.setColor(roles.Window, window)
    p.setColor(roles.WindowText, text)
    p.setColor(roles.Base, base)
    p.setColor(roles.AlternateBase, mid)
    p.setColor(roles.ToolTipBase, window)
    p.setColor(roles.ToolTipText, text)
    p.setColor(roles.PlaceholderText, QColor(140, 143, 150))
    p.setColor(roles.Text, text)
    p.setColor(roles.Button, window)
    p.setColor(roles.ButtonText, text)
    p.setColor(roles.BrightText, QColor(255, 90, 90))
    p.setColor(roles.Highlight, QColor(66, 133, 214))
    p.setColor(roles.HighlightedText, QColor(255, 255, 255))
    p.setColor(roles.Link, QColor(100, 160, 240))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.Text, roles.ButtonText, roles.WindowText):
        p.setColor(disabled, role, QColor(120, 122, 128))
    return p


def plot_colors(theme: str) -> tuple[str, str]:
    """(background, foreground) for pyqtgraph in a theme."""
    return ("#1e2024", "#d0d2d6") if theme == "dark" else ("#ffffff", "#303030")


def apply_theme(theme: str, root: QWidget | None = None) -> str:
    """Set the application palette and recolour every pyqtgraph view under `root`."""
    theme = theme if theme in THEMES else "light"
    app = QApplication.instance()
    if app is not None:
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if theme == "dark" else app.style().standardPalette())
    background, foreground = plot_colors(theme)
    pg.setConfigOption("background", background)
    pg.setConfigOption("foreground", foreground)
    if root is not None:
        for view in root.findChildren(pg.GraphicsView):
            view.setBackground(background)
        for item in _scene_items(root):
            if isinstance(item, pg.AxisItem):
                item.setPen(foreground)
                item.setTextPen(foreground)
            elif isinstance(item, pg.LabelItem):
                item.setText(item.text, color=foreground)
    return theme


def _scene_items(root: QWidget) -> list:
    axes = []
    for view in root.findChildren(pg.GraphicsView):
        scene = view.scene()
        if scene is None:
            continue
        axes.extend(scene.items())
    return axes
