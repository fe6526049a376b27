"""Defend dock: input transforms (`core.tasks.defend`) in front of the session's model, with a
live preview of what the model sees. Applied, the session's model becomes the DefendedClassifier,
so every other verb runs on the defended model. The form is `defend.Config`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from advinspect.core.defenses.transforms import available_defenses
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import defend
from advinspect.core.tasks.base import with_plugins
from advinspect.gui.panels import Panel
from advinspect.gui.panels.inspector import to_uint8
from advinspect.gui.session import Session
from advinspect.gui.widgets.imaging import to_display
from advinspect.gui.widgets.linked_views import linked_image_views
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import label
from advinspect.gui.worker import describe

PREVIEW_DEBOUNCE_MS = 150


class DefendPanel(Panel):
    object_name = "DefendDock"
    title = "Defend"

    preview_ready = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.preview: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # transformed, probs, clean probs
        self.preview_job: Any = None
        self._preview_dirty = False
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = ParamForm()
        self.form.set_params_type(defend.Config)
        with_plugins()  # plugin defenses are listed with the built-in ones
        self.form.widget("defense").setToolTip(self.form.widget("defense").toolTip() + "\n\napplied left to right:\n"
                                               + "\n".join(available_defenses()))
        self.form.changed.connect(self.schedule_preview)
        layout.addWidget(self.form)
        self.preview_graphics = pg.GraphicsLayoutWidget()
        self.preview_graphics.setMinimumHeight(150)
        self.preview_titles, self.preview_views, self.preview_items = linked_image_views(
            self.preview_graphics, ("selected image", "what the model sees"), session.log)
        layout.addWidget(self.preview_graphics, 1)
        self.preview_label = label("defend_preview_label", "preview: –")
        layout.addWidget(self.preview_label)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply to model")
        self.apply_button.setObjectName("defend_apply")
        self.apply_button.setToolTip("the session's model becomes this defended model (attacks, saliency, "
                                     "evaluation all use it)")
        self.apply_button.clicked.connect(self.apply)
        buttons.addWidget(self.apply_button)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("defend_remove")
        self.remove_button.clicked.connect(self.session.remove_defense)
        self.remove_button.setEnabled(False)
        buttons.addWidget(self.remove_button)
        layout.addLayout(buttons)
        self.status = label("defend_status", "active defense: none")
        self.status.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.status)
        self.setWidget(body)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DEBOUNCE_MS)
        self._timer.timeout.connect(self.update_preview)
        self.visibilityChanged.connect(lambda visible: self.schedule_preview() if visible else None)
        session.current_changed.connect(self.schedule_preview)
        session.images_changed.connect(self.schedule_preview)
        session.model_changed.connect(self.schedule_preview)
        session.defense_changed.connect(self._on_defense)

    def config(self) -> Any:
        """defend.Config from the form; the transforms text is parsed here too, so a typo is
        marked on its field before any job runs (torch is loaded once a model is open)."""
        config = self.form.config()
        from advinspect.core.defenses.transforms import parse_defense

        try:
            parse_defense(config.defense)
        except AdvInspectError as exc:
            self.form.mark_invalid("defense", str(exc))
            raise
        return config

    def defense_text(self) -> str:
        return str(self.form.values()["defense"] or "")

    def set_defense(self, text: str, **values: Any) -> None:
        """Fill the form: transforms text plus any other field (scripting and tests)."""
        self.form.set_values({"defense": text, **values})

    def _base(self) -> Any:
        s = self.session
        return s.base_clf if s.base_clf is not None else s.clf

    def schedule_preview(self, *_: object) -> None:
        self.apply_button.setEnabled(bool(self.defense_text()) and self.session.clf is not None)
        self._timer.start()

    def update_preview(self) -> None:
        """Preview job for the current image; only while the dock is shown (see SaliencyPanel)."""
        if not self.on_screen():
            return
        s = self.session
        x, clf = s.image(s.current), self._base()
        try:  # parsing the transforms imports torch: only once a model (so torch) is there
            config = self.config() if self.defense_text() and clf is not None else None
        except AdvInspectError as exc:
            self.preview_label.setText(f"preview: {exc}")
            return
        if clf is None or x is None or config is None:
            self.preview = None
            self.preview_items[1].clear()
            self.preview_label.setText("preview: choose a transform" if x is not None else "preview: no image")
            return
        if self.preview_job is not None:
            self._preview_dirty = True
            return
        index = s.current

        def done(preview: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
            self.preview_job = None
            self._show_preview(index, x, config.defense, preview)
            if self._preview_dirty:
                self._preview_dirty = False
                self.schedule_preview()

        def failed(error: BaseException, _details: str) -> None:
            self.preview_job = None
            self.preview_label.setText(f"preview failed: {describe(error)}")

        self.preview_job = s.run_job("defense preview", lambda progress, cancel: defend.preview(clf, x, config),
                                     done, error_title="Defense preview failed", on_error=failed)

    def _show_preview(self, index: int, x: np.ndarray, text: str,
                      preview: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        s = self.session
        transformed, probs, clean = preview
        self.preview = preview
        vr = s.value_range
        self.preview_items[0].setImage(to_uint8(to_display(x, vr)), levels=(0, 255), autoLevels=False)
        self.preview_items[1].setImage(to_uint8(to_display(transformed, vr)), levels=(0, 255), autoLevels=False)
        self.preview_views[0].autoRange(padding=0.02)
        before, after = int(clean.argmax()), int(probs.argmax())
        change = "unchanged" if before == after else "CHANGED"
        self.preview_titles[1].setText(f"after {text}")
        self.preview_label.setText(
            f"image {index}: prediction {s.label_name(before)} ({clean.max():.1%}) → "
            f"{s.label_name(after)} ({probs.max():.1%}) through the defense [{change}]")
        self.preview_ready.emit()

    def apply(self) -> None:
        try:
            if not self.defense_text():
                raise AdvInspectError("give at least one transform, e.g. jpeg:75")
            config = self.config()
        except AdvInspectError as exc:
            self.session.error.emit("Cannot defend", str(exc), "")
            return
        self.session.apply_defense(config)

    def _on_defense(self) -> None:
        d = self.session.defense
        self.remove_button.setEnabled(d is not None)
        self.status.setText("active defense: none" if d is None else "\n".join(d["summary"]))
