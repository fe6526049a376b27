"""`advinspect --smoke` (the bundle's self-test): open the window, load the demo, run FGSM on one
image, write a report (HTML + PDF) into a temporary folder, exit 0 — or 1 with the reason.

It exercises what a frozen build most often loses: Qt plugins, torch and its exported demo
model, the report templates and Qt's PDF writer. Without a display it renders offscreen; under
Xvfb (`xvfb-run advinspect --smoke`) it uses the xcb plugin like a desktop would.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SMOKE_TIMEOUT_MS = 300_000
SMOKE_ATTACK = ("fgsm", {"eps": "0.2"})


def run_smoke(keep: str | None = None) -> int:
    """Run the self-test; the report goes to `keep` when given, else to a temporary folder."""
    started = time.perf_counter()
    if not (os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["ADVINSPECT_GUI_NO_DIALOGS"] = "1"  # an error must end the run, not wait on a dialog
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from advinspect.gui.app import _application
    from advinspect.gui.platform_check import ensure_platform

    if QApplication.instance() is None:
        ensure_platform()
    app = _application()
    from advinspect.gui.export import ExportChoice, export_job
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    work = tempfile.TemporaryDirectory(prefix="advinspect-smoke-")
    out = Path(keep) if keep else Path(work.name) / "report"
    window = MainWindow(make_settings(str(Path(work.name) / "settings.ini")), device="cpu", confirm_close=False)
    state: dict[str, Any] = {"code": 1, "why": "did not finish"}

    def finish(code: int, why: str) -> None:
        state.update(code=code, why=why)
        window.close()
        app.quit()

    def on_ready() -> None:
        window.session.ready.disconnect(on_ready)
        window.session.attack_finished.connect(on_attacked)
        window.session.run_attack(SMOKE_ATTACK[0], SMOKE_ATTACK[1], [0])

    def on_attacked(outcome: Any) -> None:
        window.session.attack_finished.disconnect(on_attacked)
        session = window.session
        choice = ExportChoice(out_dir=out, samples="all", formats=("html", "pdf"), saliency=None,
                              max_cards=10, paper="a4", open_when_done=False)

        def job(progress: Any, cancel: Any) -> Any:
            return export_job(session.clf, session.images, outcome, choice, [0], force=True,
                              progress=progress, cancel=cancel)

        def done(report: Any) -> None:
            written = [out / f"report.{f}" for f in choice.formats]
            missing = [p.name for p in written if not p.is_file() or p.stat().st_size == 0]
            if missing:
                finish(1, f"report files missing: {', '.join(missing)}")
                return
            finish(0, f"FGSM on 1 image ({outcome.statuses[0]}), report in {out}")

        session.run_job("Smoke report", job, done)

    window.session.ready.connect(on_ready)
    window.session.error.connect(lambda title, message, _details: finish(1, f"{title}: {message}"))
    watchdog = QTimer(window)
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(lambda: finish(1, f"timed out after {SMOKE_TIMEOUT_MS // 1000} s"))
    watchdog.start(SMOKE_TIMEOUT_MS)
    window.show()
    QTimer.singleShot(0, lambda: window.start(None, [], True))
    app.exec()
    window.session.shutdown()
    seconds = time.perf_counter() - started
    platform = app.platformName()
    if state["code"] == 0:
        print(f"smoke OK in {seconds:.1f} s on the {platform} platform: {state['why']}")
    else:
        print(f"advinspect: smoke failed after {seconds:.1f} s: {state['why']}", file=sys.stderr)
    work.cleanup()
    return int(state["code"])


if __name__ == "__main__":
    sys.exit(run_smoke(sys.argv[1] if len(sys.argv) > 1 else None))
