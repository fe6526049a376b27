"""Poisoning dock: poison the demo training digits (`core.tasks.poison`), train on them and on
the clean set, then sanitize the poisoned set (`core.tasks.sanitize`) with the trained model.
Shows the original | poisoned preview, C-Acc / ASR / RA (and the ratio sweep) and the detection
AUC of every layer; the poisoned model can become the session's model (for the Scan dock)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QPushButton, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import poison, sanitize
from advinspect.core.tasks.base import Images
from advinspect.gui.panels._task_panel import TaskPanel
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import plot


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setMinimumHeight(140)
    return area


class PoisonPanel(TaskPanel):
    object_name = "PoisonDock"
    title = "Poisoning"
    verb = "poison"
    run_text = "Poison and train"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.poisoned: Any = None  # the last poison Result
        self.poisoned_clf: Any = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        forms = QTabWidget()
        self.form = ParamForm()
        self.form.set_params_type(poison.Config, {"epochs": 5})
        self.sanitize_form = ParamForm()
        self.sanitize_form.set_params_type(sanitize.Config, exclude=("retrain", "retrain_defense", "epochs", "lr",
                                                                     "batch_size"))
        forms.addTab(_scroll(self.form), "poison (demo digits)")
        forms.addTab(_scroll(self.sanitize_form), "sanitize")
        layout.addWidget(forms, 1)
        self.run_button.setToolTip("poison the demo training digits, train on them and on the clean set, "
                                   "measure C-Acc / ASR / RA on the demo test digits")
        row = self.buttons()
        self.sanitize_button = QPushButton("Sanitize")
        self.sanitize_button.setObjectName("poison_sanitize")
        self.sanitize_button.setToolTip("score every poisoned-set image on a layer of the poisoned model; "
                                        "the detection AUC of every layer against the known poison")
        self.sanitize_button.setEnabled(False)
        self.sanitize_button.clicked.connect(self.run_sanitize)
        self.use_button = QPushButton("Use poisoned model")
        self.use_button.setObjectName("poison_use")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_poisoned)
        row.addWidget(self.sanitize_button)
        row.addWidget(self.use_button)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        views = QTabWidget()
        self.preview = pg.ImageView()
        self.preview.ui.histogram.hide()
        self.preview.ui.roiBtn.hide()
        self.preview.ui.menuBtn.hide()
        views.addTab(self.preview, "original | poisoned")
        self.curves = plot("C-Acc / ASR / RA versus poison ratio", "rate", "poison ratio")
        self.curves.addLegend(offset=(-10, 10))
        views.addTab(self.curves, "metrics")
        self.layers = plot("detection AUC per layer", "AUC", "layer")
        views.addTab(self.layers, "layer AUC")
        self.roc = plot("ROC", "true positive rate", "false positive rate")
        views.addTab(self.roc, "ROC")
        layout.addWidget(views, 2)
        self.views = views
        self.setWidget(body)

    # --- poison and train --------------------------------------------------------------------
    def prepare_and_start(self) -> None:
        config = self.form.config()
        self.session.log("info", f"poison the demo digits: {config}")
        self.sanitize_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.start(f"poison {config.attack}",
                   lambda progress, cancel: poison.run(poison.Inputs(), config, progress=progress, cancel=cancel))

    def run_sanitize(self) -> None:
        try:
            self._start_sanitize()
        except AdvInspectError as exc:
            self.session.error.emit("Cannot sanitize", str(exc), "")

    def _start_sanitize(self) -> None:
        p = self.poisoned
        if p is None or p.training is None:
            raise AdvInspectError("poison and train first")
        config = self.sanitize_form.config()
        inputs = sanitize.Inputs(self.poisoned_clf, Images(p.poisoned.x, p.poisoned.labels), p.poisoned.poisoned,
                                 p.config)
        self.session.log("info", f"sanitize the poisoned set: {config}")
        self.start(f"sanitize {config.method}",
                   lambda progress, cancel: sanitize.run(inputs, config, progress=progress, cancel=cancel))

    def on_result(self, result: Any) -> None:
        if isinstance(result, poison.Result):
            self._show_poison(result)
        else:
            self._show_sanitize(result)

    def _show_poison(self, result: poison.Result) -> None:
        from advinspect.core.poisoning.report import preview_grid

        self.poisoned = result
        self.poisoned_clf = result.training.classifier("cpu") if result.training is not None else None
        ready = self.poisoned_clf is not None and not result.cancelled
        self.sanitize_button.setEnabled(ready)
        self.use_button.setEnabled(ready)
        if result.preview_original is not None:
            grid = preview_grid(result.preview_original, result.preview_poisoned, result.value_range)
            self.preview.setImage(np.ascontiguousarray(grid[..., 0] if grid.shape[-1] == 1 else grid),
                                  axes={"x": 1, "y": 0, "c": 2} if grid.shape[-1] == 3 else {"x": 1, "y": 0},
                                  autoLevels=False, levels=(0, 1))
        self.curves.clear()
        points = sorted([(result.config.ratio, result.metrics)] * (result.metrics is not None)
                        + [(r["ratio"], r["metrics"]) for r in result.sweep], key=lambda t: t[0])
        if result.baseline is not None:
            points.insert(0, (0.0, result.baseline))
        for key, colour, name in (("c_acc", "#4c8bd6", "C-Acc"), ("asr", "#d64545", "ASR"), ("ra", "#2e8b57", "RA")):
            values = [getattr(m, key) for _, m in points]
            if values and all(v is not None for v in values):
                self.curves.plot([r for r, _ in points], values, pen=pg.mkPen(colour, width=2), symbol="o",
                                 symbolSize=6, name=name)

    def _show_sanitize(self, result: sanitize.Result) -> None:
        self.layers.clear()
        names = list(result.layer_auc)
        values = [np.nan if v is None else v for v in result.layer_auc.values()]
        if names:
            self.layers.addItem(pg.BarGraphItem(x=np.arange(len(names)), height=np.nan_to_num(values), width=0.7,
                                                brush="#4c8bd6"))
            self.layers.getAxis("bottom").setTicks([list(enumerate(names))])
            self.layers.setYRange(0, 1)
        self.roc.clear()
        if result.roc is not None:
            self.roc.plot(result.roc[0], result.roc[1], pen=pg.mkPen("#d64545", width=2))
            self.roc.plot([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1))

    def use_poisoned(self) -> None:
        if self.poisoned_clf is not None:
            self.session.add_model(f"poisoned ({self.poisoned.config.attack})", self.poisoned_clf)
            self.session.use_classifier(self.poisoned_clf, images=self.session.images)
