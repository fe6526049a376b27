"""Confidence dock: top-k class probabilities before and after the attack; a flip is highlighted."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from advinspect.core.status import FLIPPED, MISCLASSIFIED
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session

CLEAN_COLOR = "#4c8bd6"
ADV_COLOR = "#e8743b"
FLIP_STYLE = "color: white; background: #c0392b; padding: 4px; border-radius: 3px; font-weight: bold;"
HELD_STYLE = "color: white; background: #2e8b57; padding: 4px; border-radius: 3px; font-weight: bold;"
MISCLASSIFIED_STYLE = "color: white; background: #7f8c8d; padding: 4px; border-radius: 3px; font-weight: bold;"


def top_classes(clean: np.ndarray, adv: np.ndarray | None, k: int) -> list[int]:
    """The k most likely classes before, plus the after top-1 and any of its top-k that outrank
    them: the classes worth a bar, ordered by clean probability."""
    order = list(np.argsort(-clean)[:k])
    if adv is not None:
        for c in np.argsort(-adv)[:k]:
            if c not in order and (len(order) < k + 2 or c == adv.argmax()):
                order.append(int(c))
    return [int(c) for c in order]


class ConfidencePanel(Panel):
    object_name = "ConfidenceDock"
    title = "Confidence"
    top_k = 5

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.headline = QLabel("no image")
        self.headline.setObjectName("confidence_headline")
        self.headline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.headline.setWordWrap(True)  # a long verdict wraps instead of widening the window
        layout.addWidget(self.headline)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setYRange(0, 1.05, padding=0)
        self.plot.setLabel("left", "probability")
        self.plot.addLegend(offset=(-5, 5))
        self.plot.hideButtons()
        layout.addWidget(self.plot, 1)
        self.setWidget(body)
        self.clean_bars: pg.BarGraphItem | None = None
        self.adv_bars: pg.BarGraphItem | None = None
        self.classes: list[int] = []
        self.flipped: bool | None = None
        session.current_changed.connect(self.refresh)
        session.results_changed.connect(self._on_results)
        session.images_changed.connect(self.refresh)

    def _on_results(self, indices: list[int]) -> None:
        if self.session.current in indices:
            self.refresh()

    def refresh(self, *_: object) -> None:
        s = self.session
        i = s.current
        self.plot.clear()
        self.clean_bars = self.adv_bars = None
        self.flipped = None
        if s.probs is None or i < 0 or i >= s.count:
            self.headline.setText("no image")
            self.headline.setStyleSheet("")
            return
        clean = s.probs[i]
        result = s.results.get(i)
        adv = None if result is None else result.adv_probs
        self.classes = top_classes(clean, adv, min(self.top_k, len(clean)))
        xs = np.arange(len(self.classes), dtype=float)
        width = 0.38 if adv is not None else 0.6
        offset = width / 2 if adv is not None else 0.0
        self.clean_bars = pg.BarGraphItem(x=xs - offset, height=clean[self.classes], width=width,
                                          brush=CLEAN_COLOR, name="before")
        self.plot.addItem(self.clean_bars)
        if adv is not None:
            self.adv_bars = pg.BarGraphItem(x=xs + offset, height=adv[self.classes], width=width,
                                            brush=ADV_COLOR, name="after")
            self.plot.addItem(self.adv_bars)
        ticks = [(float(x), s.label_name(c)) for x, c in zip(xs, self.classes, strict=True)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.6, len(self.classes) - 0.4, padding=0)
        self._headline(clean, result)

    def _headline(self, clean: np.ndarray, result) -> None:
        s = self.session
        before = int(clean.argmax())
        truth = s.label(s.current)
        truth_text = f"truth {s.label_name(truth)} · " if truth >= 0 else ""
        if result is None:
            self.headline.setText(f"{truth_text}predicted {s.label_name(before)} ({clean.max():.1%})")
            self.headline.setStyleSheet("")
            return
        after = int(result.adv_probs.argmax())
        self.flipped = after != before
        arrow = f"{s.label_name(before)} ({clean.max():.1%}) → {s.label_name(after)} ({result.adv_probs.max():.1%})"
        if result.status == FLIPPED:
            self.headline.setText(f"{truth_text}FLIPPED by {result.attack}: {arrow}")
            self.headline.setStyleSheet(FLIP_STYLE)
        elif result.status == MISCLASSIFIED:
            self.headline.setText(f"{truth_text}misclassified before {result.attack}: {arrow}")
            self.headline.setStyleSheet(MISCLASSIFIED_STYLE)
        else:
            self.headline.setText(f"{truth_text}held against {result.attack}: {arrow}")
            self.headline.setStyleSheet(HELD_STYLE)
