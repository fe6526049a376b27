"""Detect dock: the feature-squeezing detector (`core.tasks.detect`). It scores the adversarials
of the session's last attack that fooled the model (status "flipped"), as the CLI does; with no
attack yet (or "reuse" unticked) it attacks the selected images itself. Form from `detect.Config`."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLineEdit, QVBoxLayout, QWidget

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import detect
from advinspect.gui.panels._task_panel import TaskPanel, chosen_images
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import plot


class DetectPanel(TaskPanel):
    object_name = "DetectDock"
    title = "Detect"
    verb = "detect"
    run_text = "Detector ROC"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.reuse = QCheckBox("score the last attack's adversarials")
        self.reuse.setObjectName("detect_reuse")
        self.reuse.setChecked(True)
        self.reuse.setToolTip("the adversarials of the last attack that fooled the model; unticked (or with no "
                              "attack yet) the attack below runs on the selected images")
        layout.addWidget(self.reuse)
        self.form = ParamForm()
        self.form.set_params_type(detect.Config)
        layout.addWidget(self.form)
        self.params = QLineEdit()
        self.params.setObjectName("detect_params")
        self.params.setPlaceholderText("attack parameters, e.g. eps=0.1, steps=10")
        self.params.setToolTip("the attack's own parameters when it runs here (key=value, comma-separated)")
        layout.addWidget(self.params)
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.roc = plot("ROC", "true-positive rate", "false-positive rate")
        self.roc.setXRange(0, 1)
        self.roc.setYRange(0, 1)
        layout.addWidget(self.roc, 1)
        self.setWidget(body)
        session.attacks_changed.connect(self._fill_attacks)
        session.attack_finished.connect(self._update_reuse)
        session.model_changed.connect(self._update_reuse)
        self._update_reuse()

    def _fill_attacks(self) -> None:
        values = self.form.values()
        self.form.set_params_type(detect.Config, values, choices={"attack": sorted(self.session.attacks)})

    def _update_reuse(self, *_: object) -> None:
        last = self.session.last_attack
        self.reuse.setEnabled(last is not None)
        if last is None:
            self.reuse.setText("score the last attack's adversarials (run an attack first)")
        else:
            self.reuse.setText(f"score the last {last.attack.attack} ({len(last.images)} image(s))")

    def prepare_and_start(self) -> None:
        s = self.session
        config = self.form.config(params=parse_pairs(self.params.text()))
        last = s.last_attack if self.reuse.isChecked() else None
        images = last.images if last is not None else chosen_images(self, "selection", "detect")
        inputs = detect.Inputs(s.clf, images, attacked=last)
        what = f"the last {last.attack.attack}" if last is not None else f"{config.attack} on {len(images)} image(s)"
        s.log("info", f"detect: feature squeezing on {what}, target FPR {config.fpr}")
        self.start("detector ROC", lambda progress, cancel: detect.run(inputs, config, progress=progress,
                                                                        cancel=cancel))

    def on_result(self, result: Any) -> None:
        report = result.report
        self.roc.clear()
        self.roc.plot([0, 1], [0, 1], pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        self.roc.plot(report.roc_fpr, report.roc_tpr, pen=pg.mkPen("#d64545", width=2))
        self.roc.addItem(pg.InfiniteLine(report.target_fpr, angle=90, pen=pg.mkPen("#4c8bd6")))


def parse_pairs(text: str) -> dict[str, str]:
    """'eps=0.1, steps=10' -> {'eps': '0.1', 'steps': '10'}; the attack converts and checks them."""
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise AdvInspectError(f"attack parameters take key=value, got {part!r}")
        pairs[key.strip()] = value.strip()
    return pairs
