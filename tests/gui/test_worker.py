"""Threading: every forward pass runs on the worker; close during a run cancels and joins it."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from advinspect.core.errors import AdvInspectError
from advinspect.core.models.base import Classifier
from advinspect.gui.worker import JobRunner, describe
from tests.gui.conftest import run_attack


def test_gui_thread_never_runs_a_forward_pass(qtbot, make_window, monkeypatch) -> None:
    calls: list[int] = []
    original = Classifier.logits

    def recording(self, x):
        calls.append(threading.get_ident())
        return original(self, x)

    monkeypatch.setattr(Classifier, "logits", recording)
    window = make_window()  # load + check_fit + predict
    run_attack(qtbot, window, "pgd", {"eps": "0.3", "steps": 5}, [0, 1])
    assert calls, "the model was never called"
    assert threading.get_ident() not in set(calls)
    assert len(set(calls)) == 1  # one worker thread for every job


def test_close_during_a_run_asks_then_cancels_and_joins(qtbot, make_window, dialog_log) -> None:
    window = make_window()
    s = window.session
    window.attack_panel.select_attack("pgd")
    window.attack_panel.form.set_values({"eps": "0.3", "steps": 100000, "early_stop": False})
    with qtbot.waitSignal(s.preview_changed, timeout=20_000):
        window.run_action.trigger()
    dialog_log.answer = False
    window.close()
    assert window.isVisible() and s.busy  # the user said no: keep running
    assert len(dialog_log.questions) == 1 and "still running" in dialog_log.questions[0]
    dialog_log.answer = True
    thread = s.runner.thread
    window.close()
    assert not window.isVisible()
    assert thread.isFinished() and not thread.isRunning()
    assert len(dialog_log.questions) == 2


def test_runner_reports_errors_and_keeps_working(qtbot) -> None:
    runner = JobRunner()
    failures, results = [], []

    def broken(progress, cancel):
        raise AdvInspectError("readable message")

    def crash(progress, cancel):
        raise ZeroDivisionError("bug")

    def fine(progress, cancel):
        progress(1, 1, "done")
        return QThread.currentThread() is not None and threading.get_ident()

    runner.submit("a", broken, on_error=lambda m, d: failures.append((m, d)))
    runner.submit("b", crash, on_error=lambda m, d: failures.append((m, d)))
    with qtbot.waitSignal(runner.busy_changed, timeout=5000, check_params_cb=lambda busy: not busy):
        runner.submit("c", fine, on_done=results.append)
    assert type(failures[0][0]) is AdvInspectError and describe(failures[0][0]) == "readable message"
    assert isinstance(failures[1][0], ZeroDivisionError) and "Traceback" in failures[1][1]
    assert describe(failures[1][0]) == "ZeroDivisionError: bug"
    assert results and results[0] != threading.get_ident()
    assert runner.shutdown()
    with pytest.raises(RuntimeError):
        runner.submit("d", fine)


def test_cancelled_queued_job_never_runs(qtbot) -> None:
    runner = JobRunner()
    gate = threading.Event()
    ran = []
    runner.submit("wait", lambda p, c: gate.wait(5))
    queued = runner.submit("queued", lambda p, c: ran.append(1))
    runner.cancel(queued)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert ran == []
    assert runner.shutdown()
