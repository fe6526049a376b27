"""Inspector (central widget): original | adversarial | perturbation, linked zoom and pan.

The perturbation uses a diverging colormap centred on zero with a gain slider; the readout shows
pixel values under the cursor and the perturbation's Linf / L2 / L0 / PSNR. The adversarial view
follows the attack's previews while it runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from advinspect.gui.session import Session
from advinspect.gui.widgets.image_actions import (
    copy_image,
    install_view_menu,
    item_image,
    save_image,
)
from advinspect.gui.widgets.imaging import norms, signed_perturbation, to_display

DIVERGING = pg.ColorMap(pos=[0.0, 0.5, 1.0], color=[(33, 102, 172), (247, 247, 247), (178, 24, 43)])


VIEW_NAMES = ("original", "adversarial", "perturbation")
LIVE_INTERVAL_MS = 100  # previews arrive up to 20/s; redrawing more than 10/s only costs the GUI


def to_uint8(img: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8: pyqtgraph then skips its float level scaling on every redraw."""
    return (img * 255 + 0.5).astype(np.uint8)


def gain_from_slider(value: int) -> float:
    """Slider 0..300 -> gain 1..1000 on a log scale: small epsilons need large gains."""
    return float(10 ** (value / 100))


class ViewTitle(pg.LabelItem):
    """A view's title that asks for no width: a long title ("adversarial (attack pgd eps 0.1) → 6")
    must not widen its column, or the three views stop being equal. It wraps to the column."""

    def updateMin(self) -> None:  # noqa: N802 (pyqtgraph's name)
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        self.setMinimumHeight(height)
        self._sizeHint = {Qt.SizeHint.MinimumSize: (0, height), Qt.SizeHint.PreferredSize: (0, height),
                          Qt.SizeHint.MaximumSize: (-1, -1), Qt.SizeHint.MinimumDescent: (0, 0)}
        self.updateGeometry()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001
        width = self.size().width()
        if width > 0 and abs(self.item.textWidth() - width) > 1:
            self.item.setTextWidth(width)  # wrap within the column
            self.item.document().setDefaultTextOption(self._centered())
            self.updateMin()
        super().resizeEvent(event)

    @staticmethod
    def _centered():  # noqa: ANN205
        from PySide6.QtGui import QTextOption

        return QTextOption(Qt.AlignmentFlag.AlignHCenter)


class InspectorView(QWidget):
    """Three linked image views; observes the Session (current image, previews, results)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Inspector")
        self.session = session
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.caption = QLabel("Loading…")
        self.caption.setObjectName("inspector_caption")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.graphics = pg.GraphicsLayoutWidget()
        layout.addWidget(self.graphics, 1)
        self.titles: list[pg.LabelItem] = []
        self.views: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        for column, title in enumerate(("original", "adversarial", "perturbation")):
            label = ViewTitle(title, color=pg.getConfigOption("foreground"))
            self.graphics.addItem(label, row=0, col=column)
            self.titles.append(label)
            view = self.graphics.addViewBox(row=1, col=column, lockAspect=True, invertY=True)
            view.setMenuEnabled(False)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            self.views.append(view)
            self.items.append(item)
        for view in self.views[1:]:
            view.setXLink(self.views[0])
            view.setYLink(self.views[0])
        for view in self.views:
            # No automatic ranging: with linked views each auto-range added its padding to the
            # others', and every new image or gain change zoomed out further. `fit()` ranges.
            view.disableAutoRange()
        grid = self.graphics.ci.layout
        for column in range(3):  # three equal views, whatever their titles say
            grid.setColumnStretchFactor(column, 1)
            grid.setColumnPreferredWidth(column, 1)
        self.items[2].setLookupTable(DIVERGING.getLookupTable(nPts=256))
        layout.addLayout(self._controls())
        self.readout = QLabel(" ")
        self.readout.setObjectName("inspector_readout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.readout)
        self._shape: tuple[int, ...] | None = None
        self._x: np.ndarray | None = None
        self._adv: np.ndarray | None = None
        self._delta: np.ndarray | None = None
        self.metrics: dict[str, float] | None = None
        self._fit_view = True  # until the user zooms, the images fill the views on every resize
        self._signed: np.ndarray | None = None
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_INTERVAL_MS)
        self._live_timer.timeout.connect(self._draw_live)
        for view in self.views:
            view.sigRangeChangedManually.connect(self._on_user_zoom)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse)
        install_view_menu(self.graphics, self.views, self.items, VIEW_NAMES, self.session.log,
                          extra=[("Fit", self.fit)])
        self.hovered = 1  # the view Ctrl+C copies: the last one under the mouse (the adversarial at first)
        copy = QAction("Copy Image", self)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        copy.triggered.connect(lambda: self.copy_image(self.hovered))
        self.addAction(copy)
        session.current_changed.connect(self.refresh)
        session.images_changed.connect(self.refresh)
        session.preview_changed.connect(self._on_preview)
        session.results_changed.connect(self._on_results)
        session.busy_changed.connect(self._on_busy)
        self._update_levels()  # the gain label says its value from the start

    def _controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("perturbation gain"))
        self.gain = QSlider(Qt.Orientation.Horizontal)
        self.gain.setObjectName("gain_slider")
        self.gain.setRange(0, 300)
        self.gain.setValue(100)
        self.gain.setToolTip("amplify the perturbation's colour scale (log scale, 1× to 1000×)")
        self.gain.valueChanged.connect(self._update_levels)
        row.addWidget(self.gain, 1)
        self.gain_label = QLabel()
        self.gain_label.setMinimumWidth(70)
        row.addWidget(self.gain_label)
        fit = QPushButton("Fit")
        fit.setObjectName("inspector_fit")
        fit.setToolTip("show the whole image in each view")
        fit.clicked.connect(self.fit)
        row.addWidget(fit)
        self.auto_gain = QCheckBox("auto")
        self.auto_gain.setObjectName("gain_auto")
        self.auto_gain.setChecked(True)
        self.auto_gain.setToolTip("scale the colours to the largest change (Linf) of each result")
        self.auto_gain.toggled.connect(lambda on: on and self._fit_gain())
        self.gain.sliderMoved.connect(lambda _v: self.auto_gain.setChecked(False))
        row.addWidget(self.auto_gain)
        self.metrics_label = QLabel("Linf – · L2 – · L0 – · PSNR –")
        self.metrics_label.setObjectName("inspector_metrics")
        self.metrics_label.setWordWrap(True)  # long numbers wrap: they never widen the window
        self.metrics_label.setMinimumWidth(120)
        row.addWidget(self.metrics_label, 2)
        return row

    def _on_user_zoom(self, *_: object) -> None:
        self._fit_view = False

    def fit(self) -> None:
        """Show the whole image in each of the three views (View → Fit, and until the user zooms)."""
        self._fit_view = True
        if self._x is None:
            return
        height, width = self._x.shape[1:]
        self.views[0].setRange(xRange=(0, width), yRange=(0, height), padding=0.02)

    def visible_rect(self, view_index: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the image area a view shows, for tests and the readout."""
        (x0, x1), (y0, y1) = self.views[view_index].viewRange()
        return x0, y0, x1, y1

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_view and self._x is not None:
            QTimer.singleShot(0, self.fit)  # after the layout has given the views their sizes

    def _fit_gain(self) -> None:
        """Gain so the colour scale ends at the perturbation's Linf (1 when there is none)."""
        if self.metrics is None or self.metrics["linf"] <= 0:
            return
        lo, hi = self.session.value_range
        gain = (hi - lo) / self.metrics["linf"]
        self.gain.setValue(int(round(100 * math.log10(max(1.0, min(1000.0, gain))))))
        self._update_levels()

    # --- updates ---------------------------------------------------------------------------
    def _on_busy(self, busy: bool) -> None:
        if self.session.count == 0:
            self.caption.setText("Loading…" if busy else "Open a model and images (File menu or drop files here)")

    def _on_preview(self, index: int) -> None:
        """Live previews are coalesced: at most one redraw per LIVE_INTERVAL_MS."""
        if index != self.session.current:
            return
        if index not in self.session.live:  # the run ended: show the final state now
            self._live_timer.stop()
            self._show_adversarial(self.session.adversarial(index))
        elif not self._live_timer.isActive():
            self._live_timer.start()

    def _draw_live(self) -> None:
        index = self.session.current
        if index in self.session.live:
            self._show_adversarial(self.session.live[index], live=True)

    def _on_results(self, indices: list[int]) -> None:
        if self.session.current in indices:
            self.refresh()

    def refresh(self, *_: object) -> None:
        s = self.session
        x = s.image(s.current)
        self._x = x
        if x is None:
            for item in self.items:
                item.clear()
            self.caption.setText("no image" if not s.busy else "Loading…")
            self._show_adversarial(None)
            return
        truth = s.label(s.current)
        name = s.images.names[s.current]
        truth_text = f"truth {s.label_name(truth)}, " if truth >= 0 else ""
        self.caption.setText(f"{name} — {truth_text}predicted {s.label_name(s.prediction(s.current))}")
        self.items[0].setImage(to_uint8(to_display(x, s.value_range)), levels=(0, 255), autoLevels=False)
        if self._shape != x.shape:
            self._shape = x.shape
            self._fit_view = True
        if self._fit_view:
            self.fit()
        self._show_adversarial(s.adversarial(s.current))

    def _show_adversarial(self, adv: np.ndarray | None, live: bool = False) -> None:
        s = self.session
        self._adv = adv
        if adv is None or self._x is None:
            self.items[1].clear()
            self.items[2].clear()
            self._delta = None
            self._signed = None
            self.metrics = None
            self.titles[1].setText(s.adversarial_title(s.current) if self._x is not None else "adversarial")
            self.titles[2].setText("perturbation")
            self.metrics_label.setText("Linf – · L2 – · L0 – · PSNR –")
            return
        self.items[1].setImage(to_uint8(to_display(adv, s.value_range)), levels=(0, 255), autoLevels=False)
        self._delta = (adv - self._x).astype(np.float32)
        self._signed = signed_perturbation(self._delta)
        self.items[2].setImage(self._signed, autoLevels=False)  # once per image; the gain sets levels only
        self.metrics = norms(self._x, adv, s.value_range)
        m = self.metrics
        psnr = "∞" if math.isinf(m["psnr"]) else f"{m['psnr']:.1f} dB"
        self.metrics_label.setText(
            f"Linf {m['linf']:.4f} · L2 {m['l2']:.4f} · L0 {m['l0']} · PSNR {psnr}")
        if live:
            self.titles[1].setText("adversarial (running…)")
        else:
            self.titles[1].setText(s.adversarial_title(s.current))
        if self.auto_gain.isChecked():
            self._fit_gain()
        self._update_levels()

    def _update_levels(self) -> None:
        gain = gain_from_slider(self.gain.value())
        self.gain_label.setText(f"gain ×{gain:.3g}")
        lo, hi = self.session.value_range
        limit = (hi - lo) / gain
        if self._signed is not None:
            self.items[2].setLevels((-limit, limit))  # colours only: the image and the view stay
            self.titles[2].setText(f"perturbation (blue − / red +, ±{limit:.3g})")

    # --- pixel readout ---------------------------------------------------------------------
    def pixel_at(self, view_index: int, scene_pos: QPointF) -> tuple[int, int] | None:
        view = self.views[view_index]
        if self._x is None or not view.sceneBoundingRect().contains(scene_pos):
            return None
        point = view.mapSceneToView(scene_pos)
        col, row = int(math.floor(point.x())), int(math.floor(point.y()))
        height, width = self._x.shape[1:]
        if 0 <= row < height and 0 <= col < width:
            return row, col
        return None

    # --- copy / save what a view shows -----------------------------------------------------
    def view_image(self, index: int) -> QImage | None:
        """The image view `index` shows (colours as shown: the perturbation with its colormap)."""
        return item_image(self.items[index])

    def copy_image(self, index: int) -> bool:
        copied = copy_image(self.view_image(index))
        if copied:
            self.session.log("info", f"copied the {VIEW_NAMES[index]} image")
        return copied

    def save_image(self, index: int, path: str | None = None) -> str | None:
        s = self.session
        stem = Path(s.images.names[s.current]).stem if s.images is not None and s.current >= 0 else "image"
        saved = save_image(self.view_image(index), self, f"{stem}_{VIEW_NAMES[index]}.png", path)
        if saved:
            self.session.log("info", f"saved the {VIEW_NAMES[index]} image to {saved}")
        return saved

    def _view_at(self, scene_pos: QPointF) -> int | None:
        return next((k for k, v in enumerate(self.views) if v.sceneBoundingRect().contains(scene_pos)), None)

    def _on_mouse(self, scene_pos: QPointF) -> None:
        view = self._view_at(scene_pos)
        if view is not None:
            self.hovered = view
        for index in range(len(self.views)):
            hit = self.pixel_at(index, scene_pos)
            if hit is not None:
                self.readout.setText(self.describe_pixel(*hit))
                return

    def describe_pixel(self, row: int, col: int) -> str:
        assert self._x is not None
        text = f"pixel (x={col}, y={row})  original {_values(self._x[:, row, col])}"
        if self._adv is not None and self._delta is not None:
            text += f"  adversarial {_values(self._adv[:, row, col])}  Δ {_values(self._delta[:, row, col], True)}"
        return text


def _values(v: np.ndarray, signed: bool = False) -> str:
    fmt = "{:+.4f}" if signed else "{:.4f}"
    parts = [fmt.format(float(a)) for a in v]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"
