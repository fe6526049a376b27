"""Opening a large folder in the GUI: time until the Images dock lists it, images decoded by
then, time until the background predictions land, the longest event-loop stall meanwhile, and
peak RSS. Issue 16: a folder of 20,000 images opens in seconds and stays responsive.

    .venv/bin/python benchmarks/gui_large_folder.py [--n 20000] [--side 28]

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ADVINSPECT_GUI_NO_DIALOGS", "1")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_until(predicate, timeout_s: float = 600.0) -> None:
    loop, deadline = QEventLoop(), time.perf_counter() + timeout_s
    while not predicate() and time.perf_counter() < deadline:
        loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)


def make_folder(root: Path, n: int, side: int) -> Path:
    from advinspect.core.data.images import save_png

    rng = np.random.default_rng(0)
    for i in range(n):
        save_png(rng.random((1, side, side), dtype=np.float32), root / str(i % 10) / f"{i:06d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--attack-all", action="store_true", help="then FGSM on every image, timed")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        folder = make_folder(Path(tmp) / "images", args.n, args.side)
        print(f"wrote {args.n} PNGs of {args.side}x{args.side} in {time.perf_counter() - started:.1f} s")
        window = MainWindow(make_settings(str(Path(tmp) / "settings.ini")), confirm_close=False)
        window.show()
        window.start(demo=True)
        session = window.session
        wait_until(lambda: session.clf is not None and session.images is not None and session.probs is not None)
        rss_demo = peak_rss_mb()
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        demo_images = session.images
        started = time.perf_counter()
        session.open_images([str(folder)])
        wait_until(lambda: session.images is not demo_images)
        listed = time.perf_counter() - started
        decoded_at_list = session.images.x.decoded if hasattr(session.images.x, "decoded") else len(session.images)
        rss_listed = peak_rss_mb()
        wait_until(lambda: session.probs is not None and len(session.probs) == args.n)
        predicted = time.perf_counter() - started
        session.set_current(args.n - 1)
        wait_until(lambda: False, 0.3)
        timer.stop()
        gaps = np.diff(ticks) * 1000 if len(ticks) > 1 else np.zeros(1)
        print(f"{args.n} images: listed in {listed:.2f} s ({decoded_at_list} decoded by then; "
              f"{window.images_panel.model.rowCount()} rows), predictions in {predicted:.2f} s, "
              f"longest event-loop gap {gaps.max():.0f} ms (p99 {np.percentile(gaps, 99):.0f} ms)")
        print(f"peak RSS {peak_rss_mb():.0f} MB (after the demo alone: {rss_demo:.0f} MB, once listed: "
              f"{rss_listed:.0f} MB); "
              f"decoded images held: {getattr(session.images.x, 'cached', lambda: args.n)()}")
        if args.attack_all:  # FGSM on every image: read batch by batch, adversarials on disk
            ticks.clear()
            timer.start()
            finished: list[object] = []
            session.attack_finished.connect(finished.append)
            started = time.perf_counter()
            session.run_attack("fgsm", {"eps": "0.1"}, list(range(args.n)))
            wait_until(lambda: bool(finished))
            attacked = time.perf_counter() - started
            timer.stop()
            gaps = np.diff(ticks) * 1000 if len(ticks) > 1 else np.zeros(1)
            result = finished[0]
            print(f"attack all: {getattr(getattr(result, 'attack', None), 'n', 0)} images in {attacked:.1f} s, "
                  f"longest event-loop gap {gaps.max():.0f} ms (p99 {np.percentile(gaps, 99):.0f} ms), "
                  f"peak RSS {peak_rss_mb():.0f} MB, errors shown: {len(window.errors)}")
        window.close()
        app.processEvents()


if __name__ == "__main__":
    main()
