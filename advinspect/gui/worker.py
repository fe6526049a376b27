"""The one background thread that runs every core job (load, predict, attack).

The GUI thread never runs a forward or backward pass: it submits a job (a plain function
`fn(progress, cancel) -> result`), and gets progress and the result back through queued signals.
Only plain Python / numpy data crosses: no Qt object is created in the worker (napari #2598).
Errors cross as the exception objects themselves (callers match `AdvInspectError` subclasses with
`isinstance`, never the message text) and Python warnings raised inside a job are relayed too.

A job that never reaches a cancel point (a forward pass that takes minutes) cannot be stopped
from Python. `shutdown` then keeps the thread referenced (`stragglers`) instead of destroying it
while it runs: Qt aborts the whole process on 'QThread: Destroyed while thread is still running'.
`wait_for_stragglers` (called at exit) lets such a job end before the interpreter goes.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import sys
import time
import traceback
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from advinspect.core.errors import AdvInspectError, CancelledError
from advinspect.core.jobs import CancelToken, Progress, ProgressEvent

JobFn = Callable[[Progress, CancelToken], Any]
ErrorCallback = Callable[[BaseException, str], None]

# Progress without a preview is forwarded at most this often: a folder of 10,000 images must not
# queue 10,000 events. Previews are already rate-limited by the attack engine.
_MIN_PROGRESS_INTERVAL = 0.03
# How long closing the window waits for a cancelled job to stop before it hides the window and
# lets the job end in the background (a cancel point is reached within one step, milliseconds).
SHUTDOWN_WAIT_MS = 3000


def describe(error: BaseException) -> str:
    """One line for a person: a user error's own message, else the type and the message (a bug)."""
    if isinstance(error, AdvInspectError):
        return str(error)
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class JobWarning:
    """A Python warning raised inside a job, counted once per place and text."""

    warning: Warning
    filename: str
    lineno: int
    count: int = 1

    @property
    def category(self) -> type[Warning]:
        return type(self.warning)

    def line(self) -> str:
        """One line for the Log dock (a multi-line warning text is joined)."""
        text = " ".join(str(self.warning).split())
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{self.category.__name__}: {text} [{self.filename.rsplit('/', 1)[-1]}:{self.lineno}]{times}"


class _WarningCounter:
    """A `warnings.showwarning` that keeps each distinct warning once, with a count: a warning
    raised in every batch of a long job costs a dict update, not a list that grows."""

    def __init__(self) -> None:
        self.found: dict[tuple, JobWarning] = {}

    def __call__(self, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
        key = (category, str(message), filename, lineno)
        seen = self.found.get(key)
        if seen is not None:
            self.found[key] = dataclasses.replace(seen, count=seen.count + 1)
            return
        warning = message if isinstance(message, Warning) else category(str(message))
        self.found[key] = JobWarning(warning, str(filename), int(lineno))


def _release_frames(error: BaseException) -> None:
    """The traceback text is kept; the frames' locals (models, tensors) need not be."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


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
    on_error: ErrorCallback | None = None
    on_progress: Callable[[ProgressEvent], None] | None = None
    warnings: list[JobWarning] = field(default_factory=list)


class _Worker(QObject):
    """Lives in the worker thread; runs one job at a time in submission order."""

    started = Signal(int)
    progress = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, object, str)  # job id, the exception object, the traceback text
    warned = Signal(int, object)  # job id, list[JobWarning]
    skipped = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        # The job executing now, read by the GUI thread on shutdown (JobRunner.current is only
        # set once the queued `started` signal has been delivered).
        self.running: Job | None = None

    @Slot(object)
    def execute(self, job: Job) -> None:
        if job.cancel.cancelled:  # cancelled while it waited in the queue
            self.skipped.emit(job.id)
            return
        self.running = job
        try:
            self._run(job)
        finally:
            self.running = None

    def _run(self, job: Job) -> None:
        self.started.emit(job.id)
        last = [0.0]

        def report(event: ProgressEvent) -> None:
            now = time.monotonic()
            if event.preview is None and event.step < event.total and now - last[0] < _MIN_PROGRESS_INTERVAL:
                return
            last[0] = now
            self.progress.emit(job.id, event)

        error: BaseException | None = None
        result: Any = None
        details = ""
        counter = _WarningCounter()
        # Global state (like superqt's workers): a warning the GUI thread raises meanwhile is
        # relayed too, which is harmless; "always" so that a filter set to "error" (pytest -W)
        # or "ignore" elsewhere neither breaks nor hides a job's warnings.
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = counter
            try:
                result = job.fn(Progress(report, previews=job.previews), job.cancel)
            except Exception as exc:  # every error reaches the GUI as an object; the app lives on
                error = exc
                details = traceback.format_exc()
                _release_frames(exc)
        if counter.found:
            self.warned.emit(job.id, list(counter.found.values()))
        if error is not None:
            self.failed.emit(job.id, error, details)
        else:
            self.finished.emit(job.id, result)


class JobRunner(QObject):
    """GUI-side handle of the worker thread: submit, cancel, shut down; signals per job."""

    job_started = Signal(object)
    job_progress = Signal(object, object)
    job_finished = Signal(object, object)
    job_failed = Signal(object, object, str)  # job, the exception object, the traceback text
    job_warned = Signal(object, object)  # job, JobWarning (one signal per distinct warning)
    busy_changed = Signal(bool)
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._closed = False
        self.current: Job | None = None
        self._thread = QThread()
        self._thread.setObjectName("advinspect-worker")
        _threads.add(self._thread)
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._submit.connect(self._worker.execute)
        self._worker.started.connect(self._on_started)
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.warned.connect(self._on_warned)
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
               on_error: ErrorCallback | None = None,
               on_progress: Callable[[ProgressEvent], None] | None = None,
               previews: bool = False) -> Job:
        """Queue `fn`; exactly one of `on_done(result)` / `on_error(exception, traceback_text)`
        runs later in the GUI thread (a job cancelled before it started fails with
        `CancelledError`), unless the runner is shut down first."""
        if self._closed or not self._thread.isRunning():
            raise RuntimeError("the worker has been shut down")
        job = Job(next(self._ids), name, fn, previews, on_done=on_done, on_error=on_error,
                  on_progress=on_progress)
        was_busy = self.busy
        self._jobs[job.id] = job
        self._submit.emit(job)
        if not was_busy:
            self.busy_changed.emit(True)
        return job

    def cancel(self, job: Job) -> None:
        """Cancel one job: if it runs it stops within one step, if it waits it never starts."""
        job.cancel.cancel()

    def cancel_all(self) -> None:
        """Cancel every pending job (what Esc does). Not just `current`, the running job: right
        after a submit the worker has not reported yet which job it started (Esc with Run)."""
        for job in self._jobs.values():
            job.cancel.cancel()

    def shutdown(self, timeout_ms: int | None = None) -> bool:
        """Cancel everything, stop the thread and wait up to `timeout_ms` for it. A job that does
        not stop in time keeps running in the background; its thread is kept alive (never
        destroyed while it runs) until `wait_for_stragglers`. Returns whether it stopped."""
        if self._closed:  # closed before (the window, then the application quitting)
            return not self._thread.isRunning()
        self.cancel_all()
        self._closed = True
        self._thread.quit()
        stopped = bool(self._thread.wait(SHUTDOWN_WAIT_MS if timeout_ms is None else timeout_ms))
        if not stopped and not any(t is self._thread for t, _w in _stragglers):
            running = self._worker.running
            name = running.name if running is not None else "a job"
            print(f"advinspect: {name} does not respond to cancel; it ends in the background "
                  "and the program exits after it", file=sys.stderr)
            _stragglers.append((self._thread, self._worker))
        was_busy = self.busy
        self._jobs.clear()
        self.current = None
        if was_busy:
            self.busy_changed.emit(False)
        return stopped

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

    def _on_warned(self, job_id: int, found: list[JobWarning]) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        job.warnings.extend(found)
        for item in found:
            self.job_warned.emit(job, item)

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

    def _on_failed(self, job_id: int, error: BaseException, details: str) -> None:
        job = self._end(job_id)
        if job is None:
            return
        try:
            if job.on_error is not None:
                job.on_error(error, details)
        finally:
            self.job_failed.emit(job, error, details)
            self._maybe_idle()

    def _on_skipped(self, job_id: int) -> None:
        # A job cancelled before it started still ends once, so its caller resets its state.
        job = self._jobs.get(job_id)
        if job is not None:
            self._on_failed(job_id, CancelledError(f"{job.name}: cancelled before it started"), "")

    def _end(self, job_id: int) -> Job | None:
        job = self._jobs.pop(job_id, None)
        if self.current is job:
            self.current = None
        return job

    def _maybe_idle(self) -> None:
        if not self.busy:
            self.busy_changed.emit(False)


# Every worker thread while its Python wrapper lives (tests check none is left running).
_threads: weakref.WeakSet[QThread] = weakref.WeakSet()
# Threads of shut-down runners whose job was still running, with their worker objects: kept
# referenced so that Python never deletes a running QThread (that aborts the process).
_stragglers: list[tuple[QThread, QObject]] = []


def stragglers() -> list[QThread]:
    """Worker threads still running after their runner was shut down."""
    _stragglers[:] = [(t, w) for t, w in _stragglers if t.isRunning()]
    return [t for t, _w in _stragglers]


def running_threads() -> list[QThread]:
    """Worker threads still running: of live runners not shut down yet, and stragglers."""
    return [t for t in list(_threads) if t.isRunning()]


def wait_for_stragglers(timeout_ms: int | None = None) -> bool:
    """Block until every straggling worker thread has ended (the window is gone by then).
    Returns whether all ended within `timeout_ms` (None: wait as long as they run)."""
    deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
    for thread in stragglers():
        while not thread.wait(200):
            if deadline is not None and time.monotonic() > deadline:
                return False
    return not stragglers()


atexit.register(wait_for_stragglers)
