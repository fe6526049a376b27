"""GUI responsiveness while a heavy attack runs, and time from launch to a usable window.

PGD on torchvision resnet18 (random weights, 3x224x224, batch 8) runs from the GUI (worker
thread, live previews into the Inspector) while a 5 ms QTimer records event-loop ticks; the
longest gap between ticks is how long the window could not react. Goals: gap < 50 ms, usable
window < 2 s. The same attack headless in the same process is the baseline for the GUI overhead.

    .venv/bin/python benchmarks/gui_responsiveness.py [--steps 10]
"""

from __future__ import annotations

import time

LAUNCH = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ADVINSPECT_GUI_NO_DIALOGS", "1")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


class TickRecorder:
    """Timestamps of event-loop ticks; `max_gap` over a window of time."""

    def __init__(self, interval_ms: int = 5) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def max_gap(self, start: float, stop: float) -> float:
        inside = [start] + [t for t in self.ticks if start <= t <= stop] + [stop]
        return max(b - a for a, b in zip(inside, inside[1:], strict=False))

    def top_gaps(self, start: float, stop: float, n: int = 5) -> list[tuple[float, float]]:
        """The n longest gaps as (ms, at seconds after start)."""
        inside = [start] + [t for t in self.ticks if start <= t <= stop] + [stop]
        gaps = sorted(((b - a, a - start) for a, b in zip(inside, inside[1:], strict=False)), reverse=True)
        return [(round(g * 1000, 1), round(at, 2)) for g, at in gaps[:n]]

    def percentile_gap(self, start: float, stop: float, q: float) -> float:
        inside = [t for t in self.ticks if start <= t <= stop]
        gaps = sorted(b - a for a, b in zip(inside, inside[1:], strict=False))
        return gaps[min(len(gaps) - 1, int(len(gaps) * q / 100))] if gaps else 0.0

    def gaps_over(self, limit: float, start: float, stop: float) -> int:
        inside = [t for t in self.ticks if start <= t <= stop]
        return sum(1 for a, b in zip(inside, inside[1:], strict=False) if b - a > limit)


def wait(signal, timeout_s: float = 600.0) -> list:
    """Run the event loop until `signal` fires; returns its arguments."""
    loop = QEventLoop()
    args: list = []

    def done(*values):
        args.extend(values)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(done)
    return args


def build_resnet(progress, cancel):
    """In the worker: torchvision resnet18 with random weights as a Classifier, and 8 images."""
    import numpy as np
    import torch
    import torchvision

    from advinspect.core.models import ModelSpec
    from advinspect.core.models.torch_backend import TorchClassifier
    from advinspect.core.tasks.base import Images

    torch.manual_seed(0)
    module = torchvision.models.resnet18(weights=None)
    spec = ModelSpec(input_shape=(3, 224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     labels=tuple(f"class {i}" for i in range(1000)))
    clf = TorchClassifier(module, spec, torch.device("cpu"))
    rng = np.random.default_rng(0)
    x = rng.random((8, 3, 224, 224), dtype=np.float32)
    images = Images(x, np.full(8, -1), [f"random_{i}.png" for i in range(8)], [""] * 8)
    return clf, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="PGD iterations")
    args = parser.parse_args()

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(make_settings(str(Path(tmp.name) / "settings.ini")), confirm_close=False)
    window.show()
    shown = {}
    QTimer.singleShot(0, lambda: shown.setdefault("t", time.perf_counter()))
    ticks = TickRecorder()
    while "t" not in shown:
        app.processEvents()
    usable = shown["t"] - LAUNCH
    load_start = time.perf_counter()
    window.start(demo=True)
    wait(window.session.ready)
    demo_ready = time.perf_counter() - LAUNCH
    load_gap = ticks.max_gap(load_start, time.perf_counter())

    session = window.session
    built = {}
    session.runner.submit("build resnet18", build_resnet, on_done=lambda r: built.update(r=r))
    wait(session.runner.busy_changed)
    clf, images = built["r"]
    session.use_classifier(clf, images=images)
    wait(session.ready)
    window.images_panel.select([0])

    values = {"eps": "8/255", "steps": args.steps, "early_stop": False, "random_start": True}
    window.attack_panel.select_attack("pgd")
    window.attack_panel.form.set_values(values)
    previews = []
    session.preview_changed.connect(lambda i: previews.append(i))
    started = time.perf_counter()
    session.run_attack("pgd", values, list(range(8)), seed=0)
    outcome = wait(session.attack_finished)[0]
    stopped = time.perf_counter()
    gap = ticks.max_gap(started, stopped)
    slow_ticks = ticks.gaps_over(0.05, started, stopped)
    top = ticks.top_gaps(started, stopped)
    p99 = ticks.percentile_gap(started, stopped, 99)

    # Baseline: the same attack headless, same process, same thread count.
    import torch

    from advinspect.core.attacks import get_attack

    attack = get_attack("pgd").from_values(values)
    t = time.perf_counter()
    attack.run(clf, torch.from_numpy(images.x), None, seed=0)
    headless = time.perf_counter() - t
    window.close()
    tmp.cleanup()

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"platform: {app.platformName()}, torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}, "
          f"load average {load} (other processes compete for the cores)")
    print(f"launch to usable window: {usable * 1000:.0f} ms (goal < 2000 ms)")
    print(f"launch to demo loaded and predicted: {demo_ready:.2f} s (worker; longest tick gap "
          f"meanwhile {load_gap * 1000:.0f} ms)")
    print(f"PGD resnet18 224x224 batch 8, {args.steps} steps: GUI run {stopped - started:.2f} s "
          f"(engine {outcome.result.seconds:.2f} s), headless baseline {headless:.2f} s")
    print(f"previews shown in the Inspector: {len(previews)}")
    print(f"longest gap between event-loop ticks during the attack: {gap * 1000:.1f} ms "
          f"(goal < 50 ms); 99th percentile {p99 * 1000:.1f} ms; gaps over 50 ms: {slow_ticks}")
    print(f"longest gaps (ms, at s after Run): {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
