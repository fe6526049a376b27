"""Screenshots of the workbench for the README, taken from a real window.

    xvfb-run -s "-screen 0 1280x800x24" python docs/make_screenshots.py
    xvfb-run -s "-screen 0 1920x1080x24" python docs/make_screenshots.py

Writes docs/screenshots/{first-start,attack,runs-compared,evaluation}-<W>x<H>.png, where W×H is
the screen Qt reports: the window opens at the size it picks for that screen (first_size), on
the demo model and images, with settings in a temporary file (never the user's).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer

OUT = Path(__file__).resolve().parent / "screenshots"
TIMEOUT_MS = 240_000


def wait(signal, timeout_ms: int = TIMEOUT_MS) -> None:  # noqa: ANN001 (a bound Qt signal)
    loop = QEventLoop()
    signal.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: (print("timed out", file=sys.stderr), loop.exit(1)))
    timer.start(timeout_ms)
    if loop.exec() != 0:
        raise SystemExit(1)
    timer.stop()
    signal.disconnect(loop.quit)


def settle(ms: int = 600) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    os.environ.setdefault("ADVINSPECT_GUI_NO_DIALOGS", "1")
    import pyqtgraph as pg

    from advinspect.gui.app import _application

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = _application()
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    screen = app.primaryScreen().size()
    tag = f"{screen.width()}x{screen.height()}"
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="advinspect-shots-") as folder:
        settings = make_settings(str(Path(folder) / "settings.ini"))
        settings.setValue("theme", "light")
        window = MainWindow(settings, device="cpu", confirm_close=False)
        window.show()
        window.start(demo=True)
        wait(window.session.ready)
        s = window.session
        if not s.attacks:
            wait(s.attacks_changed)
        settle()

        def shot(name: str) -> None:
            settle()
            path = OUT / f"{name}-{tag}.png"
            window.grab().save(str(path), "PNG")
            print(f"saved {path} ({window.width()}x{window.height()})")

        shot("first-start")
        window.images_panel.select(list(range(12)))
        panel = window.attack_panel
        panel.select_attack("pgd")
        panel.form.set_values({"eps": "0.1", "steps": 10})
        window.run_action.trigger()
        wait(s.attack_finished)
        s.set_current(0)
        shot("attack")
        panel.select_attack("fgsm")
        panel.form.set_values({"eps": "0.1"})
        window.run_action.trigger()
        wait(s.attack_finished)
        window.runs_panel.raise_()
        window.runs_panel.select_ids([r.id for r in s.runs.runs[:2]])
        s.set_current(3)
        shot("runs-compared")
        ev = window.evaluate_panel
        window.images_panel.select(list(range(60)))
        ev.set_attacks(["pgd"])
        ev.form.set_values({"eps": "0,0.02,0.05,0.1,0.2", "steps": "5", "sanity_checks": False})
        ev.set_scope("selection")
        ev.raise_()
        ev.run_button.click()
        wait(s.evaluation_changed)
        window.calibration_panel.raise_()
        shot("evaluation")
        window.robustness_panel.raise_()
        shot("evaluation-robustness")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
