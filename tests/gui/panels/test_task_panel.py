"""The task lifecycle every verb dock shares: start cancels the dock's running job (whose result
is then dropped), progress reaches the bar, and a cancelled job shows its partial result marked
cancelled with its summary lines. No model needed: the job is a stand-in verb."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from advinspect.gui.panels._task_panel import TaskPanel
from advinspect.gui.session import Session

WAIT_MS = 10_000


@dataclass
class Counted:
    """A Result in miniature: how far the job got, and whether it was cancelled."""

    steps: int
    cancelled: bool

    def summary_text(self) -> list[str]:
        lines = [f"{self.steps} steps"]
        return lines + (["cancelled: the steps done so far"] if self.cancelled else [])


class CountPanel(TaskPanel):
    verb = "count"

    def __init__(self, session: Session, steps: int) -> None:
        super().__init__(session)
        self.steps = steps
        self.release = threading.Event()
        self.shown: list[Counted] = []

    def prepare_and_start(self) -> None:
        steps, release = self.steps, self.release

        def job(progress, cancel) -> Counted:
            done = 0
            while done < steps and not cancel.cancelled:
                done += 1
                progress(done, steps, f"step {done}")
                release.wait(0.01)
            return Counted(done, bool(cancel.cancelled))

        self.start("count", job)

    def on_result(self, result: Counted) -> None:
        self.shown.append(result)


def _panel(qtbot, steps: int) -> tuple[Session, CountPanel]:
    session = Session("cpu")
    panel = CountPanel(session, steps)
    qtbot.addWidget(panel)
    return session, panel


def test_a_finished_job_shows_its_summary(qtbot) -> None:
    session, panel = _panel(qtbot, 5)
    try:
        with qtbot.waitSignal(panel.finished, timeout=WAIT_MS):
            panel.run_button.click()
            assert panel.running and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
        assert panel.shown == [Counted(5, False)] and panel.result == Counted(5, False)
        assert panel.status.text() == "5 steps" and panel.progress.format() == "done"
        assert panel.progress.value() == 1000 and panel.run_button.isEnabled() and not panel.running
    finally:
        assert session.shutdown()


def test_start_cancels_the_running_job_and_drops_its_result(qtbot) -> None:
    session, panel = _panel(qtbot, 100_000)
    try:
        panel.run()
        qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=WAIT_MS)
        first = panel.job
        with qtbot.waitSignal(panel.finished, timeout=WAIT_MS) as blocker:
            panel.run()  # a new start: the first job is cancelled, its partial result never shown
            assert first.cancel.cancelled and panel.job is not first
            qtbot.waitUntil(lambda: session.runner.current is panel.job, timeout=WAIT_MS)
            panel.cancel_button.click()
        result = blocker.args[0]
        assert result.cancelled and panel.shown == [result]  # one result: the second job's, partial
        assert panel.progress.format() == "cancelled"
        assert panel.status.text() == f"{result.steps} steps\ncancelled: the steps done so far"
        assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    finally:
        assert session.shutdown()


def test_a_failing_job_resets_the_dock(qtbot) -> None:
    session, panel = _panel(qtbot, 1)
    errors = []
    session.error.connect(lambda title, message, _details: errors.append(message))
    try:
        def broken(progress, cancel):
            from advinspect.core.errors import AdvInspectError

            raise AdvInspectError("no images")

        with qtbot.waitSignal(panel.failed, timeout=WAIT_MS) as blocker:
            panel.start("count", broken)
        assert blocker.args == ["no images"] and errors == ["no images"]
        assert panel.status.text() == "failed: no images" and panel.progress.format() == "failed"
        assert panel.run_button.isEnabled() and panel.result is None
    finally:
        assert session.shutdown()
