"""Synthesis dock: draw class images with the session's model (`core.tasks.synthesize`), seeds
from the session's images, an optional A/B model and judge from the session's other models
(trained ones), a live preview of the batch being drawn and the contact sheet at the end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QFormLayout, QVBoxLayout, QWidget

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import synthesize
from advinspect.core.tasks.base import Images
from advinspect.gui.panels._task_panel import TaskPanel
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm

NONE = "none"


class SynthesizePanel(TaskPanel):
    object_name = "SynthesizeDock"
    title = "Synthesis"
    verb = "synthesize"
    run_text = "Synthesize"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = ParamForm()
        self.form.set_params_type(synthesize.Config)
        layout.addWidget(self.form)
        models = QFormLayout()
        self.compare = QComboBox(objectName="synthesize_compare")
        self.compare.setToolTip("A/B: the same seeds through a second model (a standard one draws noise)")
        self.judge = QComboBox(objectName="synthesize_judge")
        self.judge.setToolTip("an independent classifier that labels the drawn images")
        models.addRow("compare with", self.compare)
        models.addRow("judge", self.judge)
        layout.addLayout(models)
        self.run_button.setToolTip("draw the chosen classes from seeds with the model's gradients "
                                   "(Santurkar et al. 2019); seeds come from the session's images")
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumHeight(180)
        box = self.view.addViewBox(lockAspect=True, invertY=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.image)
        layout.addWidget(self.view, 1)
        self.setWidget(body)
        session.models_changed.connect(self.fill_models)
        self.fill_models()

    def fill_models(self) -> None:
        for combo in (self.compare, self.judge):
            current = combo.currentText()
            combo.clear()
            combo.addItems([NONE, *self.session.models])
            if current in self.session.models:
                combo.setCurrentText(current)

    def _model(self, combo: QComboBox) -> Any:
        name = combo.currentText()
        return None if name in ("", NONE) else self.session.models.get(name)

    def prepare_and_start(self) -> None:
        s = self.session
        if s.clf is None:
            raise AdvInspectError("open a model first")
        config = self.form.config()
        images: Images | None = s.images if s.images is not None and len(s.images) else None
        inputs = synthesize.Inputs(s.clf, images, compare=self._model(self.compare), judge=self._model(self.judge),
                                   names=("model", self.compare.currentText()))
        s.log("info", f"synthesize: {config}")
        self.image.clear()
        self.start("synthesize", lambda progress, cancel: synthesize.run(inputs, config, progress=progress,
                                                                         cancel=cancel),
                   previews=True, on_progress=self._on_progress)

    def _on_progress(self, event: Any) -> None:
        preview = event.preview
        if isinstance(preview, dict) and preview.get("images") is not None:
            from advinspect.core.report.sections import image_grid

            lo, hi = self.session.clf.spec.value_range if self.session.clf is not None else (0.0, 1.0)
            per_row = int(self.form.values().get("per_class") or 4)
            self.show_grid(image_grid((preview["images"] - lo) / (hi - lo), per_row))

    def show_grid(self, grid: np.ndarray) -> None:
        self.image.setImage(grid[..., 0] if grid.shape[-1] == 1 else grid, levels=(0.0, 1.0))

    def on_result(self, result: synthesize.Result) -> None:
        if result.runs:
            self.show_grid(result.contact_sheet())
