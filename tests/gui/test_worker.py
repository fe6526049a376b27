"""Threading: every forward pass runs on the worker; close during a run cancels and joins it (or,
for a job that ignores cancel, lets it end without aborting); Esc cancels everything pending;
errors and warnings cross as objects."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QWidget

from advinspect.core.errors import (
    AdvInspectError,
    CancelledError,
    ModelLoadError,
    UntrustedModelError,
)
from advinspect.core.models.base import Classifier
from advinspect.gui.worker import JobRunner, describe
from tests.gui.conftest import _flush_deletions, leftovers, run_attack

ROOT = Path(__file__).resolve().parents[2]


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


def test_cancelled_queued_job_never_runs_and_still_ends(qtbot) -> None:
    runner = JobRunner()
    gate = threading.Event()
    ran, errors = [], []
    runner.submit("wait", lambda p, c: gate.wait(5))
    queued = runner.submit("queued", lambda p, c: ran.append(1), on_done=ran.append,
                           on_error=lambda e, d: errors.append(e))
    runner.cancel(queued)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert ran == []
    assert len(errors) == 1 and isinstance(errors[0], CancelledError)  # its caller can reset
    assert runner.shutdown()


def test_errors_cross_as_objects(qtbot) -> None:
    runner = JobRunner()
    error = UntrustedModelError("model.pt was not loaded: a pickle", ("pickle",))
    got = []

    def refuse(progress, cancel):
        raise error

    with qtbot.waitSignal(runner.job_failed, timeout=5000) as blocker:
        runner.submit("open", refuse, on_error=lambda e, d: got.append((e, d)))
    assert got[0][0] is error and got[0][0].findings == ("pickle",)
    assert blocker.args[1] is error and "UntrustedModelError" in blocker.args[2]
    assert error.__traceback__ is not None and "refuse" in got[0][1]
    assert runner.shutdown()


def test_untrusted_model_asks_for_trust_by_type(qtbot, make_window, dialog_log, monkeypatch) -> None:
    """The session matches the error's type, not its text: an UntrustedModelError with any message
    asks; a plain ModelLoadError that mentions pickles shows an error."""
    from advinspect.gui import tasks

    window = make_window(start=False)
    dialog_log.answer = False
    errors = iter([UntrustedModelError("x.pt: refused"),
                   ModelLoadError("x.pt: unpickling can run arbitrary code")])

    def refuse(*args, **kwargs):
        raise next(errors)

    monkeypatch.setattr(tasks, "open_model", refuse)
    with qtbot.waitSignal(window.session.trust_needed, timeout=5000):
        window.session.open_model("x.pt")
    assert len(dialog_log.questions) == 1 and not dialog_log.errors
    with qtbot.waitSignal(window.session.error, timeout=5000):
        window.session.open_model("x.pt")
    assert len(dialog_log.questions) == 1 and dialog_log.errors[0][1] == "x.pt: unpickling can run arbitrary code"


def _warns(progress, cancel):
    for _ in range(3):
        warnings.warn("spectral norm\nis slow", UserWarning, stacklevel=1)
    warnings.warn("old API", DeprecationWarning, stacklevel=1)
    return 7


def test_warnings_in_a_job_reach_the_log_once_each(qtbot, make_window) -> None:
    window = make_window(start=False)
    runner = window.session.runner
    with qtbot.waitSignal(runner.job_finished, timeout=5000) as blocker:
        job = runner.submit("warn", _warns)
    assert blocker.args[1] == 7
    assert [(w.category, w.count) for w in job.warnings] == [(UserWarning, 3), (DeprecationWarning, 1)]
    lines = [line for line in window.log_panel.text().splitlines() if "WARNING" in line]
    assert len(lines) == 2
    line = _warns.__code__.co_firstlineno + 2
    assert lines[0].endswith(f"warn: UserWarning: spectral norm is slow [test_worker.py:{line}] (x3)")
    assert "warn: DeprecationWarning: old API" in lines[1]


def test_warning_in_a_failing_job_is_kept(qtbot) -> None:
    runner = JobRunner()

    def warn_then_fail(progress, cancel):
        warnings.warn("precision lost", RuntimeWarning, stacklevel=1)
        raise AdvInspectError("bad input")

    with qtbot.waitSignal(runner.job_failed, timeout=5000) as blocker:
        job = runner.submit("f", warn_then_fail)
    assert str(blocker.args[1]) == "bad input"
    assert [w.line().split(" [")[0] for w in job.warnings] == ["RuntimeWarning: precision lost"]
    assert runner.shutdown()


@pytest.mark.slow  # seconds of training, a full report or 20 GUI round trips: `make test` runs it
def test_esc_with_run_cancels_the_new_attack_every_time(qtbot, window, dialog_log) -> None:
    """Run then Esc in the same instant, 20 times: the attack never runs on (PGD with 100,000 steps
    and no early stop would run for minutes); it ends cancelled or before it started. On every
    other try the GUI thread is busy for 0.1 s between the two (no events processed): the worker
    has started the job but has not told the GUI yet, which is when Esc used to be ignored."""
    s = window.session
    window.attack_panel.select_attack("pgd")
    window.attack_panel.form.set_values({"eps": "0.3", "steps": 100000, "early_stop": False})
    window.images_panel.select([0, 1])
    ended = {"cancelled": 0, "never started": 0}
    for attempt in range(20):
        with qtbot.waitSignal(s.attack_finished, timeout=20_000) as blocker:
            window.run_action.trigger()
            if attempt % 2:
                time.sleep(0.1)
            window.cancel_action.trigger()
        outcome = blocker.args[0]
        if outcome is None:
            ended["never started"] += 1
        else:
            assert outcome.cancelled
            ended["cancelled"] += 1
        qtbot.waitUntil(lambda: not s.busy, timeout=5000)
        assert window.run_action.isEnabled() and s.attack_job is None
    assert sum(ended.values()) == 20 and ended["cancelled"] > 0 and not dialog_log.errors


def test_esc_cancels_every_queued_job(qtbot, window, dialog_log) -> None:
    """Esc while an uninterruptible job runs and an attack waits behind it: the attack never
    starts, and its dock is usable again."""
    s = window.session
    gate = threading.Event()
    blocking = s.runner.submit("uninterruptible", lambda p, c: gate.wait(10))
    window.attack_panel.select_attack("pgd")
    window.attack_panel.form.set_values({"eps": "0.3", "steps": 100000, "early_stop": False})
    window.run_action.trigger()
    attack = s.attack_job
    assert attack is not None and not attack.cancel.cancelled
    window.cancel_action.trigger()
    assert blocking.cancel.cancelled and attack.cancel.cancelled
    with qtbot.waitSignal(s.attack_finished, timeout=10_000) as blocker:
        gate.set()
    assert blocker.args[0] is None and attack.started is None
    qtbot.waitUntil(lambda: not s.busy, timeout=5000)
    assert window.run_action.isEnabled() and not dialog_log.errors
    assert f"INFO    {attack.name}: cancelled before it started" in window.log_panel.text()


CLOSE_DURING_BLOCKING_JOB = """
import sys, threading, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
from advinspect.gui import worker
from advinspect.gui.main_window import MainWindow
from advinspect.gui.settings import make_settings

worker.SHUTDOWN_WAIT_MS = 300
window = MainWindow(make_settings(sys.argv[1]), device="cpu", confirm_close=False)
window.show()
started = threading.Event()

def blocking(progress, cancel):  # a forward pass that never reaches a cancel point
    started.set()
    time.sleep(float(sys.argv[2]))
    print("job ended", time.monotonic(), flush=True)

window.session.runner.submit("slow forward", blocking)

def close():
    started.wait(10)
    t0 = time.monotonic()
    window.close()
    print("closed in", time.monotonic() - t0, "visible", window.isVisible(), flush=True)
    window.close()  # again, then quit: neither may abort
    app.quit()

QTimer.singleShot(0, close)
app.exec()
window.deleteLater()  # the window, its session and its runner go while the job still runs
app.processEvents()
del window
print("exiting", time.monotonic(), "stragglers", len(worker.stragglers()), flush=True)
"""


@pytest.mark.slow  # a subprocess or an exhaustive search: runs in `make test`, not test-quick
def test_close_during_a_job_that_ignores_cancel_never_aborts(tmp_path) -> None:
    """Closing hides the window at once; the job ends in the background; the process exits 0 after
    it, never 'QThread: Destroyed while thread is still running' (SIGABRT)."""
    script = tmp_path / "close.py"
    script.write_text(CLOSE_DURING_BLOCKING_JOB)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "s.ini"), "2.0"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "Destroyed while thread" not in done.stderr
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines()}
    assert float(lines["closed"][2]) < 1.5 and lines["closed"][4] == "False"  # no 30 s freeze
    assert lines["exiting"][3] == "1"  # the job was still running when the window went
    assert float(lines["job"][2]) > float(lines["exiting"][1])  # and the process waited for it
    assert "slow forward does not respond to cancel" in done.stderr


def test_the_window_fixture_sees_leaked_widgets_and_threads(qtbot) -> None:
    """What `make_window` checks at teardown: a stray top-level widget and a live worker thread."""
    _flush_deletions()
    before = set(QApplication.topLevelWidgets())
    stray = QWidget()
    stray.setObjectName("stray")
    runner = JobRunner()
    assert leftovers(before) == (["QWidget('stray')"], ["advinspect-worker"])
    assert runner.shutdown()
    stray.deleteLater()
    del stray
    _flush_deletions()
    assert leftovers(before) == ([], [])


def test_a_model_that_writes_files_asks_naming_the_operator(qtbot, make_window, dialog_log, tmp_path) -> None:
    """A real TorchScript file whose forward writes through torch.from_file: the window asks, naming
    the operator, and nothing is written while the user has not said yes."""
    import json

    from tests.fuzz.model_files import FileWriter, save_torchscript

    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"hello")
    path = save_torchscript(tmp_path / "writer.ts", FileWriter(str(victim)))
    (tmp_path / "writer.ts.advinspect.json").write_text(json.dumps({"input_shape": [1, 8, 8]}))
    window = make_window(start=False)
    dialog_log.answer = False
    with qtbot.waitSignal(window.session.trust_needed, timeout=20000) as blocker:
        window.session.open_model(str(path))
    assert blocker.args[1] == ["aten::from_file"]
    assert len(dialog_log.questions) == 1 and "aten::from_file" in str(dialog_log.questions[0])
    assert victim.read_bytes() == b"hello" and not dialog_log.errors
