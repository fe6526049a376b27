"""Defenses dock: input transforms with a live preview, applied to the session's model (which
becomes a DefendedClassifier, so every attack and panel sees the defended model); a
feature-squeezing detector on the last attack's adversarials; randomized-smoothing
certification; a comparison of models; and training-time defenses when the core has them.

Every model call runs on the worker; the dock only draws the numbers that come back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.gui import tasks
from advinspect.gui.panels import Panel
from advinspect.gui.panels.evaluate import CURVE_COLORS, parse_eps_list
from advinspect.gui.panels.inspector import to_uint8
from advinspect.gui.session import Session
from advinspect.gui.widgets.imaging import to_display

# name -> (label, default, min, max, decimals (0: integer), tooltip); mirrors core TRANSFORMS
TRANSFORM_FIELDS = {
    "jpeg": ("JPEG quality", 75, 1, 100, 0, "JPEG compression (not differentiable: BPDA when adaptive)"),
    "bits": ("bit depth", 4, 1, 16, 0, "colour-depth reduction, feature squeezing (Xu et al. 2018)"),
    "median": ("median window", 3, 1, 15, 0, "median smoothing (spatial squeezer)"),
    "noise": ("noise sigma", 0.1, 0.0, 1.0, 3, "Gaussian noise (random: EOT when adaptive)"),
}
PREVIEW_DEBOUNCE_MS = 150
MAX_COMPARE_IMAGES = 200


def _spin(default: float, low: float, high: float, decimals: int) -> QSpinBox | QDoubleSpinBox:
    if decimals == 0:
        box: QSpinBox | QDoubleSpinBox = QSpinBox()
        box.setRange(int(low), int(high))
        box.setValue(int(default))
        return box
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(low, high)
    box.setSingleStep(10 ** -(decimals - 1) if decimals > 1 else 0.1)
    box.setValue(default)
    return box


def _progress_bar(name: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setObjectName(name)
    bar.setRange(0, 1000)
    bar.setValue(0)
    return bar


def _label(name: str, text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setTitle(title)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    plot.setMinimumHeight(150)
    return plot


class DefensesPanel(Panel):
    object_name = "DefensesDock"
    title = "Defenses"

    preview_ready = Signal()
    detector_ready = Signal()
    certify_ready = Signal()
    compare_ready = Signal()
    training_finished = Signal(object)  # TrainingResult or None on failure

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.visible_indices: Any = None  # callable giving the images shown (set by the window)
        self.jobs: dict[str, Any] = {}  # running job per section
        self.preview: tasks.DefensePreview | None = None
        self.detection: Any = None
        self.certification: Any = None
        self.comparison: dict[str, Any] | None = None
        self.training: Any = None  # (TrainingResult, Classifier) of the last run
        self.model_files: dict[str, str] = {}  # compare: name -> model file
        self._preview_dirty = False
        self.tabs = QTabWidget()
        self.tabs.setObjectName("defenses_tabs")
        self.tabs.addTab(self._scrolled(self._transforms_tab()), "Transforms")
        self.tabs.addTab(self._scrolled(self._detect_tab()), "Detect / certify")
        self.tabs.addTab(self._scrolled(self._compare_tab()), "Compare")
        self.tabs.addTab(self._scrolled(self._train_tab()), "Train")
        self.setWidget(self.tabs)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._preview_timer.timeout.connect(self.update_preview)
        self.visibilityChanged.connect(self._on_visibility)
        session.current_changed.connect(self.schedule_preview)
        session.images_changed.connect(self.schedule_preview)
        session.model_changed.connect(self._on_model)
        session.defense_changed.connect(self._on_defense)
        session.attacks_changed.connect(self._fill_attacks)
        session.attack_finished.connect(self._on_attack_finished)

    def _on_visibility(self, visible: bool) -> None:
        if visible:
            self.schedule_preview()

    def _on_attack_finished(self, _outcome: Any) -> None:
        self._update_detector_text()

    @staticmethod
    def _scrolled(widget: QWidget) -> QScrollArea:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(widget)
        return scroll

    # ======================================================================================
    # Transforms: choose, preview, apply
    # ======================================================================================
    def _transforms_tab(self) -> QWidget:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        grid = QGridLayout()
        self.transform_checks: dict[str, QCheckBox] = {}
        self.transform_values: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for row, (name, (label, default, low, high, decimals, tip)) in enumerate(TRANSFORM_FIELDS.items()):
            check = QCheckBox(label)
            check.setObjectName(f"defense_{name}")
            check.setToolTip(tip)
            check.setChecked(name == "jpeg")
            value = _spin(default, low, high, decimals)
            value.setObjectName(f"defense_{name}_value")
            value.setToolTip(tip)
            check.toggled.connect(self.schedule_preview)
            value.valueChanged.connect(self.schedule_preview)
            grid.addWidget(check, row, 0)
            grid.addWidget(value, row, 1)
            self.transform_checks[name], self.transform_values[name] = check, value
        layout.addLayout(grid)
        self.defense_spec = _label("defense_spec")
        layout.addWidget(self.defense_spec)
        self.preview_graphics = pg.GraphicsLayoutWidget()
        self.preview_graphics.setMinimumHeight(150)
        self.preview_titles, self.preview_items = [], []
        views = []
        for column, title in enumerate(("selected image", "what the model sees")):
            self.preview_titles.append(self.preview_graphics.addLabel(title, row=0, col=column))
            view = self.preview_graphics.addViewBox(row=1, col=column, lockAspect=True, invertY=True)
            view.setMenuEnabled(False)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            views.append(view)
            self.preview_items.append(item)
        views[1].setXLink(views[0])
        views[1].setYLink(views[0])
        self.preview_views = views
        layout.addWidget(self.preview_graphics, 1)
        self.preview_label = _label("defense_preview_label", "preview: –")
        layout.addWidget(self.preview_label)
        options = QHBoxLayout()
        self.adaptive = QCheckBox("adaptive (BPDA + EOT)")
        self.adaptive.setObjectName("defense_adaptive")
        self.adaptive.setToolTip("let attacks see through the defense (Athalye et al. 2018): identity gradient "
                                 "for non-differentiable transforms, averages over random ones. Without it the "
                                 "robustness you measure is the naive (often illusory) figure.")
        options.addWidget(self.adaptive)
        options.addWidget(QLabel("EOT samples"))
        self.eot = QSpinBox()
        self.eot.setObjectName("defense_eot")
        self.eot.setRange(1, 256)
        self.eot.setValue(8)
        self.eot.setToolTip("transformed copies averaged per gradient step for random transforms")
        options.addWidget(self.eot)
        options.addStretch(1)
        layout.addLayout(options)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply to model")
        self.apply_button.setObjectName("defense_apply")
        self.apply_button.setToolTip("the session's model becomes this defended model (attacks, saliency, "
                                     "evaluation all use it)")
        self.apply_button.clicked.connect(self.apply)
        buttons.addWidget(self.apply_button)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("defense_remove")
        self.remove_button.clicked.connect(self.session.remove_defense)
        self.remove_button.setEnabled(False)
        buttons.addWidget(self.remove_button)
        layout.addLayout(buttons)
        self.active_label = _label("defense_active", "active defense: none")
        self.active_label.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.active_label)
        self._update_spec_text()
        return body

    def defense_text(self) -> str:
        """The chosen transforms as `parse_defense` text, applied in this order."""
        parts = []
        for name, check in self.transform_checks.items():
            if check.isChecked():
                value = self.transform_values[name].value()
                parts.append(f"{name}:{value:g}" if isinstance(value, float) else f"{name}:{value}")
        return ",".join(parts)

    def set_defense(self, text: str) -> None:
        """Tick and fill the controls from 'jpeg:75,bits:4' (scripting and tests)."""
        chosen = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition(":")
            chosen[name] = value
        for name, check in self.transform_checks.items():
            check.setChecked(name in chosen)
            if chosen.get(name):
                box = self.transform_values[name]
                box.setValue(type(box.value())(float(chosen[name])))

    def _update_spec_text(self) -> None:
        text = self.defense_text()
        self.defense_spec.setText(f"defense: {text or '(none chosen)'}")
        self.apply_button.setEnabled(bool(text) and self.session.clf is not None)

    def schedule_preview(self, *_: object) -> None:
        self._update_spec_text()
        self._preview_timer.start()

    def _base(self) -> Any:
        s = self.session
        return s.base_clf if s.base_clf is not None else s.clf

    def update_preview(self) -> None:
        """Preview job for the current image; only while the dock is shown (see SaliencyPanel)."""
        if not self.on_screen():
            return
        s = self.session
        x = s.image(s.current)
        text = self.defense_text()
        clf = self._base()
        if clf is None or x is None or not text:
            self.preview = None
            self.preview_items[1].clear()
            self.preview_label.setText("preview: choose a transform" if x is not None else "preview: no image")
            return
        if "preview" in self.jobs:
            self._preview_dirty = True
            return
        index = s.current

        def job(progress, cancel) -> tasks.DefensePreview:
            return tasks.defense_preview(clf, x, text, progress=progress, cancel=cancel)

        def done(preview: tasks.DefensePreview) -> None:
            self.jobs.pop("preview", None)
            self._show_preview(index, x, text, preview)
            if self._preview_dirty:
                self._preview_dirty = False
                self.schedule_preview()

        def failed(error: BaseException, _details: str) -> None:
            self.jobs.pop("preview", None)
            self.preview_label.setText(f"preview failed: {error}")

        self.jobs["preview"] = s.run_job("defense preview", job, done, error_title="Defense preview failed",
                                         on_error=failed)

    def _show_preview(self, index: int, x: np.ndarray, text: str, preview: tasks.DefensePreview) -> None:
        s = self.session
        self.preview = preview
        vr = s.value_range
        self.preview_items[0].setImage(to_uint8(to_display(x, vr)), levels=(0, 255), autoLevels=False)
        self.preview_items[1].setImage(to_uint8(to_display(preview.transformed, vr)), levels=(0, 255),
                                       autoLevels=False)
        self.preview_views[0].autoRange(padding=0.02)
        before, after = int(preview.clean_probs.argmax()), int(preview.probs.argmax())
        change = "unchanged" if before == after else "CHANGED"
        self.preview_titles[1].setText(f"after {text}")
        self.preview_label.setText(
            f"image {index}: prediction {s.label_name(before)} ({preview.clean_probs.max():.1%}) → "
            f"{s.label_name(after)} ({preview.probs.max():.1%}) through the defense [{change}]")
        self.preview_ready.emit()

    def apply(self) -> None:
        text = self.defense_text()
        if not text:
            self.session.error.emit("No defense chosen", "tick at least one transform", "")
            return
        self.session.apply_defense(text, self.adaptive.isChecked(), self.eot.value())

    def _on_defense(self) -> None:
        d = self.session.defense
        self.remove_button.setEnabled(d is not None)
        if d is None:
            self.active_label.setText("active defense: none")
        else:
            mode = f"adaptive (BPDA + EOT {d['eot_samples']})" if d["adaptive"] else "naive gradients"
            described = ", ".join(t.describe() for t in getattr(self.session.clf, "transforms", []))
            self.active_label.setText(f"active defense: {described or d['text']} — {mode}")
        self._fill_compare_models()

    def _on_model(self) -> None:
        self._update_spec_text()
        self.schedule_preview()
        self._fill_compare_models()
        self._update_detector_text()

    # ======================================================================================
    # Detector and certification
    # ======================================================================================
    def _detect_tab(self) -> QWidget:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        box = QGroupBox("Feature-squeezing detector (Xu et al. 2018)")
        form = QFormLayout(box)
        self.target_fpr = QDoubleSpinBox()
        self.target_fpr.setObjectName("detector_fpr")
        self.target_fpr.setRange(0.001, 0.5)
        self.target_fpr.setDecimals(3)
        self.target_fpr.setSingleStep(0.01)
        self.target_fpr.setValue(0.05)
        self.target_fpr.setToolTip("false-positive rate on clean images that sets the threshold")
        form.addRow("target FPR", self.target_fpr)
        self.detect_button = QPushButton("Detector ROC")
        self.detect_button.setObjectName("detector_run")
        self.detect_button.setToolTip("score the last attack's adversarials against their clean images")
        self.detect_button.clicked.connect(self.run_detector)
        form.addRow(self.detect_button)
        self.detector_label = _label("detector_result", "")
        form.addRow(self.detector_label)
        self.roc_plot = _plot("ROC", "true-positive rate", "false-positive rate")
        self.roc_plot.setXRange(0, 1)
        self.roc_plot.setYRange(0, 1)
        form.addRow(self.roc_plot)
        layout.addWidget(box)
        box = QGroupBox("Certify (randomized smoothing, Cohen et al. 2019)")
        form = QFormLayout(box)
        self.sigma = _spin(0.25, 0.001, 2.0, 3)
        self.sigma.setObjectName("certify_sigma")
        self.sigma.setToolTip("noise level of the smoothed classifier (fraction of the value range)")
        form.addRow("sigma", self.sigma)
        self.n0 = _spin(100, 1, 100_000, 0)
        self.n0.setObjectName("certify_n0")
        self.n0.setToolTip("samples to guess the class")
        form.addRow("n0", self.n0)
        self.n = _spin(1000, 1, 1_000_000, 0)
        self.n.setObjectName("certify_n")
        self.n.setToolTip("samples to bound the class probability")
        form.addRow("n", self.n)
        self.alpha = _spin(0.001, 0.0001, 0.5, 4)
        self.alpha.setObjectName("certify_alpha")
        self.alpha.setToolTip("failure probability of the certificate")
        form.addRow("alpha", self.alpha)
        row = QHBoxLayout()
        self.certify_button = QPushButton("Certify selection")
        self.certify_button.setObjectName("certify_run")
        self.certify_button.setToolTip("certified L2 radius of each selected (labelled) image")
        self.certify_button.clicked.connect(self.run_certify)
        row.addWidget(self.certify_button)
        self.certify_cancel = QPushButton("Cancel")
        self.certify_cancel.setObjectName("certify_cancel")
        self.certify_cancel.setEnabled(False)
        self.certify_cancel.clicked.connect(lambda: self._cancel("certify"))
        row.addWidget(self.certify_cancel)
        form.addRow(row)
        self.certify_progress = _progress_bar("certify_progress")
        form.addRow(self.certify_progress)
        self.certify_label = _label("certify_result", "")
        form.addRow(self.certify_label)
        self.certify_plot = _plot("certified accuracy", "accuracy", "L2 radius")
        self.certify_plot.setYRange(0, 1)
        form.addRow(self.certify_plot)
        layout.addWidget(box)
        layout.addStretch(1)
        self._update_detector_text()
        return body

    def _update_detector_text(self) -> None:
        last = self.session.last_attack
        if last is None:
            self.detect_button.setEnabled(False)
            self.detect_button.setText("Detector ROC (run an attack first)")
        else:
            self.detect_button.setEnabled(True)
            self.detect_button.setText(f"Detector ROC on the last {last.result.attack} "
                                       f"({len(last.indices)} adversarial(s))")

    def run_detector(self) -> None:
        s = self.session
        last = s.last_attack
        if last is None or s.images is None or s.clf is None:
            s.error.emit("No adversarials", "run an attack first: the detector scores its adversarials", "")
            return
        clean = s.images.x[last.indices]
        adversarial = np.asarray(last.result.x_adv, dtype=np.float32)
        clf, fpr = s.clf, float(self.target_fpr.value())

        def job(progress, cancel) -> Any:
            return tasks.detect(clf, clean, adversarial, fpr, progress=progress, cancel=cancel)

        self.detect_button.setEnabled(False)
        self.jobs["detect"] = s.run_job("detector ROC", job, self._detector_done, error_title="Detector failed",
                                        on_error=lambda *_: self._end("detect"))

    def _end(self, key: str) -> None:
        self.jobs.pop(key, None)
        self._update_detector_text()
        self.certify_button.setEnabled(True)
        self.certify_cancel.setEnabled(False)
        self.compare_button.setEnabled(True)
        self.compare_cancel.setEnabled(False)
        if hasattr(self, "train_button"):
            self.train_button.setEnabled(tasks.training_available())
            self.train_cancel.setEnabled(False)

    def _detector_done(self, report: Any) -> None:
        self._end("detect")
        self.detection = report
        self.roc_plot.clear()
        self.roc_plot.plot([0, 1], [0, 1], pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        self.roc_plot.plot(report.roc_fpr, report.roc_tpr, pen=pg.mkPen("#d64545", width=2))
        self.roc_plot.addItem(pg.InfiniteLine(report.target_fpr, angle=90, pen=pg.mkPen("#4c8bd6")))
        self.detector_label.setText(
            f"AUC {report.auc:.3f} · threshold {report.threshold:.4f} · detection rate "
            f"{report.detection_rate:.1%} at clean FPR {report.clean_fpr:.1%} "
            f"({report.n_clean} clean, {report.n_adversarial} adversarial)")
        self.session.log("info", f"detector: AUC {report.auc:.3f}, detection rate {report.detection_rate:.1%}")
        self.detector_ready.emit()

    def run_certify(self) -> None:
        s = self.session
        indices = np.asarray(sorted(s.selection or ([s.current] if s.current >= 0 else [])), dtype=np.int64)
        if s.clf is None or s.images is None or not len(indices):
            s.error.emit("Nothing to certify", "select labelled images first", "")
            return
        labels = s.images.labels[indices]
        if (labels < 0).any():
            s.error.emit("Nothing to certify", "certification needs labelled images", "")
            return
        x, clf = s.images.x[indices], s.clf
        sigma, n0, n, alpha = float(self.sigma.value()), int(self.n0.value()), int(self.n.value()), \
            float(self.alpha.value())

        def job(progress, cancel) -> Any:
            return tasks.certify(clf, x, labels, sigma, n0, n, alpha, progress=progress, cancel=cancel)

        self.certify_button.setEnabled(False)
        self.certify_cancel.setEnabled(True)
        self.certify_progress.setValue(0)
        s.log("info", f"certify {len(indices)} image(s): sigma {sigma}, n0 {n0}, n {n}, alpha {alpha}")
        self.jobs["certify"] = s.run_job(f"certify {len(indices)} image(s)", job, self._certify_done,
                                         error_title="Certification failed", on_error=lambda *_: self._end("certify"),
                                         on_progress=lambda e: self._bar(self.certify_progress, e))

    @staticmethod
    def _bar(bar: QProgressBar, event: Any) -> None:
        if event.total > 0:
            bar.setValue(int(1000 * event.step / event.total))
            bar.setFormat(f"%p%  {event.message}"[:80])

    def _certify_done(self, result: Any) -> None:
        self._end("certify")
        self.certification = result
        self.certify_progress.setValue(1000 if not result.cancelled else self.certify_progress.value())
        self.certify_progress.setFormat("cancelled" if result.cancelled else "done")
        self.certify_plot.clear()
        self.certify_plot.plot(result.curve_radius, result.curve_certified_accuracy, stepMode=None,
                               pen=pg.mkPen("#2e8b57", width=2), symbol="o", symbolSize=5)
        certified = sum(1 for r, c in zip(result.radii, result.correct, strict=True) if c and r > 0)
        radii = [r for r, c in zip(result.radii, result.correct, strict=True) if c]
        mean = float(np.mean(radii)) if radii else 0.0
        abstained = sum(1 for p in result.predictions if p < 0)
        self.certify_label.setText(
            f"{certified}/{len(result.radii)} certified correct · mean radius {mean:.3f} (L2, pixel units) · "
            f"{abstained} abstained · sigma {result.sigma}")
        self.session.log("info", f"certified {certified}/{len(result.radii)}, mean radius {mean:.3f}")
        self.certify_ready.emit()

    def _cancel(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is not None:
            self.session.runner.cancel(job)

    # ======================================================================================
    # Compare models
    # ======================================================================================
    def _compare_tab(self) -> QWidget:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("models (ticked ones are compared)"))
        self.model_list = QListWidget()
        self.model_list.setObjectName("compare_models")
        self.model_list.setMaximumHeight(100)
        layout.addWidget(self.model_list)
        add = QPushButton("Add model file…")
        add.setObjectName("compare_add")
        add.setToolTip("another model file (same input shape) to compare with")
        add.clicked.connect(self._ask_model_file)
        layout.addWidget(add)
        form = QFormLayout()
        self.compare_attack = QComboBox()
        self.compare_attack.setObjectName("compare_attack")
        form.addRow("attack", self.compare_attack)
        self.compare_eps = QLineEdit("0,0.05,0.1")
        self.compare_eps.setObjectName("compare_eps")
        self.compare_eps.setToolTip("budgets, comma separated; fractions allowed")
        form.addRow("eps", self.compare_eps)
        self.compare_steps = _spin(10, 1, 10_000, 0)
        self.compare_steps.setObjectName("compare_steps")
        form.addRow("steps", self.compare_steps)
        self.compare_scope = QComboBox()
        self.compare_scope.setObjectName("compare_scope")
        self.compare_scope.addItems(["selection", "all shown"])
        self.compare_scope.setCurrentText("all shown")
        self.compare_scope.setToolTip(f"which images (at most {MAX_COMPARE_IMAGES})")
        form.addRow("images", self.compare_scope)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("compare_run")
        self.compare_button.clicked.connect(self.run_compare)
        row.addWidget(self.compare_button)
        self.compare_cancel = QPushButton("Cancel")
        self.compare_cancel.setEnabled(False)
        self.compare_cancel.clicked.connect(lambda: self._cancel("compare"))
        row.addWidget(self.compare_cancel)
        layout.addLayout(row)
        self.compare_progress = _progress_bar("compare_progress")
        layout.addWidget(self.compare_progress)
        self.compare_table = QTableWidget(0, 5)
        self.compare_table.setObjectName("compare_table")
        self.compare_table.setHorizontalHeaderLabels(["model", "clean acc", "robust acc", "ECE", "saliency align"])
        self.compare_table.verticalHeader().hide()
        self.compare_table.setMinimumHeight(110)
        layout.addWidget(self.compare_table)
        self.compare_plot = _plot("robust accuracy vs eps", "accuracy", "eps")
        self.compare_plot.setYRange(0, 1.02)
        self.compare_legend = self.compare_plot.addLegend(offset=(-10, 10))
        layout.addWidget(self.compare_plot, 1)
        return body

    def _fill_attacks(self) -> None:
        current = self.compare_attack.currentData() or "pgd"
        self.compare_attack.clear()
        for name, cls in sorted(self.session.attacks.items(), key=lambda kv: kv[1].title.lower()):
            import dataclasses

            if "eps" in {f.name for f in dataclasses.fields(cls.params_type)}:
                self.compare_attack.addItem(f"{cls.title}  ({name})", name)
        self.compare_attack.setCurrentIndex(max(0, self.compare_attack.findData(current)))
        self._build_train_form()

    def _fill_compare_models(self) -> None:
        s = self.session
        unticked = {self.model_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.model_list.count())
                    if self.model_list.item(i).checkState() == Qt.CheckState.Unchecked}
        self.model_list.clear()
        entries = []
        if s.clf is not None:
            entries.append(("current", "current model" + (f" ({s.defense['text']})" if s.defense else "")))
        if s.base_clf is not None:
            entries.append(("undefended", "undefended model"))
        if self.training is not None:
            entries.append(("trained", f"trained ({self.training[0].config.defense})"))
        entries += [(name, f"{name} (file)") for name in self.model_files]
        for key, text in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if key in unticked else Qt.CheckState.Checked)
            self.model_list.addItem(item)

    def add_model_file(self, path: str) -> None:
        name = Path(path).name
        while name in self.model_files or name in ("current", "undefended", "trained"):
            name += "'"
        self.model_files[name] = str(path)
        self._fill_compare_models()

    def _ask_model_file(self) -> None:
        from advinspect.gui.main_window import MODEL_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Model to compare", "", MODEL_FILTER)
        if path:
            self.add_model_file(path)

    def _compare_indices(self) -> list[int]:
        s = self.session
        if self.compare_scope.currentText() == "all shown" and self.visible_indices is not None:
            chosen = list(self.visible_indices())
        else:
            chosen = list(s.selection or ([s.current] if s.current >= 0 else []))
        return chosen[:MAX_COMPARE_IMAGES]

    def run_compare(self) -> None:
        s = self.session
        try:
            if s.clf is None or s.images is None:
                raise AdvInspectError("open a model and images first")
            indices = np.asarray(sorted(self._compare_indices()), dtype=np.int64)
            if not len(indices) or (s.images.labels[indices] < 0).any():
                raise AdvInspectError("compare needs labelled images: select some (or show some) first")
            eps = parse_eps_list(self.compare_eps.text())
            attack = self.compare_attack.currentData()
            if attack is None:
                raise AdvInspectError("no attack available yet")
            params, _ = tasks.shared_params([s.attacks[attack]], {"steps": self.compare_steps.value()})
        except AdvInspectError as exc:
            s.error.emit("Cannot compare", str(exc), "")
            return
        models, files = {}, {}
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            if item.checkState() != Qt.CheckState.Checked:
                continue
            key = item.data(Qt.ItemDataRole.UserRole)
            if key == "current":
                models[item.text()] = s.clf
            elif key == "undefended":
                models[item.text()] = s.base_clf
            elif key == "trained" and self.training is not None:
                models[item.text()] = self.training[1]
            elif key in self.model_files:
                files[item.text()] = self.model_files[key]
        if not models and not files:
            s.error.emit("Cannot compare", "tick at least one model", "")
            return
        x, labels, device = s.images.x[indices], s.images.labels[indices], s.device

        def job(progress, cancel) -> dict[str, Any]:
            return tasks.compare(models, files, x, labels, attack=attack, eps=eps, params=params, device=device,
                                 progress=progress, cancel=cancel)

        self.compare_button.setEnabled(False)
        self.compare_cancel.setEnabled(True)
        s.log("info", f"compare {', '.join([*models, *files])} with {attack} at eps {list(eps)} "
                      f"on {len(indices)} image(s)")
        self.jobs["compare"] = s.run_job("compare models", job, self._compare_done, error_title="Compare failed",
                                         on_error=lambda *_: self._end("compare"),
                                         on_progress=lambda e: self._bar(self.compare_progress, e))

    def _compare_done(self, report: dict[str, Any]) -> None:
        self._end("compare")
        self.comparison = report
        self.compare_progress.setValue(1000)
        self.compare_progress.setFormat("cancelled" if report.get("cancelled") else "done")
        rows = report["models"]
        self.compare_table.setRowCount(len(rows))
        self.compare_plot.clear()
        self.compare_legend.clear()
        for r, row in enumerate(rows):
            values = [row["model"], f"{row['clean_accuracy']:.1%}",
                      "–" if row["robust_accuracy"] is None else f"{row['robust_accuracy']:.1%}",
                      f"{row['ece']:.4f}", f"{row.get('saliency_alignment', 0.0):.3f}"]
            for c, value in enumerate(values):
                cell = QTableWidgetItem(value)
                cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.compare_table.setItem(r, c, cell)
            color = CURVE_COLORS[r % len(CURVE_COLORS)]
            curve = row["curve"]
            self.compare_plot.plot(curve["eps"], curve["robust_accuracy"], pen=pg.mkPen(color, width=2),
                                   symbol="o", symbolBrush=color, symbolSize=6, name=row["model"])
        self.compare_table.resizeColumnsToContents()
        self.compare_plot.setYRange(0, 1.02)
        self.compare_ready.emit()

    # ======================================================================================
    # Training-time defenses (core.defenses.training, when present)
    # ======================================================================================
    def _train_tab(self) -> QWidget:
        body = QWidget()
        self.train_layout = QVBoxLayout(body)
        self.train_layout.setContentsMargins(4, 4, 4, 4)
        self.train_status = _label("train_status", "")
        self.train_layout.addWidget(self.train_status)
        if not tasks.training_available():
            # The hook: once core/defenses/training.py exists, this tab fills itself in.
            self.train_status.setText("Training-time defenses are not available in this build "
                                      "(advinspect.core.defenses.training is missing).")
        else:
            self.train_status.setText("Retrain the current (PyTorch) model with a training-time defense.")
        self.train_layout.addStretch(1)
        return body

    def _build_train_form(self) -> None:
        """Built once the attack registry is in (torch is loaded by then), never at start-up."""
        if hasattr(self, "train_button") or not tasks.training_available():
            return
        from advinspect.core.defenses.training import DEFENSES

        layout = self.train_layout
        layout.takeAt(layout.count() - 1)  # the stretch; re-added at the end
        form = QFormLayout()
        self.train_defense = QComboBox()
        self.train_defense.setObjectName("train_defense")
        for name, text in DEFENSES.items():
            self.train_defense.addItem(name, name)
            self.train_defense.setItemData(self.train_defense.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        self.train_defense.setCurrentText("pgd")
        form.addRow("defense", self.train_defense)
        self.train_epochs = _spin(3, 1, 10_000, 0)
        self.train_epochs.setObjectName("train_epochs")
        form.addRow("epochs", self.train_epochs)
        self.train_eps = QLineEdit("0.1")
        self.train_eps.setObjectName("train_eps")
        self.train_eps.setToolTip("Linf training budget in the model's value range (adversarial defenses)")
        form.addRow("eps", self.train_eps)
        self.train_data = QComboBox()
        self.train_data.setObjectName("train_data")
        self.train_data.addItems(["demo training digits", "session images (labelled)"])
        self.train_data.setToolTip("what to train on; the demo's training digits are separate from its test images")
        form.addRow("data", self.train_data)
        self.train_limit = _spin(1000, 10, 1_000_000, 0)
        self.train_limit.setObjectName("train_limit")
        self.train_limit.setToolTip("use at most this many training images (keeps a CPU run short)")
        form.addRow("images", self.train_limit)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("train_run")
        self.train_button.clicked.connect(self.run_training)
        row.addWidget(self.train_button)
        self.train_cancel = QPushButton("Cancel")
        self.train_cancel.setObjectName("train_cancel")
        self.train_cancel.setEnabled(False)
        self.train_cancel.clicked.connect(lambda: self._cancel("train"))
        row.addWidget(self.train_cancel)
        self.train_open = QPushButton("Use as model")
        self.train_open.setObjectName("train_open")
        self.train_open.setToolTip("make the trained model the session's model (the images are re-predicted)")
        self.train_open.setEnabled(False)
        self.train_open.clicked.connect(self.open_trained)
        row.addWidget(self.train_open)
        layout.addLayout(row)
        self.train_progress = _progress_bar("train_progress")
        layout.addWidget(self.train_progress)
        self.train_plot = _plot("validation per epoch", "accuracy / loss", "epoch")
        self.train_legend = self.train_plot.addLegend(offset=(-10, 10))
        self.train_curves = {
            "val_clean_accuracy": self.train_plot.plot(pen=pg.mkPen("#4c8bd6", width=2), symbol="o",
                                                       symbolSize=5, name="val clean acc"),
            "val_pgd_accuracy": self.train_plot.plot(pen=pg.mkPen("#d64545", width=2), symbol="o",
                                                     symbolSize=5, name="val PGD acc"),
            "loss": self.train_plot.plot(pen=pg.mkPen("#888888", width=1, style=Qt.PenStyle.DashLine),
                                         name="train loss"),
        }
        layout.addWidget(self.train_plot, 1)
        layout.addStretch(1)

    def run_training(self) -> None:
        s = self.session
        base = self._base()
        try:
            if base is None:
                raise AdvInspectError("open a model first")
            values = {"defense": self.train_defense.currentText(), "epochs": self.train_epochs.value(),
                      "eps": self.train_eps.text().strip() or "0", "device": s.device,
                      "val_attack_size": 100}
            from advinspect.core.defenses.training import TrainingConfig

            TrainingConfig.from_values(values)  # a typo is reported before anything runs
            x = labels = None
            if self.train_data.currentIndex() == 1:
                if s.images is None or not s.images.has_labels:
                    raise AdvInspectError("training on the session's images needs labels (class folders)")
                x, labels = s.images.x, s.images.labels
            elif s.spec is None or tuple(s.spec.input_shape) != (1, 32, 32):
                raise AdvInspectError("the demo digits fit only a 1x32x32 model: train on the session's images")
        except AdvInspectError as exc:
            s.error.emit("Cannot train", str(exc), "")
            return
        limit = int(self.train_limit.value())

        def job(progress, cancel) -> Any:
            return tasks.train(values, base, x, labels, limit, progress=progress, cancel=cancel)

        for curve in self.train_curves.values():
            curve.setData([], [])
        self.train_button.setEnabled(False)
        self.train_cancel.setEnabled(True)
        self.train_open.setEnabled(False)
        s.log("info", f"train {values['defense']} for {values['epochs']} epoch(s), eps {values['eps']}")
        self.jobs["train"] = s.run_job("train defense", job, self._training_done, error_title="Training failed",
                                       on_error=self._training_failed, on_progress=self._training_progress,
                                       previews=True)

    def _training_progress(self, event: Any) -> None:
        self._bar(self.train_progress, event)
        preview = event.preview
        if isinstance(preview, dict) and preview.get("history") is not None:
            self._plot_history(preview["history"])

    def _plot_history(self, history: list[dict[str, Any]]) -> None:
        rows = [h for h in history if h.get("phase") == "train"] or history
        epochs = [float(h["epoch"]) for h in rows]
        for key, curve in self.train_curves.items():
            values = [np.nan if h.get(key) is None else float(h[key]) for h in rows]
            curve.setData(epochs, values, connect="finite")

    def _training_failed(self, error: BaseException, _details: str) -> None:
        self._end("train")
        self.train_status.setText(f"training failed: {error}")
        self.training_finished.emit(None)

    def _training_done(self, outcome: Any) -> None:
        self._end("train")
        result, clf = outcome
        self.training = (result, clf)
        self._plot_history(result.history)
        summary = result.summary()
        best = summary.get("best") or {}
        self.train_progress.setValue(1000)
        self.train_progress.setFormat("cancelled" if result.cancelled else "done")
        text = (f"{result.config.defense}: {summary['epochs_run']} epoch(s) in {result.seconds:.1f} s, best epoch "
                f"{result.best_epoch} (val clean {best.get('val_clean_accuracy') or 0:.1%}, "
                f"PGD {best.get('val_pgd_accuracy') or 0:.1%})")
        if result.notes:
            text += "\n" + "\n".join(result.notes)
        self.train_status.setText(text)
        self.train_open.setEnabled(True)
        self.session.log("info", f"training finished: {text}")
        self._fill_compare_models()
        self.training_finished.emit(result)

    def open_trained(self) -> None:
        if self.training is not None:
            s = self.session
            s.use_classifier(self.training[1], images=s.images)
