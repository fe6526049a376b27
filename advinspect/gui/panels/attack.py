"""Attack dock: choose an attack, edit its generated form, run / cancel, progress with ETA and a
live plot of loss and true-class confidence per iteration."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm

SCOPES = ("selection", "all shown", "all")


def format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.0f} s left"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s left"


def trace_value_key(trace: list[dict[str, float | None]]) -> str | None:
    """The per-iteration value to plot above the confidence: the loss, else a margin (minimal-norm
    attacks), else None when the attack recorded neither (then the plot says so)."""
    for key in ("loss", "margin"):
        if any(t.get(key) is not None and np.isfinite(float(t[key])) for t in trace):
            return key
    return None


class AttackPanel(Panel):
    object_name = "AttackDock"
    title = "Attack"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.saved: dict[str, dict[str, Any]] = {}  # last values per attack (persisted by the window)
        self.visible_indices: Any = None  # callable giving the images shown (set by the window)
        self._current_name: str | None = None
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.attack_box = QComboBox()
        self.attack_box.setObjectName("attack_choice")
        self.attack_box.setToolTip("attacks from the registry; new ones appear here automatically")
        self.attack_box.currentIndexChanged.connect(self._on_attack_changed)
        layout.addWidget(self.attack_box)
        self.description = QLabel("Loading attacks…")
        self.description.setWordWrap(True)
        self.description.setObjectName("attack_description")
        layout.addWidget(self.description)
        self.form = ParamForm()
        self.form.changed.connect(self.validate)
        layout.addWidget(self.form)
        self.form_warning = QLabel("")
        self.form_warning.setObjectName("attack_form_warning")
        self.form_warning.setWordWrap(True)
        self.form_warning.setStyleSheet("color: #b9770e")
        self.form_warning.hide()
        layout.addWidget(self.form_warning)
        layout.addLayout(self._run_options())
        layout.addLayout(self._buttons())
        self.progress = QProgressBar()
        self.progress.setObjectName("attack_progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        layout.addWidget(self.progress)
        self.eta = QLabel(" ")
        self.eta.setObjectName("attack_eta")
        layout.addWidget(self.eta)
        self.status = QLabel("")
        self.status.setObjectName("attack_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        layout.addWidget(self._plots(), 1)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self._pending_progress: tuple[int, str, str] | None = None
        self.trace_x: list[float] = []
        self.trace_loss: list[float] = []
        self.trace_conf: list[float] = []
        session.attacks_changed.connect(self._fill_attacks)
        session.model_changed.connect(self._fill_targets)
        session.model_changed.connect(lambda: self.validate())
        session.progress.connect(self._on_progress)
        session.trace_reset.connect(self._reset_trace)
        session.trace_point.connect(self._add_point)
        session.trace_final.connect(self._final_trace)
        session.run_selected.connect(self._show_run_trace)
        session.attack_started.connect(lambda _name: self._set_running(True))
        session.attack_finished.connect(self._on_finished)
        session.selection_changed.connect(self._update_scope_text)
        session.busy_changed.connect(lambda _busy: self._update_run_enabled())
        self._set_running(False)

    # --- construction ----------------------------------------------------------------------
    def _run_options(self) -> QFormLayout:
        form = QFormLayout()
        self.target_box = QComboBox()
        self.target_box.setObjectName("attack_target")
        self.target_box.addItem("untargeted", None)
        self.target_box.setToolTip("untargeted: any wrong class counts; or push every image to one class")
        form.addRow("target", self.target_box)
        self.seed = QSpinBox()
        self.seed.setObjectName("attack_seed")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("random seed: the same seed gives the same result")
        form.addRow("seed", self.seed)
        self.scope = QComboBox()
        self.scope.setObjectName("attack_scope")
        self.scope.addItems(list(SCOPES))
        self.scope.setToolTip("which images to attack: the images selected in the Images dock "
                              "(Ctrl/Shift-click for several), those the filter shows, or all")
        form.addRow("images", self.scope)
        return form

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.run_button = QPushButton("Run  (Ctrl+R)")
        self.run_button.setObjectName("attack_run")
        self.run_button.clicked.connect(self.run)
        row.addWidget(self.run_button)
        self.cancel_button = QPushButton("Cancel  (Esc)")
        self.cancel_button.setObjectName("attack_cancel")
        self.cancel_button.clicked.connect(self.session.cancel)
        row.addWidget(self.cancel_button)
        self.reset_button = QPushButton("Defaults")
        self.reset_button.setToolTip("reset the parameters to the attack's defaults")
        self.reset_button.clicked.connect(self.form.reset)
        row.addWidget(self.reset_button)
        return row

    def _plots(self) -> pg.GraphicsLayoutWidget:
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(180)
        self.loss_plot = self.plots.addPlot(row=0, col=0)
        self.loss_plot.setLabel("left", "loss (mean)")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.conf_plot = self.plots.addPlot(row=1, col=0)
        self.conf_plot.setLabel("left", "true-class conf.")
        self.conf_plot.setLabel("bottom", "iteration")
        self.conf_plot.setYRange(0, 1)
        self.conf_plot.showGrid(x=True, y=True, alpha=0.2)
        self.conf_plot.setXLink(self.loss_plot)
        for plot in (self.loss_plot, self.conf_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)  # plain values, never "(x0.001)"
        self.conf_plot.setToolTip("mean over the images still being attacked at each iteration: "
                                  "images that flipped early leave the average")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#e8743b", width=2))
        self.conf_curve = self.conf_plot.plot(pen=pg.mkPen("#4c8bd6", width=2))
        self._redraw = QTimer(self)  # live points and progress: at most ten redraws a second
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(100)
        self._redraw.timeout.connect(self._draw)
        return self.plots

    # --- attacks and targets ---------------------------------------------------------------
    def _fill_attacks(self) -> None:
        wanted = self._current_name or self.saved.get("_attack", {}).get("name", "fgsm")
        self.attack_box.blockSignals(True)
        self.attack_box.clear()
        for name, cls in sorted(self.session.attacks.items(), key=lambda kv: kv[1].title.lower()):
            self.attack_box.addItem(f"{cls.title}  ({name})", name)
        self.attack_box.blockSignals(False)
        index = self.attack_box.findData(wanted)
        self.attack_box.setCurrentIndex(max(0, index))
        self._on_attack_changed()

    def _fill_targets(self) -> None:
        current = self.target_box.currentData()
        self.target_box.clear()
        self.target_box.addItem("untargeted", None)
        if self.session.clf is not None:
            for i, label in enumerate(self.session.clf.spec.labels or ()):
                self.target_box.addItem(f"class {label}", i)
        index = self.target_box.findData(current)
        self.target_box.setCurrentIndex(max(0, index))

    def attack_name(self) -> str | None:
        return self.attack_box.currentData()

    def select_attack(self, name: str) -> None:
        index = self.attack_box.findData(name)
        if index < 0:
            raise KeyError(name)
        self.attack_box.setCurrentIndex(index)

    def _on_attack_changed(self, *_: object) -> None:
        if self._current_name is not None and self.form.params_type is not None:
            self.saved[self._current_name] = self.form.values()
        name = self.attack_name()
        self._current_name = name
        if name is None:
            return
        cls = self.session.attacks[name]
        self.form.set_params_type(cls.params_type, self.saved.get(name))
        doc = inspect.getdoc(cls) or cls.title
        grads = "needs gradients" if cls.needs_gradients else "black-box (logits only)"
        has_norm = any(f.name == "norm" for f in dataclasses.fields(cls.params_type))
        norm = "chosen below" if has_norm else cls.default_norm
        self.description.setText(f"{doc}\n[{grads}; norm {norm}]")
        self.description.setToolTip(doc)
        targeted = cls.supports_targeted and not getattr(cls, "always_targeted", False)
        self.target_box.setEnabled(targeted)
        if not targeted:
            self.target_box.setCurrentIndex(0)
        self.validate()
        self._update_run_enabled()

    def _field_at_fault(self) -> str | None:
        """The first field whose value alone fails (the parser's message may not name it)."""
        from advinspect.core.errors import AdvInspectError
        from advinspect.core.params import build_params

        values = self.form.values()
        for name in self.form.field_names():
            try:
                build_params(self.form.params_type, {name: values[name]})
            except AdvInspectError:
                return name
        return None

    def validate(self) -> str:
        """Inline check as the user types: the field at fault is outlined with the reason, and an
        eps larger than the model's whole value range is flagged (a budget in 0–255 units on a
        0–1 model changes every pixel to anything). Returns the text shown ("" when all is fine)."""
        from advinspect.core.errors import AdvInspectError

        if self.form.params_type is None:
            return ""
        message = ""
        try:
            params = self.form.params()
            self.form.mark_invalid(None)
        except AdvInspectError as exc:
            named = self._field_at_fault()
            message = f"{named}: {exc}" if named and not str(exc).startswith(named) else str(exc)
            self.form.mark_invalid(named, message)
            params = None
        eps = getattr(params, "eps", None)
        norm = str(getattr(params, "norm", "linf"))
        lo, hi = self.session.value_range
        if isinstance(eps, (int, float)) and norm == "linf" and eps > hi - lo:
            message = (f"eps {eps:g} exceeds the model's value range {lo:g}–{hi:g}: every pixel may change "
                       f"to anything (did you mean {eps / 255:.4g}, i.e. {eps:g}/255?)")
        self.form_warning.setText(message)
        self.form_warning.setVisible(bool(message))
        return message

    def state(self) -> dict[str, Any]:
        """Last values per attack and the chosen attack, for QSettings."""
        if self._current_name is not None and self.form.params_type is not None:
            self.saved[self._current_name] = self.form.values()
        state = dict(self.saved)
        # the image scope is not kept: a remembered "all" made the next Ctrl+R start CW on every image
        state["_attack"] = {"name": self._current_name, "seed": self.seed.value()}
        return state

    def restore(self, state: dict[str, Any]) -> None:
        self.saved = {k: v for k, v in state.items() if isinstance(v, dict)}
        extra = self.saved.get("_attack", {})
        self.seed.setValue(int(extra.get("seed", 0) or 0))
        self.scope.setCurrentIndex(0)  # always the selection at start
        if self.session.attacks:
            self._current_name = None
            self._fill_attacks()

    # --- running ---------------------------------------------------------------------------
    def chosen_indices(self) -> list[int] | None:
        scope = self.scope.currentText()
        if scope == "all":
            return list(range(self.session.count))
        if scope == "all shown" and self.visible_indices is not None:
            return list(self.visible_indices())
        return None  # the session's selection (or the current image)

    def run(self) -> None:
        """Run the chosen attack on the chosen images (Ctrl+R)."""
        name = self.attack_name()
        if name is None or self.running:
            return
        try:
            values = self.form.values()
            self.form.params()  # validate here so a typo is reported before anything runs
        except AdvInspectError as exc:
            self.session.error.emit("Invalid parameters", str(exc), "")
            return
        self.saved[name] = values
        self.session.run_attack(name, values, self.chosen_indices(), target=self.target_box.currentData(),
                                seed=self.seed.value())

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")
            self.eta.setText(" ")
        self._update_run_enabled()

    def _update_run_enabled(self) -> None:
        ok = self.attack_name() is not None and not self.session.busy and self.session.count > 0
        self.run_button.setEnabled(ok and not getattr(self, "running", False))

    def _update_scope_text(self, selection: list[int]) -> None:
        self.scope.setItemText(0, f"selection ({max(1, len(selection))})")

    def _on_progress(self, step: int, total: int, message: str, eta: float) -> None:
        if not self.running or total <= 0:
            return
        self._pending_progress = (int(1000 * step / total), f"%p%  {message}", format_eta(eta))
        if not self._redraw.isActive():
            self._redraw.start()

    def _on_finished(self, outcome: Any) -> None:
        self._set_running(False)
        self._pending_progress = None
        if outcome is None:
            self.progress.setFormat("failed")
            self.eta.setText(" ")
            return
        r = outcome.attack
        summary = outcome.summary()
        self.progress.setValue(1000 if not r.cancelled else self.progress.value())
        state = "cancelled" if r.cancelled else "done"
        self.progress.setFormat(f"{state}: {summary['flipped']}/{r.n} flipped, {summary['misclassified']} "
                                "misclassified before")
        self.eta.setText(f"{r.seconds:.2f} s on {r.device}")
        self.status.setText("\n".join(outcome.summary_text()))  # the lines `advinspect attack` prints

    # --- trace plot ------------------------------------------------------------------------
    def _reset_trace(self, title: str, steps: int) -> None:
        self.trace_x, self.trace_loss, self.trace_conf = [], [], []
        heading = f"{title}: loss per iteration"
        if self.loss_plot.titleLabel.text != heading:  # a new title re-lays out the whole plot
            self.loss_plot.setTitle(heading)
        self.loss_plot.setXRange(0, max(1, steps), padding=0.05)
        self.loss_plot.enableAutoRange(axis="y")
        self._draw()

    def _add_point(self, iteration: float, loss: float, confidence: float) -> None:
        self.trace_x.append(iteration)
        self.trace_loss.append(loss)
        self.trace_conf.append(confidence)
        if not self._redraw.isActive():
            self._redraw.start()

    def _show_run_trace(self, run: Any) -> None:
        """A selected attack run shows its own loss and confidence curves (not the last run's)."""
        if run is None or run.verb != "attack" or not run.data.get("trace") or self.running:
            return
        trace = run.data["trace"]
        self._reset_trace(run.name, int(max(t.get("step") or 0 for t in trace)))
        self._final_trace(trace)

    def _final_trace(self, trace: list[dict[str, float]]) -> None:
        """The engine's exact per-step trace replaces the sampled live points."""
        if not trace:
            return
        self.trace_x = [float(t.get("step", i + 1)) for i, t in enumerate(trace)]
        key = trace_value_key(trace)
        self.trace_loss = [np.nan if t.get(key) is None else float(t[key]) for t in trace] if key else \
            [np.nan] * len(trace)
        self.trace_conf = [np.nan if t.get("confidence") is None else float(t["confidence"]) for t in trace]
        heading = self.loss_plot.titleLabel.text.split(":")[0]
        if key is None:  # e.g. DeepFool records no loss: say so instead of an empty plot
            self.loss_plot.setTitle(f"{heading}: no loss recorded (see the confidence below)")
        else:
            self.loss_plot.setTitle(f"{heading}: {key} per iteration (mean over images still attacked)")
        self.loss_plot.setLabel("left", f"{key or 'loss'} (mean)")
        self._draw()

    def _draw(self) -> None:
        if self._pending_progress is not None and self.running:
            value, text, eta = self._pending_progress
            self.progress.setValue(value)
            self.progress.setFormat(text)
            self.eta.setText(eta)
        self._pending_progress = None
        symbol = "o" if len(self.trace_x) <= 3 else None  # FGSM's single point stays visible
        self.loss_curve.setSymbol(symbol)
        self.conf_curve.setSymbol(symbol)
        x = np.asarray(self.trace_x, dtype=float)
        finite = [v for v in self.trace_loss if np.isfinite(v)]
        if len(finite) == 1:  # autorange around a single point is meaningless: centre it
            half = max(abs(finite[0]) * 0.5, 1e-3)
            self.loss_plot.setYRange(finite[0] - half, finite[0] + half, padding=0)
        elif len(finite) > 1:
            self.loss_plot.enableAutoRange(axis="y")
        self.loss_curve.setData(x, np.asarray(self.trace_loss, dtype=float), connect="finite")
        self.conf_curve.setData(x, np.asarray(self.trace_conf, dtype=float), connect="finite")
