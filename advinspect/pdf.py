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

from advinspect.core.report.errors import ReportError

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
    """Print `html` (Qt rich-text subset: tables, no flex/grid) to `path` on A4 or Letter.

    Qt prints into memory and Python writes the file (flushed and synced): Qt's own file
    writing ignores a full disk and leaves a truncated PDF behind a normal return. Raises
    ReportError when Qt's output is not a complete PDF or the file cannot be written whole."""
    from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QSizeF
    from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument

    _application()
    path = Path(path)
    sizes = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
    if paper not in sizes:
        raise ValueError(f"paper must be a4 or letter, got {paper!r}")
    buffer = QBuffer()
    if not buffer.open(QIODevice.OpenModeFlag.WriteOnly):
        raise ReportError("Qt could not open a buffer to print the PDF into")
    writer = QPdfWriter(buffer)
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
    del writer  # finishes the PDF (trailer, %%EOF) in the buffer
    buffer.close()
    save_pdf(bytes(buffer.data()), path)
    return path


def check_complete(data: bytes, what: str) -> None:
    """A PDF that starts with its header and ends with %%EOF; anything else is an error."""
    if not data.startswith(b"%PDF-") or not data.rstrip().endswith(b"%%EOF"):
        raise ReportError(f"{what}: the PDF is incomplete ({len(data)} bytes, no %%EOF); nothing was written")


def save_pdf(data: bytes, path: Path) -> None:
    """Write a complete PDF `data` to `path`, synced, and check the file holds all of it."""
    check_complete(data, str(path))
    try:
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        written = path.stat().st_size if path.is_file() else len(data)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from None
    if written != len(data):
        raise ReportError(f"cannot write {path}: {written} of {len(data)} bytes written")


def _title(html: str) -> str:
    start, end = html.find("<title>"), html.find("</title>")
    return html[start + 7:end].strip() if 0 <= start < end else "advinspect report"
