"""PDF output through Qt's rich text: `QTextDocument.setHtml()` printed by `QPdfWriter`.

Outside `advinspect.core` on purpose: core never imports Qt, and hands the print template's
HTML to `write_pdf` (passed in as `pdf_writer`). Works headless: without a display, Qt's
offscreen platform is used. The text stays text (selectable, searchable), images are embedded.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

MARGIN_MM = 12.0
RESOLUTION = 96  # dots per inch of the layout: template pixel sizes read as screen pixels


def _application() -> Any:
    """The running Qt application, or one made for printing (offscreen when there is no display
    to connect to). A QApplication, not a QGuiApplication: Qt allows one application object per
    process, and a later window in the same process (the GUI, its tests) needs widgets."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        return app
    if not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith("linux") \
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    global _APP  # kept alive for the process: Qt needs the instance while printing
    _APP = QApplication(["advinspect"])
    return _APP


_APP: Any = None


def write_pdf(html: str, path: str | Path, paper: str = "a4") -> Path:
    """Print `html` (Qt rich-text subset: tables, no flex/grid) to `path` on A4 or Letter."""
    from PySide6.QtCore import QMarginsF, QSizeF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

    _application()
    path = Path(path)
    sizes = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
    if paper not in sizes:
        raise ValueError(f"paper must be a4 or letter, got {paper!r}")
    writer = QPdfWriter(str(path))
    writer.setTitle(_title(html))
    writer.setCreator("advinspect")
    writer.setResolution(RESOLUTION)
    writer.setPageSize(QPageSize(sizes[paper]))
    writer.setPageMargins(QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM), QPageLayout.Unit.Millimeter)
    document = QTextDocument()
    document.setDocumentMargin(0)
    document.setHtml(html)
    rect = writer.pageLayout().paintRectPixels(RESOLUTION)
    document.setPageSize(QSizeF(rect.width(), rect.height()))
    document.print_(writer)
    del writer  # finishes and closes the file
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"Qt could not write {path}")
    return path


def _title(html: str) -> str:
    start, end = html.find("<title>"), html.find("</title>")
    return html[start + 7:end].strip() if 0 <= start < end else "advinspect report"
