"""Images side by side whose zoom and pan move together (clean | adversarial, before | after)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyqtgraph as pg


def linked_image_views(graphics: Any, titles: Sequence[str],
                       log: Any = None) -> tuple[list[Any], list[Any], list[Any]]:
    """A titled, aspect-locked view per title in one row of `graphics` (a GraphicsLayoutWidget),
    each linked to the first; with `log` (the session's), a right-click copies or saves a view's
    image. Returns (title labels, view boxes, image items)."""
    labels, views, items = [], [], []
    for column, title in enumerate(titles):
        labels.append(graphics.addLabel(title, row=0, col=column))
        view = graphics.addViewBox(row=1, col=column, lockAspect=True, invertY=True)
        view.setMenuEnabled(False)
        item = pg.ImageItem(axisOrder="row-major")
        view.addItem(item)
        views.append(view)
        items.append(item)
    for view in views[1:]:
        view.setXLink(views[0])
        view.setYLink(views[0])
    if log is not None:
        from advinspect.gui.widgets.image_actions import install_view_menu

        install_view_menu(graphics, views, items, list(titles), log)
    return labels, views, items
