"""Poisoning dock: poison a training set (`core.tasks.poison`), train on it and on the clean set,
then sanitize the poisoned set (`core.tasks.sanitize`) with the trained model. Shows the
original | poisoned preview, C-Acc / ASR / RA (and the ratio sweep) and the detection AUC of
every layer; the poisoned model can become the session's model (for the Scan dock).

The training set is the demo digits, the labelled images open in the session, or a folder of
class folders. The user's own sets train a copy of the session's model (its architecture and
spec, starting from its weights, as the Train dock does) and a stratified quarter is held out
for the metrics (`poison.held_out`, as the CLI does without --test)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import poison, sanitize
from advinspect.core.tasks.base import Images
from advinspect.gui.panels._task_panel import TaskPanel
from advinspect.gui.panels.train import train_unavailable
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import plot

DATA = ("demo training digits", "session images (labelled)", "a folder of class folders")
DEMO, SESSION, FOLDER = range(3)


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
        forms.addTab(_scroll(self.form), "poison")
        forms.addTab(_scroll(self.sanitize_form), "sanitize")
        layout.addWidget(forms, 1)
        layout.addLayout(self._data_row())
        self.run_button.setToolTip("poison the chosen training set, train on it and on the clean set, "
                                   "measure C-Acc / ASR / RA on held-out test images")
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

    def _data_row(self) -> QFormLayout:
        rows = QFormLayout()
        self.data = QComboBox()
        self.data.setObjectName("poison_data")
        self.data.addItems(list(DATA))
        self.data.setToolTip("the training set to poison: the demo digits, the labelled images open in the "
                             "session (File → Open Image Folder with class folders), or another folder")
        rows.addRow("training set", self.data)
        folder_row = QHBoxLayout()
        self.folder = QLineEdit()
        self.folder.setObjectName("poison_folder")
        self.folder.setPlaceholderText("folder with one sub-folder per class")
        browse = QPushButton("Browse…")
        browse.setObjectName("poison_browse")
        browse.clicked.connect(self.ask_folder)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        rows.addRow("folder", folder_row)
        self.data.currentIndexChanged.connect(self._on_data)
        self.session.images_changed.connect(self._on_data)
        self._on_data()
        return rows

    def _on_data(self, *_args: Any) -> None:
        """The folder field is for the folder choice; the session choice names its folder."""
        choice = self.data.currentIndex()
        self.folder.setEnabled(choice == FOLDER)
        if choice == SESSION:
            self.folder.setText(", ".join(self.session.sources))

    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training set: a folder of class folders", self.folder.text())
        if folder:
            self.data.setCurrentIndex(FOLDER)
            self.folder.setText(folder)

    # --- poison and train --------------------------------------------------------------------
    def prepare_and_start(self) -> None:
        config = self.form.config()
        job = self._poison_job(config, self.data.currentIndex())
        self.sanitize_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.start(f"poison {config.attack}", job)

    def _poison_job(self, config: poison.Config, choice: int) -> Any:
        """`fn(progress, cancel)` for the chosen set; bad input is refused here, before any work."""
        if choice == DEMO:
            self.session.log("info", f"poison the demo digits: {config}")
            return lambda progress, cancel: poison.run(poison.Inputs(), config, progress=progress, cancel=cancel)
        s = self.session
        base = s.base_clf if s.base_clf is not None else s.clf
        reason = train_unavailable(base)
        if reason is not None:
            raise AdvInspectError(f"training on your own images trains a copy of the session's model: {reason}")
        spec = base.spec
        if choice == SESSION:
            if s.images is None or not s.images.has_labels:
                raise AdvInspectError("the session's images need labels (open a folder of class folders)")
            inputs = poison.held_out(s.images.x, s.images.labels, spec, base, config.seed)
            s.log("info", f"poison the session's images ({', '.join(s.sources)}): {config}")
            return lambda progress, cancel: poison.run(inputs, config, progress=progress, cancel=cancel)
        folder = self.folder.text().strip()
        if not folder:
            raise AdvInspectError("choose the training folder (one sub-folder per class)")
        from pathlib import Path

        if not Path(folder).is_dir():
            raise AdvInspectError(f"{folder} is not a folder")
        s.log("info", f"poison {folder}: {config}")

        def job(progress: Any, cancel: Any) -> poison.Result:
            from advinspect.core.defenses.training import folder_training_set

            x, y, _errors = folder_training_set(folder, spec, cancel=cancel)
            return poison.run(poison.held_out(x, y, spec, base, config.seed), config, progress=progress,
                              cancel=cancel)

        return job

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
