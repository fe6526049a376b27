"""QApplication start-up and the `advinspect gui` entry point."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

SCREENSHOT_TIMEOUT_MS = 180_000
SCREENSHOT_ATTACK = ("fgsm", {"eps": "0.2"})  # a budget that flips the first demo digit
ICONS = Path(__file__).resolve().parents[2] / "packaging" / "icons"  # the bundle keeps this layout


def app_icon() -> QIcon:
    """The application icon from its rendered PNG sizes (no SVG icon-engine plugin needed)."""
    icon = QIcon()
    for png in sorted(ICONS.glob("advinspect-*.png")):
        icon.addFile(str(png))
    return icon


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName("advinspect")
        app.setApplicationName("advinspect")
        app.setDesktopFileName("advinspect")  # matches packaging/advinspect.desktop
        app.setWindowIcon(app_icon())
    return app  # type: ignore[return-value]


def run_gui(model: str | None, images: list[str], demo: bool, screenshot: str | None,
            device: str = "auto", trust_pickle: bool = False, options: dict | None = None) -> int:
    """Create the application and the window, load the model and images after it shows.

    With `screenshot`, run FGSM on the first demo image, save the window as a PNG and exit
    (0 when saved). `trust_pickle` allows a pickled model given on the command line; `options`
    are its other model flags (open.Config fields: arch, input_shape …).
    Raises `PlatformUnavailableError` (one line, exit 1) where Qt would abort on a missing library.
    """
    if QApplication.instance() is None:
        from advinspect.gui.platform_check import ensure_platform

        ensure_platform()
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    owned = QApplication.instance() is None  # else embedded (tests, a host app): never quit it
    app = _application()
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    settings_dir = None
    if screenshot:
        # A fixed layout for the picture, never the user's; errors must not block on a dialog.
        os.environ.setdefault("ADVINSPECT_GUI_NO_DIALOGS", "1")
        settings_dir = tempfile.TemporaryDirectory(prefix="advinspect-shot-")
        settings = make_settings(str(Path(settings_dir.name) / "settings.ini"))
        settings.setValue("theme", "light")
    else:
        settings = make_settings()
    window = MainWindow(settings, device=device, confirm_close=not screenshot)
    status = {"code": 0}
    if screenshot:
        demo = demo or model is None
        attack, values = SCREENSHOT_ATTACK
        window.resize(1440, 900)  # a picture of fixed size, whatever screen (or none) is there
        window.take_screenshot_after_attack(str(screenshot), attack, values)
        window.screenshot_saved.connect(lambda path: (print(f"saved {path}"), window.close()))

        def failed(title: str, message: str, _details: str) -> None:
            status["code"] = 1
            window.close()

        window.session.error.connect(failed)

        def timeout() -> None:
            print("advinspect: screenshot timed out", file=sys.stderr)
            status["code"] = 1
            window.close()

        watchdog = QTimer(window)
        watchdog.setSingleShot(True)
        watchdog.timeout.connect(timeout)
        watchdog.start(SCREENSHOT_TIMEOUT_MS)
    window.show()
    QTimer.singleShot(0, lambda: window.start(model, images, demo, trust_pickle, options))
    if owned:
        app.aboutToQuit.connect(window.session.shutdown)
        code = app.exec()
    else:
        loop = QEventLoop()
        window.closed.connect(loop.quit)
        code = loop.exec()
    window.session.shutdown()
    window.hide()
    from advinspect.gui.worker import wait_for_stragglers

    wait_for_stragglers()  # a job that ignored cancel: the window is gone, the process waits
    if settings_dir is not None:
        settings_dir.cleanup()
    return status["code"] or code

