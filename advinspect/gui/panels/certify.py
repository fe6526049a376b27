"""Certify dock: randomized smoothing (`core.tasks.certify`) on the selected images, with the
certified-accuracy curve; the form comes from `certify.Config`."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from advinspect.core.tasks import certify
from advinspect.gui.panels._task_panel import TaskPanel, chosen_images
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import plot


class CertifyPanel(TaskPanel):
    object_name = "CertifyDock"
    title = "Certify"
    verb = "certify"
    run_text = "Certify selection"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = ParamForm()
        self.form.set_params_type(certify.Config)
        layout.addWidget(self.form)
        self.run_button.setToolTip("certified L2 radius of each selected (labelled) image (Cohen et al. 2019)")
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.plot = plot("certified accuracy", "accuracy", "L2 radius")
        self.plot.setYRange(0, 1)
        layout.addWidget(self.plot, 1)
        self.setWidget(body)

    def prepare_and_start(self) -> None:
        config = self.form.config()
        images = chosen_images(self, "selection", "certify")
        inputs = certify.Inputs(self.session.clf, images)
        self.session.log("info", f"certify {len(images)} image(s): {config}")
        self.start(f"certify {len(images)} image(s)",
                   lambda progress, cancel: certify.run(inputs, config, progress=progress, cancel=cancel))

    def on_result(self, result: Any) -> None:
        c = result.certification
        self.plot.clear()
        self.plot.plot(c.curve_radius, c.curve_certified_accuracy, pen=pg.mkPen("#2e8b57", width=2),
                       symbol="o", symbolSize=5)
