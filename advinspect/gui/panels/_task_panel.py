"""The task lifecycle every verb panel shares (after Orange's ConcurrentWidgetMixin): one job of
its own at a time, progress wired once, and three hooks.

- `start(name, fn)` cancels the panel's running job (a superseded job's result is dropped) and
  runs `fn(progress, cancel)` — a `core.tasks.<verb>.run` call — on the session's worker.
- `on_result(result)`: the verb's Result, finished or cancelled. One rule: a cancelled job shows
  its partial result, marked cancelled (the progress bar says so and `summary_text()` ends
  with the verb's own "cancelled: ..." line).
- `on_failed(message)`: the job raised; the session has already logged and shown the error.

The status line under the buttons is always the Result's `summary_text()`: the lines the CLI
prints for the same run.
"""

from __future__ import annotations

import itertools
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from advinspect.core.errors import AdvInspectError
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.widgets.plots import label, progress_bar
from advinspect.gui.worker import describe


class TaskPanel(Panel):
    """A dock that runs one verb. Subclasses set `verb`, build their form, call `start`."""

    verb = "task"
    run_text = "Run"
    finished = Signal(object)  # the Result (also a cancelled one)
    failed = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.job: Any = None
        self.result: Any = None
        self.last_run: Any = None  # core.runs.Run of the last result
        self._tokens = itertools.count(1)
        self._token = 0
        self.run_button = QPushButton(self.run_text)
        self.run_button.setObjectName(f"{self.verb}_run")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName(f"{self.verb}_cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = progress_bar(f"{self.verb}_progress")
        self.status = label(f"{self.verb}_status")
        session.model_opened.connect(self.clear_result)

    def buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        return row

    # --- what subclasses provide -------------------------------------------------------------
    def run(self) -> None:
        """Read the form, then `start` the verb (an AdvInspectError from the form is shown)."""
        try:
            self.prepare_and_start()
        except AdvInspectError as exc:
            self.session.error.emit(f"Cannot {self.verb}", str(exc), "")

    def prepare_and_start(self) -> None:
        raise NotImplementedError

    def on_result(self, result: Any) -> None:
        """Draw the Result (finished or cancelled)."""

    def on_failed(self, message: str) -> None:
        """The job raised (already logged and shown)."""

    def clear_result(self) -> None:
        """Another model file is open: what this panel shows was about the previous one (it stays
        in the Runs dock), so the status, the progress and the plotted data are cleared."""
        if self.running:
            return
        self.result = None
        self.status.setText("")
        self.progress.setValue(0)
        self.progress.setFormat("")
        for widget in self.findChildren(pg.PlotWidget):
            for item in widget.getPlotItem().listDataItems():
                item.setData([], [])
        self.on_cleared()

    def on_cleared(self) -> None:
        """Hook: forget panel state drawn outside plots (tables, images)."""

    def summary_lines(self, result: Any) -> list[str]:
        return list(result.summary_text())

    def run_result(self, result: Any) -> Any:
        """What is kept as the run: the verb's core Result (a panel wrapping it unwraps it here)."""
        return result

    # --- the lifecycle -----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, name: str, fn: Any, *, previews: bool = False, on_progress: Any = None) -> Any:
        """Run `fn(progress, cancel)` on the worker as this panel's only job."""
        if self.job is not None:
            self.session.runner.cancel(self.job)
        token = self._token = next(self._tokens)

        def progress(event: Any) -> None:
            if token == self._token:
                self._progress(event)
                if on_progress is not None:
                    on_progress(event)

        self._set_running(True)
        self.job = self.session.run_job(name, fn, lambda result: self._done(token, result),
                                        error_title=f"{name} failed",
                                        on_error=lambda error, _details: self._failed(token, describe(error)),
                                        on_progress=progress, previews=previews)
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.session.runner.cancel(self.job)

    def _set_running(self, running: bool) -> None:
        if not running:
            self.job = None
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def _progress(self, event: Any) -> None:
        if event.total > 0:
            self.progress.setValue(int(1000 * event.step / event.total))
            self.progress.setFormat(f"%p%  {event.message}"[:90])

    def _done(self, token: int, result: Any) -> None:
        if token != self._token:
            return  # superseded by a later start: its result means nothing now
        self._set_running(False)
        self.result = result
        cancelled = bool(getattr(result, "cancelled", False))
        if not cancelled:
            self.progress.setValue(1000)
        self.progress.setFormat("cancelled" if cancelled else "done")
        lines = self.summary_lines(result)
        self.status.setText("\n".join(lines))
        for line in lines:
            self.session.log("warning" if line.startswith(("warning:", "cancelled")) else "info",
                             f"{self.verb}: {line}")
        # Every result is a run in the session (Runs dock, workspace, report): nothing is wiped by
        # the next click. Kept before on_result so a panel's own drawing sees the run.
        self.last_run = self.session.add_run(self.verb, self.run_result(result), select=False)
        self.on_result(result)
        self.finished.emit(result)

    def _failed(self, token: int, message: str) -> None:
        if token != self._token:
            return
        self._set_running(False)
        self.progress.setFormat("failed")
        self.status.setText(f"failed: {message}")
        self.on_failed(message)
        self.failed.emit(message)


SCOPES = ("selection", "all shown", "all")


def scope_indices(panel: Panel, scope: str) -> list[int]:
    """The session images a verb runs on: the selection (else the current image), the ones the
    Images dock shows (`panel.visible_indices`, set by the window), or all of them."""
    s = panel.session
    if scope == "all":
        return list(range(s.count))
    visible = getattr(panel, "visible_indices", None)
    if scope == "all shown" and visible is not None:
        return list(visible())
    return sorted(s.selection or ([s.current] if s.current >= 0 else []))


def chosen_images(panel: Panel, scope: str, verb: str, *, labelled: bool = True, minimum: int = 1,
                  limit: int | None = None) -> Any:
    """The chosen images as core.tasks Images, their `index` the session's image indices."""
    import numpy as np

    s = panel.session
    if s.clf is None or s.images is None:
        raise AdvInspectError("open a model and images first")
    indices = np.asarray(sorted(set(scope_indices(panel, scope)))[:limit], dtype=np.int64)
    if len(indices) < minimum:
        raise AdvInspectError(f"{verb} needs at least {minimum} image(s): select some first")
    images = s.images.subset(indices)
    if labelled:
        images.require_labels(verb)
    return images
