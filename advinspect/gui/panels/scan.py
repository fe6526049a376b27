"""Scan dock: is the session's model backdoored? Neural Cleanse (`core.tasks.scan`) on the shown
images, with each class's anomaly index and reversed trigger; STRIP's entropy threshold on them.
The form comes from `scan.Config`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from advinspect.core.report.sections import image_grid
from advinspect.core.tasks import scan
from advinspect.gui.panels._task_panel import TaskPanel, chosen_images
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import plot


class ScanPanel(TaskPanel):
    object_name = "ScanDock"
    title = "Scan"
    verb = "scan"
    run_text = "Scan model"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = ParamForm()
        self.form.set_params_type(scan.Config, {"max_images": 50})
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(self.form)
        area.setMinimumHeight(140)
        layout.addWidget(area, 1)
        self.run_button.setToolTip("scan the loaded model for a backdoor on the session's images (clean ones)")
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.anomaly = plot("anomaly index per class (flagged above the threshold)", "anomaly index", "class")
        layout.addWidget(self.anomaly, 1)
        self.triggers = pg.ImageView()
        self.triggers.ui.histogram.hide()
        self.triggers.ui.roiBtn.hide()
        self.triggers.ui.menuBtn.hide()
        self.triggers.setMinimumHeight(90)
        layout.addWidget(self.triggers, 1)
        self.setWidget(body)

    def scan_loaded_model(self) -> None:
        """Tools → Scan Model for a Backdoor…: bring this dock to the front and scan the session's
        model on its images with the form's settings. A model without gradients (ONNX) cannot
        run Neural Cleanse, so the scan switches to STRIP, which needs only the outputs."""
        self.show()
        self.raise_()
        clf = self.session.clf
        if clf is not None and not clf.has_gradients and self.form.values()["method"] == "neural-cleanse":
            self.form.set_values({"method": "strip"})
            self.session.log("info", "scan: the model has no gradients (ONNX): STRIP instead of Neural Cleanse")
        self.run()

    def prepare_and_start(self) -> None:
        config = self.form.config()
        images = chosen_images(self, "all", "scan", labelled=False, minimum=2, limit=config.max_images)
        inputs = scan.Inputs(self.session.clf, images)
        self.session.log("info", f"scan the model on {len(images)} image(s): {config}")
        self.start(f"scan {config.method}",
                   lambda progress, cancel: scan.run(inputs, config, progress=progress, cancel=cancel))

    def on_result(self, result: Any) -> None:
        self.anomaly.clear()
        if len(result.anomaly):
            colours = ["#d64545" if k in result.flagged else "#4c8bd6" for k in range(len(result.anomaly))]
            self.anomaly.addItem(pg.BarGraphItem(x=np.arange(len(result.anomaly)), height=result.anomaly, width=0.7,
                                                 brushes=colours))
            self.anomaly.addItem(pg.InfiniteLine(result.config.threshold, angle=0, pen=pg.mkPen("#888888")))
            self.anomaly.getAxis("bottom").setTicks([list(enumerate(result.labels))])
        triggers = result.trigger_images()
        if triggers is not None and len(triggers):
            grid = image_grid(triggers, columns=len(triggers))
            self.triggers.setImage(np.ascontiguousarray(grid[..., 0] if grid.shape[-1] == 1 else grid),
                                   axes={"x": 1, "y": 0, "c": 2} if grid.shape[-1] == 3 else {"x": 1, "y": 0},
                                   autoLevels=False, levels=(0, 1))
