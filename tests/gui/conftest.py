"""GUI fixtures: a window on the demo with settings in a temporary INI file and dialogs recorded
instead of shown (no test ever touches the user's settings or blocks on a modal dialog).

`make_window` is strict like napari's `make_napari_viewer`: at teardown it closes and deletes
its windows, then fails the test if top-level widgets or running worker threads are left behind
(a leaked thread is the 'QThread: Destroyed while thread is still running' abort of a later test).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QThreadPool
from PySide6.QtWidgets import QApplication

from advinspect.gui import dialogs, model_dialog
from advinspect.gui.main_window import MainWindow
from advinspect.gui.settings import make_settings
from advinspect.gui.worker import running_threads

LOAD_TIMEOUT_MS = 60_000
ATTACK_TIMEOUT_MS = 30_000


class DialogRecorder:
    """Stands in for the dialogs module's modal functions."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []
        self.questions: list[str] = []
        self.model_dialogs: list[tuple[str, str]] = []  # (path, message) the model dialog was shown for
        self.answer = True

    def show_error(self, parent, title: str, message: str, details: str = "") -> None:
        self.errors.append((title, message, details))

    def confirm(self, parent, title: str, question: str, default: bool = False) -> bool:
        self.questions.append(question)
        return self.answer

    def inform(self, parent, title: str, text: str) -> None:
        self.questions.append(text)

    def ask_model_options(self, parent, path: str, message: str, tried: dict) -> dict | None:
        self.model_dialogs.append((path, message))
        return None  # cancelled: a test that wants answers replaces this itself


@pytest.fixture
def dialog_log(monkeypatch: pytest.MonkeyPatch) -> DialogRecorder:
    recorder = DialogRecorder()
    monkeypatch.setattr(dialogs, "show_error", recorder.show_error)
    monkeypatch.setattr(dialogs, "confirm", recorder.confirm)
    monkeypatch.setattr(dialogs, "inform", recorder.inform)
    monkeypatch.setattr(model_dialog, "ask_model_options", recorder.ask_model_options)
    return recorder


@pytest.fixture
def settings_path(tmp_path: Path) -> str:
    return str(tmp_path / "settings.ini")


def _flush_deletions() -> None:
    """Run pending deleteLater()s (Qt runs them only from an event loop, not processEvents), then
    free Python-owned widgets held in reference cycles (pyqtgraph's parentless context menus)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def leftovers(widgets_before: set) -> tuple[list[str], list[str]]:
    """Top-level widgets not there before, and worker / pool threads still running."""
    widgets = [f"{type(w).__name__}({w.objectName() or w.windowTitle()!r})"
               for w in QApplication.topLevelWidgets() if w not in widgets_before]
    threads = [t.objectName() or "QThread" for t in running_threads()]
    if QThreadPool.globalInstance().activeThreadCount():
        threads.append(f"QThreadPool: {QThreadPool.globalInstance().activeThreadCount()} active")
    return widgets, threads


@pytest.fixture(autouse=True)
def no_worker_thread_left() -> Iterator[None]:
    """Every GUI test, with a window or with a bare JobRunner, ends with no worker thread running."""
    yield
    running = [t.objectName() or "QThread" for t in running_threads()]
    if running:
        pytest.fail(f"the test left worker threads running: {running}", pytrace=False)


@pytest.fixture
def make_window(qtbot, settings_path: str, dialog_log: DialogRecorder) -> Iterator[Callable[..., MainWindow]]:
    """Open a window; with `demo=True` wait until the demo is ready. At teardown every window is
    closed and deleted, and the test fails if it left top-level widgets or running threads."""
    _flush_deletions()
    widgets_before = set(QApplication.topLevelWidgets())
    windows: list[MainWindow] = []

    def make(demo: bool = True, start: bool = True) -> MainWindow:
        window = MainWindow(make_settings(settings_path), device="cpu")
        windows.append(window)
        window.show()
        if start:
            with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
                window.start(demo=demo)
        return window

    yield make
    dialog_log.answer = True  # 'quit while running?': yes
    for window in windows:
        window.close()
        window.deleteLater()
    _flush_deletions()
    # pytest keeps fixture values (and a failed test's frames) until after teardown: drop what
    # the deleted windows' Python wrappers still hold (panels, plots, pyqtgraph's parentless menus).
    for window in windows:
        window.__dict__.clear()
    windows.clear()
    _flush_deletions()
    widgets, threads = leftovers(widgets_before)
    if widgets or threads:
        pytest.fail(f"the test left behind top-level widgets {widgets} and running threads {threads}",
                    pytrace=False)


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()


def run_attack(qtbot, window: MainWindow, name: str, values: dict, indices: list[int] | None = None):
    """Choose `name` in the Attack dock, fill the form, run it (Run action) and wait for the end."""
    panel = window.attack_panel
    panel.select_attack(name)
    panel.form.set_values(values)
    if indices is not None:
        window.images_panel.select(indices)
    with qtbot.waitSignal(window.session.attack_finished, timeout=ATTACK_TIMEOUT_MS) as blocker:
        window.run_action.trigger()
    return blocker.args[0]
