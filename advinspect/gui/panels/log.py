"""Log dock: what ran, with which parameters, how long, on which device; one line per error with
its details (the traceback) on demand — double-click the line; Python warnings raised inside a
job, one line each."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from advinspect.gui import dialogs
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.worker import Job, JobWarning

_COLORS = {"error": "#d64545", "warning": "#c98a00"}


class LogPanel(Panel):
    object_name = "LogDock"
    title = "Log"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(5000)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setWidget(self.view)
        self.lines: list[str] = []
        self.details: dict[int, str] = {}  # block number of a line -> its details, shown on double-click
        self.view.viewport().installEventFilter(self)
        session.message.connect(self.append)
        session.runner.job_warned.connect(self._on_warning)

    def _on_warning(self, job: Job, warning: JobWarning) -> None:
        self.append("warning", f"{job.name}: {warning.line()}")

    def append(self, level: str, text: str, details: str = "") -> None:
        stamp = time.strftime("%H:%M:%S")
        line = f"{stamp} {level.upper():7s} {text}"
        self.lines.append(line + (("\n" + details) if details else ""))
        color = _COLORS.get(level)
        self.view.moveCursor(QTextCursor.MoveOperation.End)
        shown = line.splitlines()[0] + (" [double-click for details]" if details or "\n" in line else "")
        if color:
            self.view.appendHtml(f'<span style="color:{color}">{_escape(shown)}</span>')
        else:
            self.view.appendPlainText(shown)
        if details or "\n" in line:
            self.details[self.view.document().blockCount() - 1] = (line + "\n" + details).strip()
        self.view.moveCursor(QTextCursor.MoveOperation.End)

    def show_details(self, block: int) -> str | None:
        """The details of the line at `block` in a dialog (None when that line has none)."""
        text = self.details.get(block)
        if text is not None:
            dialogs.inform(self, "Log details", f"<pre>{_escape(text)}</pre>")
        return text

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.MouseButtonDblClick and watched is self.view.viewport():
            block = self.view.cursorForPosition(event.position().toPoint()).blockNumber()
            if self.show_details(block) is not None:
                return True
        return super().eventFilter(watched, event)

    def text(self) -> str:
        return self.view.toPlainText()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
