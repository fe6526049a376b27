"""GUI fixtures: a window on the demo with settings in a temporary INI file and dialogs recorded
instead of shown (no test ever touches the user's settings or blocks on a modal dialog)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from advinspect.gui import dialogs
from advinspect.gui.main_window import MainWindow
from advinspect.gui.settings import make_settings

LOAD_TIMEOUT_MS = 60_000
ATTACK_TIMEOUT_MS = 30_000


class DialogRecorder:
    """Stands in for the dialogs module's modal functions."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []
        self.questions: list[str] = []
        self.answer = True

    def show_error(self, parent, title: str, message: str, details: str = "") -> None:
        self.errors.append((title, message, details))

    def confirm(self, parent, title: str, question: str, default: bool = False) -> bool:
        self.questions.append(question)
        return self.answer

    def inform(self, parent, title: str, text: str) -> None:
        self.questions.append(text)


@pytest.fixture
def dialog_log(monkeypatch: pytest.MonkeyPatch) -> DialogRecorder:
    recorder = DialogRecorder()
    monkeypatch.setattr(dialogs, "show_error", recorder.show_error)
    monkeypatch.setattr(dialogs, "confirm", recorder.confirm)
    monkeypatch.setattr(dialogs, "inform", recorder.inform)
    return recorder


@pytest.fixture
def settings_path(tmp_path: Path) -> str:
    return str(tmp_path / "settings.ini")


@pytest.fixture
def make_window(qtbot, settings_path: str, dialog_log: DialogRecorder) -> Callable[..., MainWindow]:
    """Open a window (closed again at teardown); with `demo=True` wait until the demo is ready."""

    def make(demo: bool = True, start: bool = True) -> MainWindow:
        window = MainWindow(make_settings(settings_path), device="cpu")
        qtbot.addWidget(window)
        window.show()
        if start:
            with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
                window.start(demo=demo)
        return window

    return make


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
