"""Workbench sizes and times, run by hand (a minute or two of CPU):

    QT_QPA_PLATFORM=offscreen python benchmarks/workbench.py

1. The Images dock on 20,000 images: load committed → list rebuilt and first paint; a class filter
   and a name search on it.
2. Runs on the 450 demo images (FGSM and PGD-10 attacks, a 2-budget evaluation): workspace save and
   open (JSON + .npz), folder size; the report of the three runs.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def images_dock(n: int = 20_000) -> None:
    import pyqtgraph as pg
    from PySide6.QtCore import QCoreApplication

    from advinspect.core.tasks.base import Images
    from advinspect.gui.app import _application
    from advinspect.gui.main_window import MainWindow
    from advinspect.gui.settings import make_settings

    pg.setConfigOptions(imageAxisOrder="row-major")
    _application()
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(make_settings(str(Path(folder) / "s.ini")), device="cpu", confirm_close=False)
        window.show()
        rng = np.random.default_rng(0)
        labels = np.arange(n) % 10
        images = Images(rng.random((n, 1, 32, 32), dtype=np.float32), labels, [f"img_{i:05d}.png" for i in range(n)],
                        [f"/x/img_{i:05d}.png" for i in range(n)])
        probs = np.eye(10, dtype=np.float32)[labels]
        started = time.perf_counter()
        window.session._set_images(images, probs)
        QCoreApplication.processEvents()
        window.images_panel.view.viewport().repaint()
        opened = time.perf_counter() - started
        started = time.perf_counter()
        window.images_panel.class_box.setCurrentIndex(4)
        window.images_panel.set_search("img_1")
        QCoreApplication.processEvents()
        filtered = time.perf_counter() - started
        print(f"images dock, {n} images of 1x32x32: shown in {opened:.2f} s (thumbnails made: "
              f"{len(window.images_panel.model._thumbs)}); class filter + name search {filtered:.3f} s "
              f"-> {len(window.images_panel.visible_indices())} shown")
        window.session.shutdown()
        window.close()


def runs_and_workspace() -> None:
    from advinspect.core import workspace
    from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
    from advinspect.core.run_report import write_runs_report
    from advinspect.core.runs import RunStore, images_fingerprint, make_run
    from advinspect.core.tasks import attack, evaluate
    from advinspect.core.tasks import open as open_task
    from advinspect.core.tasks.base import Images, make_config

    clf = open_task.run(open_task.Inputs(DEMO_MODEL), open_task.Config(device="cpu")).clf
    from advinspect.core.data import collect_images, load_images

    batch = load_images(collect_images([str(DEMO_SAMPLES)], clf.spec), clf.spec)
    images = Images.from_batch(batch)
    names = [item.name for item in batch.items]
    store = RunStore()
    model = {"path": str(DEMO_MODEL), "sha256": clf.describe().get("sha256"), "name": DEMO_MODEL.name}
    fingerprint = images_fingerprint(names)
    started = time.perf_counter()
    for name, params in (("fgsm", {"eps": 0.1}), ("pgd", {"eps": 0.1, "steps": 10})):
        result = attack.run(attack.Inputs(clf, images), attack.Config(attack=name, params=params))
        store.add(make_run(store.new_id(), "attack", result, model=model, defense=None, images=fingerprint))
    config = make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0,0.1", "sanity_checks": False})
    result = evaluate.run(evaluate.Inputs(clf, images), config)
    store.add(make_run(store.new_id(), "evaluate", result, model=model, defense=None, images=fingerprint))
    computed = time.perf_counter() - started
    folder = Path(tempfile.mkdtemp(prefix="advinspect-ws-"))
    try:
        started = time.perf_counter()
        workspace.save(folder, workspace.Workspace(model, [str(DEMO_SAMPLES)], None, list(store)))
        saved = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        started = time.perf_counter()
        loaded = workspace.load(folder)
        check = workspace.check_model(loaded.model)
        opened = time.perf_counter() - started
        same = all(np.array_equal(a.arrays[k], b.arrays[k]) for a, b in zip(store, loaded.runs, strict=True)
                   for k in a.arrays)
        started = time.perf_counter()
        report = write_runs_report(folder / "report.html", list(store), names=names, x=np.asarray(images.x))
        reported = time.perf_counter() - started
        print(f"runs on {len(images)} demo images: FGSM + PGD-10 + evaluation computed in {computed:.1f} s; "
              f"workspace saved in {saved:.2f} s ({size / 1e6:.2f} MB), opened and sha256 checked in "
              f"{opened:.2f} s ({check.state}), arrays identical: {same}; report of 3 runs in {reported:.2f} s "
              f"({report.stat().st_size / 1e6:.2f} MB)")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    images_dock()
    runs_and_workspace()
