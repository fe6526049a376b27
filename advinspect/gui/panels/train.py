"""Train dock: retrain the session's (PyTorch) model with a training-time defense
(`core.tasks.train`), live per-epoch validation curves, then use the result or compare it. The
form is the whole `train.Config` (TrainingConfig), as the CLI's flags are. After a `dro` run the
dock also plots WRM's certificate against the empirical worst-case loss over rho (the curve
`core.robust.dro.certificate_curve` computed in the Result; the dock only draws it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import train
from advinspect.gui.panels._task_panel import TaskPanel
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import plot

DATA = ("demo training digits", "session images (labelled)")


@dataclass
class Trained:
    """train's Result and the classifier built from it on the worker."""

    result: Any  # core.tasks.train.Result
    clf: Any

    @property
    def cancelled(self) -> bool:
        return self.result.cancelled


def train_unavailable(clf: Any) -> str | None:
    """Why the model cannot be trained (None when it can): training updates a PyTorch module."""
    if clf is None:
        return "open a model first"
    if getattr(clf, "module", None) is None:
        fmt = str(getattr(clf, "format", ""))
        if "onnx" in fmt:
            return "an ONNX model is a fixed graph with no trainable PyTorch module; open its PyTorch form " \
                   "(.pt, .pt2, or a state_dict with its architecture)"
        return f"a {fmt or 'wrapped'} model has no trainable PyTorch module"
    return None


class TrainPanel(TaskPanel):
    object_name = "TrainDock"
    title = "Train"
    verb = "train"
    run_text = "Train"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.trained: Trained | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = ParamForm()
        self.form.set_params_type(train.Config, {"epochs": 3, "eps": 0.1, "val_attack_size": 100},
                                  exclude=("device",))
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
        form_scroll.setMinimumHeight(160)
        layout.addWidget(form_scroll, 1)
        data = QFormLayout()
        self.data = QComboBox()
        self.data.setObjectName("train_data")
        self.data.addItems(list(DATA))
        self.data.setToolTip("what to train on; the demo's training digits are separate from its test images")
        data.addRow("data", self.data)
        self.limit = QSpinBox()
        self.limit.setObjectName("train_limit")
        self.limit.setRange(10, 1_000_000)
        self.limit.setValue(1000)
        self.limit.setToolTip("use at most this many training images (keeps a CPU run short)")
        data.addRow("images", self.limit)
        layout.addLayout(data)
        row = self.buttons()
        self.use_button = QPushButton("Use as model")
        self.use_button.setObjectName("train_use")
        self.use_button.setToolTip("make the trained model the session's model (the images are re-predicted)")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.use_trained)
        row.addWidget(self.use_button)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.plot = plot("validation per epoch", "accuracy / loss", "epoch")
        self.plot.addLegend(offset=(-10, 10))
        self.curves = {
            "val_clean_accuracy": self.plot.plot(pen=pg.mkPen("#4c8bd6", width=2), symbol="o", symbolSize=5,
                                                 name="val clean acc"),
            "val_pgd_accuracy": self.plot.plot(pen=pg.mkPen("#d64545", width=2), symbol="o", symbolSize=5,
                                               name="val PGD acc"),
            "loss": self.plot.plot(pen=pg.mkPen("#888888", width=1, style=Qt.PenStyle.DashLine), name="train loss"),
        }
        layout.addWidget(self.plot, 1)
        self.certificate_plot = plot("DRO: certificate vs empirical worst case", "loss",
                                     "rho (mean transport cost ||x'-x||²/2)")
        self.certificate_plot.setObjectName("train_certificate_plot")
        self.certificate_plot.addLegend(offset=(10, 10))
        self.certificate_curves = {
            "certificate": self.certificate_plot.plot(pen=pg.mkPen("#d64545", width=2), name="certificate γρ + E[φγ]"),
            "empirical": self.certificate_plot.plot(pen=pg.mkPen("#4c8bd6", width=2), symbol="o", symbolSize=6,
                                                    name="empirical worst-case loss"),
        }
        self.certificate_plot.setVisible(False)  # only a dro run has a certificate
        layout.addWidget(self.certificate_plot, 1)
        self.setWidget(body)
        self.unavailable: str | None = "open a model first"
        session.model_changed.connect(self._on_model)
        self._on_model()

    def _on_model(self) -> None:
        """Train only where it can work: a PyTorch module with gradients (not an ONNX graph)."""
        s = self.session
        base = s.base_clf if s.base_clf is not None else s.clf
        self.unavailable = train_unavailable(base)
        self.run_button.setEnabled(self.unavailable is None and not self.running)
        self.run_button.setToolTip(f"cannot train: {self.unavailable}" if self.unavailable
                                   else "train a copy of the model with the chosen defense")
        self.status.setText(f"Train is off: {self.unavailable}" if self.unavailable and s.clf is not None else "")

    def _set_running(self, running: bool) -> None:
        super()._set_running(running)
        if not running and self.unavailable is not None:
            self.run_button.setEnabled(False)

    def summary_lines(self, trained: Trained) -> list[str]:
        return trained.result.summary_text()

    def run_result(self, trained: Trained) -> Any:
        return trained.result

    def prepare_and_start(self) -> None:
        s = self.session
        base = s.base_clf if s.base_clf is not None else s.clf
        reason = train_unavailable(base)
        if reason is not None:
            raise AdvInspectError(f"cannot train: {reason}")
        config = self.form.config(device=s.device)
        config.check()
        x = labels = None
        if self.data.currentIndex() == 1:
            if s.images is None or not s.images.has_labels:
                raise AdvInspectError("training on the session's images needs labels (class folders)")
            x, labels = s.images.x, s.images.labels
        elif s.spec is None or tuple(s.spec.input_shape) != (1, 32, 32):
            raise AdvInspectError("the demo digits fit only a 1x32x32 model: train on the session's images")
        inputs = train.Inputs(start=base, spec=base.spec, x=x, labels=labels, limit=int(self.limit.value()))

        def job(progress, cancel) -> Trained:
            result = train.run(inputs, config, progress=progress, cancel=cancel)
            return Trained(result, result.training.classifier(base.device))

        for curve in self.curves.values():
            curve.setData([], [])
        self.plot_certificate(None)
        self.use_button.setEnabled(False)
        s.log("info", f"train {config.defense} for {config.epochs} epoch(s), eps {config.eps}")
        self.start("train defense", job, previews=True, on_progress=self._on_progress)

    def _on_progress(self, event: Any) -> None:
        preview = event.preview
        if isinstance(preview, dict) and preview.get("history") is not None:
            self.plot_history(preview["history"])

    def plot_history(self, history: list[dict[str, Any]]) -> None:
        rows = [h for h in history if h.get("phase") == "train"] or history
        epochs = [float(h["epoch"]) for h in rows]
        for key, curve in self.curves.items():
            values = [np.nan if h.get(key) is None else float(h[key]) for h in rows]
            curve.setData(epochs, values, connect="finite")

    def plot_certificate(self, curve: Any) -> None:
        """WRM's bound γ·ρ + E[φ_γ] as a line from ρ = 0 past the largest empirical ρ, and the
        empirical worst-case loss at each ρ (the clean loss at ρ = 0), as the report's figure."""
        self.certificate_plot.setVisible(curve is not None)
        if curve is None:
            for item in self.certificate_curves.values():
                item.setData([], [])
            return
        top = max(curve.rho + [1e-9]) * 1.1
        self.certificate_curves["certificate"].setData([0.0, top], [curve.phi, curve.phi + curve.gamma * top])
        points = sorted(zip(curve.rho, curve.empirical_loss, strict=True))
        self.certificate_curves["empirical"].setData([0.0] + [r for r, _ in points],
                                                     [curve.clean_loss] + [e for _, e in points])
        self.certificate_plot.setTitle(f"DRO (γ = {curve.gamma:g}): certificate vs empirical worst case"
                                       + ("" if curve.holds else " — ABOVE the bound"))

    def on_cleared(self) -> None:
        self.plot_certificate(None)

    def on_result(self, trained: Trained) -> None:
        self.trained = trained
        self.plot_history(trained.result.training.history)
        self.plot_certificate(trained.result.training.certificate)
        self.use_button.setEnabled(True)
        self.session.add_model(f"trained ({trained.result.training.config.defense})", trained.clf)

    def use_trained(self) -> None:
        if self.trained is not None:
            s = self.session
            s.use_classifier(self.trained.clf, images=s.images)
