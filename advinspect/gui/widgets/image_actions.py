"""Copy and save what an image view shows (colours as shown: a saliency overlay or a
perturbation with its colormap), written once for the inspector, the saliency and defense views
and the Images dock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget


def item_image(item: Any) -> QImage | None:
    """The rendered image of a pyqtgraph ImageItem (None when it shows nothing)."""
    if item is None or item.image is None:
        return None
    return item.getPixmap().toImage()


def copy_image(image: QImage | None) -> bool:
    if image is None or image.isNull():
        return False
    QGuiApplication.clipboard().setImage(image)
    return True


def save_image(image: QImage | None, parent: QWidget | None, suggested: str, path: str | None = None) -> str | None:
    """Write `image` as PNG to `path` (asked for when None); the path written, or None."""
    if image is None or image.isNull():
        return None
    if path is None:
        path, _ = QFileDialog.getSaveFileName(parent, "Save image", suggested, "PNG (*.png)")
        if not path:
            return None
    return path if image.save(path, "PNG") else None


def install_view_menu(graphics: Any, views: Sequence[Any], items: Sequence[Any], names: Sequence[str],
                      log: Callable[[str, str], None], extra: Sequence[tuple[str, Callable[[], None]]] = ()) -> None:
    """Right-click on a view of `graphics` (a GraphicsLayoutWidget): copy or save that view's image."""

    def menu_at(pos: QPoint) -> None:
        scene_pos = graphics.mapToScene(pos)
        index = next((k for k, v in enumerate(views) if v.sceneBoundingRect().contains(scene_pos)), None)
        if index is None:
            return
        name = names[index]
        menu = QMenu(graphics)

        def copy() -> None:
            if copy_image(item_image(items[index])):
                log("info", f"copied the {name} image")

        def save() -> None:
            path = save_image(item_image(items[index]), graphics, f"{name.replace(' ', '_')}.png")
            if path:
                log("info", f"saved the {name} image to {path}")

        menu.addAction(f"Copy {name} image", copy).setEnabled(items[index].image is not None)
        menu.addAction(f"Save {name} image…", save).setEnabled(items[index].image is not None)
        for text, slot in extra:
            menu.addAction(text, slot)
        menu.exec(graphics.mapToGlobal(pos))

    graphics.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    graphics.customContextMenuRequested.connect(menu_at)
