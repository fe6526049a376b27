"""The result docks of `evaluate`: Robustness (accuracy vs eps), Histograms (confidence) and
Calibration (reliability before/after temperature scaling and under attack, confusion matrices).
They observe the session's evaluation and never re-run the model: an in-memory
`core.tasks.evaluate.Result`, a streamed one (`evaluate.Streamed`) or one rebuilt from an imported
evaluation.json (`Result.from_data`) all reach the plots as one Result (`evaluate.plotted`), so
there is one drawing path whatever made the evaluation.

Linking: clicking a histogram bin, a reliability bin or a confusion cell sets the Session's
custom filter to the images in it, and the Images dock shows just those. Samples are matched to
the session's images by global index and file name; samples whose files are not open are
counted in the dock's status line, never replaced by other images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from advinspect.core.tasks import evaluate
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.widgets.plots import CURVE_COLORS
from advinspect.gui.widgets.plots import plot as _make_plot

NO_SCALED = ("the after-T bars are the file's own numbers; which images they hold needs each sample's logits, "
             "which an evaluation.json does not keep")
COLORS = {"clean": "#4c8bd6", "adversarial": "#d64545", "correct": "#2e8b57", "wrong": "#e8743b",
          "after": "#2e8b57"}


def histogram_bin(confidence: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per value, as np.histogram counts them (half-open, the last bin closed)."""
    return np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, len(edges) - 2)


def reliability_bin(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index per value, as core reliability_bins counts them ((lower, upper], the first with 0)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)


def session_positions(index: np.ndarray, names: list[str], images: Any) -> np.ndarray:
    """Where each evaluated sample sits among the session's `images` (-1: not open): the image
    with the same global index and file name, else the only image with that file name (the same
    files opened in another order or with other folders)."""
    found = np.full(len(index), -1, dtype=np.int64)
    if images is None or not len(images):
        return found
    by_key = {(int(i), n): p for p, (i, n) in enumerate(zip(np.asarray(images.index).tolist(), images.names,
                                                             strict=True))}
    by_name: dict[str, int] = {}
    for p, n in enumerate(images.names):
        by_name[n] = -1 if n in by_name else p  # a name held twice identifies nothing
    for k, (i, n) in enumerate(zip(np.asarray(index).tolist(), names, strict=True)):
        found[k] = by_key.get((int(i), n), by_name.get(n, -1))
    return found


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    return _make_plot(title, left, bottom, min_height=140)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


class _ResultPanel(Panel):
    """A dock that redraws from the session's evaluation and links clicks to the Images dock."""

    filtered = Signal(str)  # the label of the custom filter a click set (tests wait on it)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.link_status = QLabel("", self)  # parented: never a stray top-level widget
        self.link_status.setObjectName(f"{self.object_name}_link_status")
        self.link_status.setWordWrap(True)
        self.link_status.hide()
        self._located: tuple[Any, Any, np.ndarray] | None = None  # (outcome, images, session positions)
        session.evaluation_changed.connect(self._refresh)

    @property
    def outcome(self) -> evaluate.Result | None:
        """The session's evaluation as the Result the plots read (None before an evaluation)."""
        return evaluate.plotted(self.session.evaluation)

    def _refresh(self) -> None:
        self.say("")
        self.refresh()

    def _wrap(self, body: QWidget) -> QWidget:
        """`body` with the status line under it (what a click could not show)."""
        outer = QWidget()
        layout = QVBoxLayout(outer)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(body, 1)
        layout.addWidget(self.link_status)
        return outer

    def say(self, text: str) -> None:
        self.link_status.setText(text)
        self.link_status.setVisible(bool(text))
        if text:
            self.session.log("warning", text)

    def positions_in_session(self) -> np.ndarray:
        """Session image index of each evaluated sample (-1 where its file is not open)."""
        o, images = self.outcome, self.session.images
        assert o is not None
        if self._located is None or self._located[0] is not o or self._located[1] is not images:
            self._located = (o, images, session_positions(o.index, o.names or [], images))
        return self._located[2]

    def _filter(self, label: str, positions: np.ndarray) -> list[int]:
        """Positions in the evaluated set -> session image indices; set them as the filter. The
        samples whose files are not open are named in the status line, not guessed."""
        where = self.positions_in_session()[np.asarray(positions, dtype=np.int64)]
        indices = where[where >= 0].tolist()
        missing = len(where) - len(indices)
        if missing:
            self.say(f"{label}: {missing} of {len(where)} image(s) are not open in this session (the evaluation "
                     f"was made on other files){'; showing the others' if indices else ''}")
            if not indices:
                return []
        else:
            self.say("")
        self.session.set_custom_filter(label, indices)
        self.filtered.emit(label)
        return indices

    def refresh(self) -> None:
        raise NotImplementedError


class RobustnessPanel(_ResultPanel):
    object_name = "RobustnessDock"
    title = "Robustness"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot = _plot("robust accuracy vs eps", "accuracy", "eps")
        self.plot.setYRange(0, 1.02)
        self.legend = self.plot.addLegend(offset=(10, -10))  # bottom left: the curves fall away from it
        layout.addWidget(self.plot, 1)
        self.caption = QLabel("run an evaluation (Evaluate dock) to see the curves")
        self.caption.setObjectName("robustness_caption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        layout.addWidget(self.link_status)
        self.setWidget(body)
        self.curves: dict[str, pg.PlotDataItem] = {}

    def refresh(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.curves = {}
        if self.outcome is None:
            self.caption.setText("run an evaluation (Evaluate dock) to see the curves")
            return
        data = self.outcome.evaluation.data
        clean = float(data["clean_accuracy"])
        line = pg.InfiniteLine(clean, angle=0, pen=pg.mkPen("#888888", width=1, style=Qt.PenStyle.DashLine),
                               label=f"clean {_percent(clean)}", labelOpts={"position": 0.9})
        self.plot.addItem(line)
        texts = [f"clean {_percent(clean)}"]
        for i, curve in enumerate(data["curves"]):
            color = CURVE_COLORS[i % len(CURVE_COLORS)]
            eps, acc = np.asarray(curve["eps"], float), np.asarray(curve["robust_accuracy"], float)
            self.curves[curve["attack"]] = self.plot.plot(eps, acc, pen=pg.mkPen(color, width=2), symbol="o",
                                                          symbolBrush=color, symbolSize=7, name=curve["attack"])
            raw = np.asarray(curve["raw_robust_accuracy"], float)
            if len(raw) and not np.allclose(raw, acc):  # a run that beat a larger eps: a weak attack
                self.plot.plot(eps, raw, pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine),
                               name=f"{curve['attack']} (each eps alone)")
            points = ", ".join(f"{e:.3g}: {_percent(a)}" for e, a in zip(eps, acc, strict=True))
            texts.append(f"{curve['attack']} — {points}")
        self.plot.setYRange(0, 1.02)
        attacks = ", ".join(c["attack"] for c in data["curves"]) or "no attack"
        self.plot.setTitle(f"robust accuracy vs eps: {attacks} on {data['n']} images")
        self.caption.setText(" · ".join(texts))


class HistogramsPanel(_ResultPanel):
    """Clean vs adversarial confidence, and correct vs wrong; a click on a bar filters the images."""

    object_name = "HistogramsDock"
    title = "Histograms"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plots = {
            "attack": _plot("confidence: clean (blue) vs adversarial (red)", "images", "max softmax confidence"),
            "truth": _plot("clean confidence: correct (green) vs wrong (orange)", "images",
                           "max softmax confidence"),
        }
        self.pairs = {"attack": ("clean", "adversarial"), "truth": ("correct", "wrong")}
        for key, plot in self.plots.items():
            plot.setXRange(0, 1)
            plot.scene().sigMouseClicked.connect(lambda event, k=key: self._on_click(k, event))
            plot.setToolTip("click a bar to show its images in the Images dock")
            layout.addWidget(plot, 1)
        self.setWidget(self._wrap(body))
        self.counts: dict[str, list[int]] = {}

    def refresh(self) -> None:
        for plot in self.plots.values():
            plot.clear()
        self.counts = {}
        if self.outcome is None:
            return
        data = self.outcome.evaluation.data
        hist = data["histograms"]
        ref = data.get("reference_attack") or {}
        if ref:
            self.plots["attack"].setTitle(f"confidence: clean (blue) vs adversarial (red, {ref.get('attack')} "
                                          f"eps {float(ref.get('eps') or 0):g})")
        edges = np.asarray(hist["bins"], float)
        width = np.diff(edges)
        for key, (left, right) in self.pairs.items():
            for side, name in enumerate((left, right)):
                counts = hist.get(name)
                if counts is None:
                    continue
                self.counts[name] = list(counts)
                x = edges[:-1] + width * (0.25 + 0.5 * side)
                bars = pg.BarGraphItem(x=x, height=np.asarray(counts, float), width=width * 0.48,
                                       brush=COLORS[name], pen=pg.mkPen(None), name=name)
                self.plots[key].addItem(bars)
            self.plots[key].setXRange(0, 1, padding=0.01)

    def positions_in_bin(self, name: str, b: int) -> np.ndarray:
        """Evaluated samples in histogram bin `b` of series `name` (clean/adversarial/correct/wrong)."""
        assert self.outcome is not None
        ev = self.outcome.evaluation
        edges = np.asarray(ev.data["histograms"]["bins"], float)
        if name == "adversarial":
            if ev.adv_confidence is None:
                return np.zeros(0, dtype=np.int64)
            return np.nonzero(histogram_bin(ev.adv_confidence, edges) == b)[0]
        mask = histogram_bin(ev.clean_confidence, edges) == b
        correct = ev.clean_pred == ev.labels
        if name == "correct":
            mask &= correct
        elif name == "wrong":
            mask &= ~correct
        return np.nonzero(mask)[0]

    def filter_bin(self, name: str, b: int) -> list[int]:
        edges = np.asarray(self.outcome.evaluation.data["histograms"]["bins"], float)  # type: ignore[union-attr]
        label = f"{name} confidence {edges[b]:.2f}–{edges[b + 1]:.2f}"
        return self._filter(label, self.positions_in_bin(name, b))

    def _on_click(self, key: str, event: Any) -> None:
        if self.outcome is None:
            return
        plot = self.plots[key]
        view = plot.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        point = view.mapSceneToView(event.scenePos())
        self.click_at(key, point)

    def click_at(self, key: str, point: QPointF) -> list[int] | None:
        """A click in data coordinates: the bin under x, left half = first series, right = second."""
        edges = np.asarray(self.outcome.evaluation.data["histograms"]["bins"], float)  # type: ignore[union-attr]
        x = float(point.x())
        if not edges[0] <= x <= edges[-1]:
            return None
        b = int(histogram_bin(np.array([x]), edges)[0])
        side = 0 if x - edges[b] < (edges[b + 1] - edges[b]) / 2 else 1
        return self.filter_bin(self.pairs[key][side], b)


class CalibrationPanel(_ResultPanel):
    """Reliability diagram (before / after temperature scaling / adversarial), the numbers, and
    the clean and adversarial confusion matrices; bins and cells filter the Images dock."""

    object_name = "CalibrationDock"
    title = "Calibration"
    SERIES = (("before", "clean, before T", "#4c8bd6"), ("after", "held out, after T", "#2e8b57"),
              ("adversarial", "adversarial", "#d64545"))

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QHBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot = _plot("reliability: accuracy per confidence bin", "accuracy", "confidence")
        self.plot.setXRange(0, 1)
        self.plot.setYRange(0, 1)
        self.plot.addLegend(offset=(10, 10))
        self.highlight: pg.LinearRegionItem | None = None
        self.plot.setToolTip("click a bar to show its images in the Images dock")
        self.plot.scene().sigMouseClicked.connect(self._on_plot_click)
        left = QVBoxLayout()
        left.addWidget(self.plot, 1)
        self.numbers = QLabel("run an evaluation (Evaluate dock)")
        self.numbers.setObjectName("calibration_numbers")
        self.numbers.setTextFormat(Qt.TextFormat.RichText)
        self.numbers.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.numbers.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        left.addWidget(self.numbers, 0)
        layout.addLayout(left, 3)
        self.matrices = pg.GraphicsLayoutWidget()
        self.matrices.setMinimumWidth(300)
        self.matrices.setToolTip("confusion matrices: rows true class, columns predicted; click a cell to "
                                 "show its images")
        self.matrix_titles: dict[str, pg.LabelItem] = {}
        self.matrix_views: dict[str, pg.ViewBox] = {}
        self.matrix_plots: dict[str, pg.PlotItem] = {}
        self.matrix_items: dict[str, pg.ImageItem] = {}
        lut = pg.colormap.get("viridis").getLookupTable(nPts=256)
        for column, kind in enumerate(("clean", "adversarial")):
            self.matrix_titles[kind] = self.matrices.addLabel(kind, row=0, col=column)
            plot = self.matrices.addPlot(row=1, col=column)  # axes: true class down, predicted across
            plot.setLabel("left", "true class")
            plot.setLabel("bottom", "predicted class")
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            view = plot.getViewBox()
            view.setMouseEnabled(False, False)
            self.matrix_plots[kind] = plot
            item = pg.ImageItem(axisOrder="row-major")
            item.setLookupTable(lut)
            view.addItem(item)
            self.matrix_views[kind], self.matrix_items[kind] = view, item
        self.matrices.scene().sigMouseClicked.connect(self._on_matrix_click)
        layout.addWidget(self.matrices, 2)
        self.setWidget(self._wrap(body))
        self._texts: list[tuple[pg.ViewBox, pg.TextItem]] = []
        self.drawn: dict[str, np.ndarray] = {}  # what is plotted: bar heights per series, counts per matrix

    # --- drawing ---------------------------------------------------------------------------
    def series_bins(self) -> dict[str, list[dict[str, Any]]]:
        if self.outcome is None:
            return {}
        calib = self.outcome.evaluation.data["calibration"]
        found = {"before": calib["bins"], "after": calib["held_out_after"]["bins"]}
        if "adversarial" in calib:
            found["adversarial"] = calib["adversarial"]["bins"]
        return found

    def refresh(self) -> None:
        self.plot.clear()
        for view, text in self._texts:
            view.removeItem(text)
        self._texts = []
        for item in self.matrix_items.values():
            item.clear()
        self.drawn = {}
        if self.outcome is None:
            self.numbers.setText("run an evaluation (Evaluate dock)")
            return
        data = self.outcome.evaluation.data
        self.plot.plot([0, 1], [0, 1], pen=pg.mkPen("#888888", style=Qt.PenStyle.DashLine))
        bins = self.series_bins()
        for offset, (key, label, color) in enumerate(self.SERIES):
            if key not in bins:
                continue
            lows = np.array([b["lower"] for b in bins[key]])
            width = np.array([b["upper"] - b["lower"] for b in bins[key]])
            acc = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins[key]], float)
            self.drawn[key] = acc
            bars = pg.BarGraphItem(x=lows + width * (offset + 0.5) / 3, height=acc, width=width / 3 * 0.95,
                                   brush=color, pen=pg.mkPen(None), name=label)
            self.plot.addItem(bars)
            if key == "before":  # how many images each bin holds: a tall bar of 2 images says little
                for lower, w, a, b in zip(lows, width, acc, bins[key], strict=True):
                    if b["count"]:
                        count = pg.TextItem(str(b["count"]), anchor=(0.5, 1.0), color="#555555")
                        count.setPos(lower + w / 2, min(0.98, a + 0.02))
                        self.plot.addItem(count)
        self.highlight = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 200, 0, 60),
                                             pen=pg.mkPen(None))
        self.highlight.hide()
        self.plot.addItem(self.highlight)
        self.plot.setXRange(0, 1, padding=0.01)
        self.plot.setYRange(0, 1, padding=0.01)
        self.numbers.setText(self._numbers_html(data))
        for kind, matrix in data["confusion"].items():
            self._show_matrix(kind, np.asarray(matrix, dtype=float), data)

    def _numbers_html(self, data: dict[str, Any]) -> str:
        calib = data["calibration"]
        rows = [("all, before T", calib), ("held out, before T", calib["held_out_before"]),
                ("held out, after T", calib["held_out_after"])]
        if "adversarial" in calib:
            ref = data.get("reference_attack", {})
            rows.append((f"adversarial ({ref.get('attack', '?')} eps {ref.get('eps', 0):.3g})", calib["adversarial"]))
        cells = "".join(
            f"<tr><td>{name}</td><td align=right>{c['n']}</td><td align=right>{_percent(c['accuracy'])}</td>"
            f"<td align=right>{c['ece']:.4f}</td><td align=right>{c['mce']:.4f}</td>"
            f"<td align=right>{c['nll']:.4f}</td><td align=right>{c['brier']:.4f}</td></tr>"
            for name, c in rows)
        note = "" if self.outcome is None or self.outcome.scaled_confidence is not None else f"<br><i>{NO_SCALED}</i>"
        return (f"<b>temperature T = {calib['temperature']:.3f}</b> (fitted by NLL on {calib['split']['fit']}, "
                f"judged on {calib['split']['held_out']})<br>"
                "<table cellspacing=0 cellpadding=2><tr><th align=left>set</th><th>n</th><th>acc</th>"
                f"<th>ECE</th><th>MCE</th><th>NLL</th><th>Brier</th></tr>{cells}</table>{note}")

    def _show_matrix(self, kind: str, matrix: np.ndarray, data: dict[str, Any]) -> None:
        self.drawn[kind] = matrix
        totals = matrix.sum(1, keepdims=True)
        share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        self.matrix_items[kind].setImage((share * 255).astype(np.uint8), levels=(0, 255), autoLevels=False)
        accuracy = np.trace(matrix) / max(1.0, matrix.sum())
        self.matrix_titles[kind].setText(f"{kind} · acc {_percent(accuracy)}")
        view = self.matrix_views[kind]
        k = len(matrix)
        if kind == "adversarial" and data.get("reference_attack"):
            ref = data["reference_attack"]
            self.matrix_titles[kind].setText(f"adversarial ({ref.get('attack')} eps {float(ref.get('eps') or 0):g})"
                                             f" · acc {_percent(accuracy)}")
        step = max(1, k // 12)  # every class named while they fit, else every step-th
        ticks = [(c + 0.5, self.session.label_name(c)) for c in range(0, k, step)]
        for axis in ("left", "bottom"):
            self.matrix_plots[kind].getAxis(axis).setTicks([ticks, []])
        if k <= 12:  # counts in the cells while they stay legible
            for r in range(k):
                for c in range(k):
                    if matrix[r, c]:
                        text = pg.TextItem(str(int(matrix[r, c])), anchor=(0.5, 0.5),
                                           color="k" if share[r, c] > 0.6 else "w")
                        text.setPos(c + 0.5, r + 0.5)
                        view.addItem(text)
                        self._texts.append((view, text))
        view.autoRange(padding=0.02)

    # --- linking ---------------------------------------------------------------------------
    def positions_in_reliability_bin(self, key: str, b: int) -> np.ndarray | None:
        """Evaluated samples in reliability bin `b` of series `key`; None for the after-T series
        of an evaluation that kept no logits (its scaled confidences cannot be rebuilt)."""
        assert self.outcome is not None
        o = self.outcome
        ev = o.evaluation
        n_bins = len(ev.data["calibration"]["bins"])
        if key == "before":
            return np.nonzero(o.calibration_bin == b)[0]
        if key == "after":
            if o.scaled_confidence is None:
                return None
            held = np.asarray(o.held_out, dtype=np.int64)
            return held[reliability_bin(o.scaled_confidence[held], n_bins) == b]
        if ev.adv_confidence is None:
            return np.zeros(0, dtype=np.int64)
        return np.nonzero(reliability_bin(ev.adv_confidence, n_bins) == b)[0]

    def filter_reliability_bin(self, key: str, b: int) -> list[int] | None:
        bins = self.series_bins()[key]
        self.highlight.setRegion((bins[b]["lower"], bins[b]["upper"]))  # the clicked bin stays marked
        self.highlight.show()
        label = dict((k, lbl) for k, lbl, _ in self.SERIES)[key]
        positions = self.positions_in_reliability_bin(key, b)
        if positions is None:
            self.say(NO_SCALED)
            return None
        return self._filter(f"reliability {bins[b]['lower']:.2f}–{bins[b]['upper']:.2f} ({label})", positions)

    def filter_confusion(self, kind: str, truth: int, predicted: int) -> list[int]:
        """Images of class `truth` predicted as `predicted` (clean or adversarial prediction)."""
        assert self.outcome is not None
        ev = self.outcome.evaluation
        pred = ev.clean_pred if kind == "clean" else ev.adv_pred
        if pred is None:
            return []
        positions = np.nonzero((ev.labels == truth) & (pred == predicted))[0]
        s = self.session
        return self._filter(f"{kind}: truth {s.label_name(truth)} → predicted {s.label_name(predicted)}", positions)

    def _on_plot_click(self, event: Any) -> None:
        if self.outcome is None:
            return
        view = self.plot.getPlotItem().getViewBox()
        if view.sceneBoundingRect().contains(event.scenePos()):
            self.click_reliability(view.mapSceneToView(event.scenePos()))

    def click_reliability(self, point: QPointF) -> list[int] | None:
        bins = self.series_bins()
        x = float(point.x())
        if not 0 <= x <= 1 or not bins:
            return None
        n_bins = len(bins["before"])
        b = min(n_bins - 1, int(x * n_bins))
        third = min(2, int((x * n_bins - b) * 3))
        key = self.SERIES[third][0]
        if key not in bins:
            return None
        return self.filter_reliability_bin(key, b)

    def _on_matrix_click(self, event: Any) -> None:
        if self.outcome is None:
            return
        for kind, view in self.matrix_views.items():
            if view.sceneBoundingRect().contains(event.scenePos()):
                self.click_matrix(kind, view.mapSceneToView(event.scenePos()))
                return

    def click_matrix(self, kind: str, point: QPointF) -> list[int] | None:
        matrix = self.outcome.evaluation.data["confusion"].get(kind) if self.outcome else None
        if matrix is None:
            return None
        col, row = int(math.floor(point.x())), int(math.floor(point.y()))
        if 0 <= row < len(matrix) and 0 <= col < len(matrix):
            return self.filter_confusion(kind, row, col)
        return None
