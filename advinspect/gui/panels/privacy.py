"""Privacy dock: the three exploratory attacks (`membership`, `extract`, `invert`) as tabs, each
form generated from its verb's Config, one run/cancel/progress row (live progress of the
reference-model training and the query budget), and the result drawn in its tab: the ROC on
log-log axes, fidelity against the query budget, the grid of reconstructions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import extract, invert, membership
from advinspect.gui.panels._task_panel import TaskPanel, chosen_images
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import CURVE_COLORS, plot

VERBS = ("membership", "extract", "invert")


class PathField(QWidget):
    """A line edit with a Browse button: a folder or a file."""

    def __init__(self, name: str, placeholder: str, *, folder: bool = True) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setObjectName(name)
        self.edit.setPlaceholderText(placeholder)
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(lambda: self._browse(folder))
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def _browse(self, folder: bool) -> None:
        path = QFileDialog.getExistingDirectory(self) if folder else QFileDialog.getOpenFileName(self)[0]
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802  (Qt naming)
        self.edit.setText(text)


class PrivacyPanel(TaskPanel):
    object_name = "PrivacyDock"
    title = "Privacy"
    verb = "privacy"
    run_text = "Run"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("privacy_tabs")
        self.forms: dict[str, ParamForm] = {}
        self.members = PathField("privacy_members", "members: the model's training images (class folders)")
        self.non_members = PathField("privacy_non_members", "non-members: held-out images (class folders)")
        self.roc = plot("ROC (log-log)", "true positive rate", "false positive rate")
        self.roc.setLogMode(x=True, y=True)
        self.roc.addLegend(offset=(-5, -5))
        self._add_tab("membership", membership.Config, [("members", self.members), ("non-members", self.non_members)],
                      self.roc)
        self.pool = PathField("privacy_pool", "query pool folder (empty: uniform noise)")
        self.fidelity = plot("fidelity per budget (test set: the session's images)", "rate", "queries")
        self.fidelity.setLogMode(x=True, y=False)
        self.fidelity.setYRange(0, 1)
        self.fidelity.addLegend(offset=(-5, -5))
        self._add_tab("extract", extract.Config, [("pool", self.pool)], self.fidelity)
        self.check_model = PathField("privacy_check_model", "second model to classify the reconstructions",
                                     folder=False)
        self.grid_view = pg.PlotWidget()
        self.grid_view.setAspectLocked(True)
        self.grid_view.hideAxis("left")
        self.grid_view.hideAxis("bottom")
        self.grid_view.setMinimumHeight(150)
        self.grid_image = pg.ImageItem(axisOrder="row-major")
        self.grid_view.addItem(self.grid_image)
        self.grid_view.invertY(True)
        self._add_tab("invert", invert.Config, [("check model", self.check_model)], self.grid_view)
        layout.addWidget(self.tabs, 1)
        self.run_button.setToolTip("run the attack of the chosen tab on the session's model")
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.setWidget(body)

    def _add_tab(self, verb: str, config_type: type, fields: list[tuple[str, QWidget]], view: QWidget) -> None:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(2, 2, 2, 2)
        rows = QFormLayout()
        for name, widget in fields:
            rows.addRow(name, widget)
        column.addLayout(rows)
        form = ParamForm()
        form.set_params_type(config_type)
        self.forms[verb] = form
        column.addWidget(form)
        column.addWidget(view, 1)
        self.tabs.addTab(page, verb)

    @property
    def current_verb(self) -> str:
        return VERBS[self.tabs.currentIndex()]

    def show_verb(self, verb: str) -> None:
        self.tabs.setCurrentIndex(VERBS.index(verb))

    # --- running ---------------------------------------------------------------------------
    def prepare_and_start(self) -> None:
        verb = self.current_verb
        config = self.forms[verb].config()
        clf = self.session.clf
        if clf is None:
            raise AdvInspectError("open a model first")
        if verb == "membership":
            paths = self.members.text(), self.non_members.text()
            if not all(paths):
                raise AdvInspectError("membership needs a members folder and a non-members folder")

            def job(progress: Any, cancel: Any) -> Any:
                members, non_members = (_load_folder(clf, p) for p in paths)
                return membership.run(membership.Inputs(clf, members, non_members), config, progress=progress,
                                      cancel=cancel)
        elif verb == "extract":
            pool_path = self.pool.text()
            test = chosen_images(self, "all", "extract", labelled=False)

            def job(progress: Any, cancel: Any) -> Any:
                pool = _load_folder(clf, pool_path) if pool_path else None
                return extract.run(extract.Inputs(clf, pool, test), config, progress=progress, cancel=cancel)
        else:
            check_path = self.check_model.text()
            device = self.session.device

            def job(progress: Any, cancel: Any) -> Any:
                from advinspect.core.models import load_model

                check = load_model(check_path, device=device) if check_path else None
                return invert.run(invert.Inputs(clf, check), config, progress=progress, cancel=cancel)
        self.session.log("info", f"{verb}: {config}")
        self.start(verb, job)

    def on_result(self, result: Any) -> None:
        if isinstance(result, membership.Result):
            self._draw_roc(result)
        elif isinstance(result, extract.Result):
            self._draw_fidelity(result)
        elif isinstance(result, invert.Result):
            self._draw_grid(result)

    def _draw_roc(self, result: membership.Result) -> None:
        self.roc.clear()
        floor = 1.0 / max(2 * len(result.non_members), 10)
        for i, (name, m) in enumerate(result.metrics.items()):
            fpr, tpr = np.maximum(m.fpr, floor), np.maximum(m.tpr, floor)
            self.roc.plot(fpr, tpr, pen=pg.mkPen(CURVE_COLORS[i % len(CURVE_COLORS)], width=2),
                          name=f"{name} AUC {m.auc:.3f}", stepMode=None)
        self.roc.plot([floor, 1.0], [floor, 1.0], pen=pg.mkPen("#888", style=pg.QtCore.Qt.PenStyle.DashLine))

    def _draw_fidelity(self, result: extract.Result) -> None:
        self.fidelity.clear()
        queries = [r["queries"] for r in result.rows]
        for i, key in enumerate(("fidelity", "accuracy")):
            values = [r[key] for r in result.rows]
            if queries and all(v is not None for v in values):
                self.fidelity.plot(queries, values, pen=pg.mkPen(CURVE_COLORS[i], width=2), symbol="o",
                                   symbolSize=6, name=key)

    def _draw_grid(self, result: invert.Result) -> None:
        from advinspect.core.report.sections import image_grid

        x = result.inversion.images
        lo, hi = self.session.clf.spec.value_range if self.session.clf is not None else (0.0, 1.0)
        grid = image_grid((x - lo) / max(hi - lo, 1e-12), columns=min(10, len(x)))
        self.grid_image.setImage(grid[..., 0] if grid.shape[-1] == 1 else grid, levels=(0.0, 1.0))


def _load_folder(clf: Any, path: str) -> Any:
    """The images of a folder (class folders give labels) fitted to the model, as core Images."""
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.tasks.base import Images

    items = collect_images([Path(path)], clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {path}")
    return Images.from_batch(load_images(items, clf.spec))
