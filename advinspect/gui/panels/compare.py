"""Compare dock: several models on the chosen labelled images (`core.tasks.compare`): the
session's model, the undefended one, a trained one, model files. Form from `compare.Config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import compare
from advinspect.gui.dialogs import MODEL_FILTER
from advinspect.gui.panels._task_panel import SCOPES, TaskPanel, chosen_images
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import CURVE_COLORS, plot

MAX_COMPARE_IMAGES = 200


class ComparePanel(TaskPanel):
    object_name = "CompareDock"
    title = "Compare"
    verb = "compare"
    run_text = "Compare"
    models_changed = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.visible_indices: Any = None  # callable giving the images shown (set by the window)
        self.model_files: dict[str, str] = {}  # name -> model file
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
        self.form = ParamForm()
        self.form.set_params_type(compare.Config)
        layout.addWidget(self.form)
        self.scope = QComboBox()
        self.scope.setObjectName("compare_scope")
        self.scope.addItems(list(SCOPES))
        self.scope.setCurrentText("all shown")
        self.scope.setToolTip(f"which images (at most {MAX_COMPARE_IMAGES})")
        layout.addWidget(self.scope)
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("compare_table")
        self.table.setHorizontalHeaderLabels(["model", "clean acc", "robust acc", "ECE", "saliency align"])
        self.table.verticalHeader().hide()
        self.table.setMinimumHeight(110)
        layout.addWidget(self.table)
        self.plot = plot("robust accuracy vs eps", "accuracy", "eps")
        self.plot.setYRange(0, 1.02)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        layout.addWidget(self.plot, 1)
        self.setWidget(body)
        session.attacks_changed.connect(self._fill_attacks)
        session.model_changed.connect(self.fill_models)
        session.defense_changed.connect(self.fill_models)
        session.models_changed.connect(self.fill_models)

    def _fill_attacks(self) -> None:
        import dataclasses

        names = sorted(n for n, cls in self.session.attacks.items()
                       if "eps" in {f.name for f in dataclasses.fields(cls.params_type)})
        self.form.set_params_type(compare.Config, self.form.values(), choices={"attack": names})

    def add_model_file(self, path: str) -> None:
        name = Path(path).name
        while name in self.model_files or name in ("current", "undefended", *self.session.models):
            name += "'"
        self.model_files[name] = str(path)
        self.fill_models()

    def _ask_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model to compare", "", MODEL_FILTER)
        if path:
            self.add_model_file(path)

    def fill_models(self) -> None:
        s = self.session
        unticked = {self.model_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.model_list.count())
                    if self.model_list.item(i).checkState() == Qt.CheckState.Unchecked}
        self.model_list.clear()
        entries = []
        if s.clf is not None:
            entries.append(("current", "current model" + (f" ({s.defense['text']})" if s.defense else "")))
        if s.base_clf is not None:
            entries.append(("undefended", "undefended model"))
        entries += [(name, name) for name in self.session.models]
        entries += [(name, f"{name} (file)") for name in self.model_files]
        for key, text in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if key in unticked else Qt.CheckState.Checked)
            self.model_list.addItem(item)
        self.models_changed.emit()

    def prepare_and_start(self) -> None:
        s = self.session
        config = self.form.config()
        images = chosen_images(self, self.scope.currentText(), "compare", limit=MAX_COMPARE_IMAGES)
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
            elif key in self.session.models:
                models[item.text()] = self.session.models[key]
            elif key in self.model_files:
                files[item.text()] = self.model_files[key]
        if not models and not files:
            raise AdvInspectError("tick at least one model")
        device = s.device

        def job(progress, cancel) -> Any:
            from advinspect.core.tasks import open as open_task

            everything = dict(models)
            for name, path in files.items():
                opened = open_task.run(open_task.Inputs(Path(path)), open_task.Config(device=device),
                                       progress=progress, cancel=cancel)
                everything[name] = opened.clf
            return compare.run(compare.Inputs(everything, images), config, progress=progress, cancel=cancel)

        s.log("info", f"compare {', '.join([*models, *files])} with {config.attack} at eps {list(config.eps)} "
                      f"on {len(images)} image(s)")
        self.start("compare models", job)

    def on_result(self, result: Any) -> None:
        rows = result.data["models"]
        self.table.setRowCount(len(rows))
        self.plot.clear()
        self.legend.clear()
        for r, row in enumerate(rows):
            values = [row["model"], f"{row['clean_accuracy']:.1%}",
                      "–" if row["robust_accuracy"] is None else f"{row['robust_accuracy']:.1%}",
                      f"{row['ece']:.4f}", f"{row.get('saliency_alignment', 0.0):.3f}"]
            for c, value in enumerate(values):
                cell = QTableWidgetItem(value)
                cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(r, c, cell)
            color = CURVE_COLORS[r % len(CURVE_COLORS)]
            curve = row["curve"]
            self.plot.plot(curve["eps"], curve["robust_accuracy"], pen=pg.mkPen(color, width=2),
                           symbol="o", symbolBrush=color, symbolSize=6, name=row["model"])
        self.table.resizeColumnsToContents()
        self.plot.setYRange(0, 1.02)
