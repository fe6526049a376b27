"""The Evaluate plots for an evaluation the GUI did not compute in memory, at 20,000 images; run
by hand (about a minute of CPU):

    QT_QPA_PLATFORM=offscreen python benchmarks/evaluate_plots.py [N]

1. A streamed evaluation of N images (the 450 demo digits tiled, FGSM at eps 0 and 0.1, on the
   demo model): run_stream time; evaluation.json written (size); `evaluate.plotted` of the
   Streamed (its rows, logits included).
2. The GUI with N images open under the same names: File → Import Results of that JSON, selecting
   the run (Result.from_data + every plot drawn), one confusion-cell click (samples matched to the
   open images by index and name, the filter set), and the peak RSS.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(n: int = 20_000) -> None:
    import torch

    from advinspect.core.data import collect_images, load_images
    from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
    from advinspect.core.data.stream import ArrayStream
    from advinspect.core.report.results import write_json
    from advinspect.core.tasks import evaluate
    from advinspect.core.tasks import open as open_task
    from advinspect.core.tasks.base import Images, make_config

    torch.set_num_threads(2)
    clf = open_task.run(open_task.Inputs(DEMO_MODEL), open_task.Config(device="cpu")).clf
    batch = load_images(collect_images([str(DEMO_SAMPLES)], clf.spec), clf.spec)
    reps = -(-n // len(batch))
    x = np.tile(batch.x.numpy(), (reps, 1, 1, 1))[:n]
    labels = np.tile(batch.labels.numpy(), reps)[:n]
    names = [f"{int(c)}/{i:05d}.png" for i, c in enumerate(labels)]
    index = np.arange(n, dtype=np.int64)
    config = make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0,0.1", "sanity_checks": False})
    started = time.perf_counter()
    streamed = evaluate.run_stream(clf, ArrayStream(x, labels, names, index, batch_size=256), config)
    computed = time.perf_counter() - started
    started = time.perf_counter()
    view = evaluate.plotted(streamed)
    viewed = time.perf_counter() - started
    folder = Path(tempfile.mkdtemp(prefix="advinspect-evalplots-"))
    path = write_json(folder / "evaluation.json", streamed.data)
    print(f"streamed evaluation of {n} images (FGSM eps 0, 0.1): {computed:.1f} s; evaluation.json "
          f"{path.stat().st_size / 1e6:.1f} MB; plotted view of the Streamed (rows with logits) {viewed:.2f} s, "
          f"scaled confidences {'kept' if view.scaled_confidence is not None else 'missing'}")

    from PySide6.QtCore import QCoreApplication, QPointF

    from advinspect.gui.app import _application
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    _application()
    window = MainWindow(make_settings(str(folder / "s.ini")), device="cpu", confirm_close=False)
    window.show()
    s = window.session
    s.clf = clf
    probs = np.eye(10, dtype=np.float32)[labels]
    s._set_images(Images(x, labels, names, [str(folder / nm) for nm in names]), probs)
    QCoreApplication.processEvents()
    before = rss_mb()
    started = time.perf_counter()
    run = s.import_run(str(path))
    imported = time.perf_counter() - started
    started = time.perf_counter()
    s.select_run(run.id)
    QCoreApplication.processEvents()
    selected = time.perf_counter() - started
    cal = window.calibration_panel
    truth = int(np.argmax(np.diag(cal.drawn["clean"])))
    started = time.perf_counter()
    picked = cal.click_matrix("clean", QPointF(truth + 0.5, truth + 0.5))
    QCoreApplication.processEvents()
    clicked = time.perf_counter() - started
    assert len(picked) == cal.drawn["clean"][truth, truth]
    json.loads(path.read_text())  # the file reads back
    print(f"GUI, {n} images open: import {imported:.2f} s, select (rebuild + draw) {selected:.2f} s, "
          f"confusion-cell click -> {len(picked)} images in {clicked:.2f} s; peak RSS {before:.0f} MB before "
          f"the import, {rss_mb():.0f} MB after")
    s.shutdown()
    window.close()
    shutil.rmtree(folder)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
