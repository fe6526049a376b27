"""The one background thread that runs every core job (load, predict, attack).

The GUI thread never runs a forward or backward pass: it submits a job (a plain function
`fn(progress, cancel) -> result`), and gets progress and the result back through queued signals.
Only plain Python / numpy data crosses: no Qt object is created in the worker (napari #2598).
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress, ProgressEvent

JobFn = Callable[[Progress, CancelToken], Any]

# Progress without a preview is forwarded at most this often: a folder of 10,000 images must not
# queue 10,000 events. Previews are already rate-limited by the attack engine.
_MIN_PROGRESS_INTERVAL = 0.03


@dataclass(eq=False)
class Job:
    """A unit of work for the worker; the GUI keeps it to cancel it or match its signals."""

    id: int
    name: str
    fn: JobFn
    previews: bool = False
    cancel: CancelToken = field(default_factory=CancelToken)
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[str, str], None] | None = None
    on_progress: Callable[[ProgressEvent], None] | None = None


class _Worker(QObject):
    """Lives in the worker thread; runs one job at a time in submission order."""

    started = Signal(int)
    progress = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str, str)
    skipped = Signal(int)

    @Slot(object)
    def execute(self, job: Job) -> None:
        if job.cancel.cancelled:  # cancelled while it waited in the queue
            self.skipped.emit(job.id)
            return
        self.started.emit(job.id)
        last = [0.0]

        def report(event: ProgressEvent) -> None:
            now = time.monotonic()
            if event.preview is None and event.step < event.total and now - last[0] < _MIN_PROGRESS_INTERVAL:
                return
            last[0] = now
            self.progress.emit(job.id, event)

        try:
            result = job.fn(Progress(report, previews=job.previews), job.cancel)
        except AdvInspectError as exc:
            self.failed.emit(job.id, str(exc), traceback.format_exc())
        except Exception as exc:  # a bug or a library error: show it in full, keep the app alive
            self.failed.emit(job.id, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.finished.emit(job.id, result)


class JobRunner(QObject):
    """GUI-side handle of the worker thread: submit, cancel, shut down; signals per job."""

    job_started = Signal(object)
    job_progress = Signal(object, object)
    job_finished = Signal(object, object)
    job_failed = Signal(object, str, str)
    busy_changed = Signal(bool)
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self.current: Job | None = None
        self._thread = QThread()
        self._thread.setObjectName("advinspect-worker")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.execute)
        self._worker.started.connect(self._on_started)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.skipped.connect(self._on_skipped)
        self._thread.start()

    # --- API for the GUI thread ------------------------------------------------------------
    @property
    def thread(self) -> QThread:
        return self._thread

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def pending(self) -> list[Job]:
        return list(self._jobs.values())

    def submit(self, name: str, fn: JobFn, *, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str, str], None] | None = None,
               on_progress: Callable[[ProgressEvent], None] | None = None,
               previews: bool = False) -> Job:
        if not self._thread.isRunning():
            raise RuntimeError("the worker has been shut down")
        job = Job(next(self._ids), name, fn, previews, on_done=on_done, on_error=on_error,
                  on_progress=on_progress)
        was_busy = self.busy
        self._jobs[job.id] = job
        self._submit.emit(job)
        if not was_busy:
            self.busy_changed.emit(True)
        return job

    def cancel(self, job: Job | None = None) -> None:
        """Cancel one job, or the running one; the job stops within one step and reports."""
        target = job or self.current
        if target is not None:
            target.cancel.cancel()

    def cancel_all(self) -> None:
        for job in self._jobs.values():
            job.cancel.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything, stop the thread and wait for it: never 'QThread destroyed while
        running' on close. Returns whether the thread stopped in time."""
        self.cancel_all()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        self._jobs.clear()
        self.current = None
        return bool(stopped)

    # --- worker signals (queued into the GUI thread) ---------------------------------------
    def _on_started(self, job_id: int) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        job.started = time.monotonic()
        self.current = job
        self.job_started.emit(job)

    def _on_progress(self, job_id: int, event: ProgressEvent) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        if job.on_progress is not None:
            job.on_progress(event)
        self.job_progress.emit(job, event)

    def _on_finished(self, job_id: int, result: Any) -> None:
        job = self._end(job_id)
        if job is None:
            return
        try:
            if job.on_done is not None:
                job.on_done(result)
        finally:
            self.job_finished.emit(job, result)
            self._maybe_idle()

    def _on_failed(self, job_id: int, message: str, details: str) -> None:
        job = self._end(job_id)
        if job is None:
            return
        try:
            if job.on_error is not None:
                job.on_error(message, details)
        finally:
            self.job_failed.emit(job, message, details)
            self._maybe_idle()

    def _on_skipped(self, job_id: int) -> None:
        if self._end(job_id) is not None:
            self._maybe_idle()

    def _end(self, job_id: int) -> Job | None:
        job = self._jobs.pop(job_id, None)
        if self.current is job:
            self.current = None
        return job

    def _maybe_idle(self) -> None:
        if not self.busy:
            self.busy_changed.emit(False)
