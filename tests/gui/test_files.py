"""Opening files the other ways: drag and drop, the recent menus."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from advinspect.core.data.demo import DEMO_ONNX, DEMO_SAMPLES
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import LOAD_TIMEOUT_MS


def _drop(window: MainWindow, paths: list[str]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_dropping_a_model_with_images_opens_both(qtbot, window: MainWindow) -> None:
    images = sorted(str(p) for p in (DEMO_SAMPLES / "7").glob("*.png"))[:3]
    with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
        _drop(window, [str(DEMO_ONNX), *images])
    assert window.session.model_path == str(DEMO_ONNX)
    assert window.session.count == 3


def test_dropping_images_keeps_the_model(qtbot, window: MainWindow) -> None:
    before = window.session.clf
    images = sorted(str(p) for p in (DEMO_SAMPLES / "2").glob("*.png"))[:2]
    with qtbot.waitSignal(window.session.images_changed, timeout=LOAD_TIMEOUT_MS):
        _drop(window, images)
    assert window.session.clf is before and window.session.count == 2


def test_recent_models_menu_lists_and_reopens(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
        window.session.open_model(str(DEMO_ONNX))
    window._fill_recent(window.recent_models_menu, "models")
    entries = [a.text() for a in window.recent_models_menu.actions()]
    assert str(DEMO_ONNX) in entries
    demo_pt2 = next(a for a in window.recent_models_menu.actions() if a.text().endswith(".pt2"))
    with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
        demo_pt2.trigger()
    assert window.session.model_path.endswith(".pt2")
