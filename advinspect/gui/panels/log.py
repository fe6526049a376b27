"""Log dock: what ran, with which parameters, how long, on which device; errors in full;
Python warnings raised inside a job, one line each."""

from __future__ import annotations

import time

from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

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
        if color:
            self.view.appendHtml(f'<span style="color:{color}">{_escape(line)}</span>')
        else:
            self.view.appendPlainText(line)
        if details:
            self.view.appendPlainText(details.rstrip())
        self.view.moveCursor(QTextCursor.MoveOperation.End)

    def text(self) -> str:
        return self.view.toPlainText()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
