"""Runs dock: every attack, evaluation, defense, certification, detection and training the
session kept (core.runs). Filter, rename (double-click), delete; selecting one run shows its
adversarials in the inspector, its badges in the Images dock and its evaluation plots; selecting
two compares them: their curves on one plot and their per-image agreement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.runs import Run, agreement
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.widgets.plots import CURVE_COLORS, label, plot

RUN_ID = Qt.ItemDataRole.UserRole


def run_curve(run: Run) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The curve that compares runs of this kind: robust accuracy vs eps for an evaluation (its
    first attack), and for an attack the fraction of images still classified correctly as the
    allowed L∞ grows (each image flipped at its own L∞): PGD vs CW read off one axis."""
    curves = run.data.get("curves") if isinstance(run.data, dict) else None
    if curves:
        curve = curves[0]
        eps = np.asarray(curve["eps"], float)
        acc = np.asarray([np.nan if a is None else a for a in curve["robust_accuracy"]], float)
        return "eps", eps, acc
    if "linf" in run.arrays and "status" in run.arrays:
        status = run.arrays["status"].astype(str)
        attacked = status != "not attacked"
        linf = run.arrays["linf"][attacked].astype(float)
        status = status[attacked]
        if not len(status):
            return None
        flipped_at = np.sort(linf[status == "flipped"])
        budgets = np.unique(np.concatenate([[0.0], flipped_at]))
        correct_clean = np.count_nonzero(status != "misclassified")
        acc = [(correct_clean - np.searchsorted(flipped_at, b, side="right")) / len(status) for b in budgets]
        return "L∞ of the perturbation", budgets, np.asarray(acc, float)
    return None


class RunsPanel(Panel):
    object_name = "RunsDock"
    title = "Runs"
    compared = Signal(dict)  # agreement of the two selected runs (tests wait on it)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.filter = QLineEdit()
        self.filter.setObjectName("runs_filter")
        self.filter.setPlaceholderText("filter runs (name, verb, numbers)")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.refresh)
        layout.addWidget(self.filter)
        splitter = QSplitter(Qt.Orientation.Horizontal)  # the dock sits in the wide bottom area
        self.list = QListWidget()
        self.list.setObjectName("runs_list")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setToolTip("select one run to show it; two to compare them; double-click renames")
        self.list.itemSelectionChanged.connect(self._on_selection)
        self.list.itemChanged.connect(self._on_renamed)
        splitter.addWidget(self.list)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        self.details = label("runs_details", "No runs yet: every attack, evaluation, defense … is kept here.")
        lower_layout.addWidget(self.details)
        self.plot = plot("runs compared", "accuracy", "budget")
        self.plot.addLegend(offset=(-10, -10))
        lower_layout.addWidget(self.plot, 1)
        splitter.addWidget(lower)
        splitter.setSizes([260, 640])
        layout.addWidget(splitter, 1)
        row = QHBoxLayout()
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("runs_delete")
        self.delete_button.setToolTip("forget the selected runs")
        self.delete_button.clicked.connect(self.delete_selected)
        row.addWidget(self.delete_button)
        self.show_latest = QPushButton("Show latest attack")
        self.show_latest.setToolTip("the inspector shows each image's latest attack again")
        self.show_latest.clicked.connect(self.list.clearSelection)
        row.addWidget(self.show_latest)
        row.addStretch(1)
        layout.addLayout(row)
        self.setWidget(body)
        self._filling = False
        session.runs_changed.connect(self.refresh)

    # --- list ------------------------------------------------------------------------------
    def refresh(self) -> None:
        selected = set(self.selected_ids())
        self._filling = True
        self.list.clear()
        for run in self.session.runs.matching(self.filter.text()):
            item = QListWidgetItem(f"{run.name}")
            item.setData(RUN_ID, run.id)
            item.setToolTip(f"{run.verb} at {run.when()} on {run.model.get('name', '?')}"
                            + (f", defense {run.defense.get('text')}" if run.defense else "")
                            + ("\n" + "\n".join(run.summary) if run.summary else ""))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
            item.setSelected(run.id in selected)
        self._filling = False
        if selected != set(self.selected_ids()):
            self._on_selection()

    def selected_ids(self) -> list[str]:
        return [item.data(RUN_ID) for item in self.list.selectedItems()]

    def select_ids(self, ids: list[str]) -> None:
        self.list.clearSelection()
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(RUN_ID) in ids:
                item.setSelected(True)

    def selected_runs(self) -> list[Run]:
        return [r for r in (self.session.runs.get(i) for i in self.selected_ids()) if r is not None]

    def delete_selected(self) -> None:
        for run_id in self.selected_ids():
            self.session.remove_run(run_id)

    def _on_renamed(self, item: QListWidgetItem) -> None:
        if not self._filling:
            self.session.runs.rename(item.data(RUN_ID), item.text())

    # --- show and compare -------------------------------------------------------------------
    def _on_selection(self) -> None:
        if self._filling:
            return
        runs = self.selected_runs()
        self.session.select_run(runs[0].id if len(runs) == 1 else None)
        self._draw(runs)
        if len(runs) == 2:
            agree = agreement(*runs)
            self.details.setText(self._compare_text(runs, agree))
            self.compared.emit(agree)
        elif len(runs) == 1:
            run = runs[0]
            head = f"{run.verb} · {run.when()} · model {run.model.get('name', '?')}" + (
                f" · defense {run.defense.get('text')}" if run.defense else "")
            self.details.setText("\n".join([head, *run.summary]))
        else:
            self.details.setText(f"{len(self.session.runs)} run(s); select one to show it, two to compare")

    def _compare_text(self, runs: list[Run], agree: dict[str, Any]) -> str:
        a, b = runs
        n = agree["common"]
        if not n:
            return f"{a.name} and {b.name} share no images"
        differ = ", ".join(str(i) for i in agree["differ"][:12]) + ("…" if len(agree["differ"]) > 12 else "")
        return (f"{a.name}  vs  {b.name}: {n} image(s) in common; same adversarial prediction on "
                f"{agree['same_prediction']}/{n}, same status on {agree['same_status']}/{n}"
                + (f"; they differ on images {differ}" if agree["differ"] else ""))

    def _draw(self, runs: list[Run]) -> None:
        self.plot.clear()
        legend = self.plot.plotItem.legend
        if legend is not None:
            legend.clear()
        axis = None
        for k, run in enumerate(runs[:6]):
            curve = run_curve(run)
            if curve is None:
                continue
            axis, x, y = curve
            pen = pg.mkPen(CURVE_COLORS[k % len(CURVE_COLORS)], width=2)
            step = axis != "eps"
            self.plot.plot(x, y, pen=pen, name=run.name, symbol=None if step else "o", symbolSize=6,
                           stepMode=None, connect="finite")
        self.plot.setLabel("bottom", axis or "budget")
        names = " vs ".join(r.name for r in runs[:2])
        self.plot.setTitle(f"robust accuracy: {names}" if runs else "runs compared")
