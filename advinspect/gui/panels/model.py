"""Model dock: what is loaded (format, spec, labels, parameters, device, sha256) and an editable
spec saved as a sidecar `<model>.advinspect.json` once the model accepts it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.core.models.spec import RESIZE_POLICIES, ModelSpec
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session

INFO_ROWS = ("file", "format", "outputs", "parameters", "device", "gradients", "classes", "sha256")


def _numbers(text: str) -> tuple[float, ...] | None:
    text = text.strip()
    if not text:
        return None
    try:
        return tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise AdvInspectError(f"not a list of numbers: {text!r}") from None


def _join(values: Any) -> str:
    if values is None:
        return ""
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def spec_from_texts(shape: str, value_range: str, mean: str, std: str, labels: str,
                    resize: str) -> ModelSpec:
    """A ModelSpec from the form's texts; raises AdvInspectError with what is wrong."""
    dims = _numbers(shape)
    if dims is None or len(dims) != 3 or any(d != int(d) for d in dims):
        raise AdvInspectError(f"input shape must be three whole numbers C,H,W, got {shape!r}")
    bounds = _numbers(value_range) or (0.0, 1.0)
    if len(bounds) != 2:
        raise AdvInspectError(f"value range must be two numbers low,high, got {value_range!r}")
    names = [n.strip() for n in labels.replace("\n", ",").split(",") if n.strip()]
    return ModelSpec(input_shape=tuple(int(d) for d in dims), value_range=(bounds[0], bounds[1]),
                     mean=_numbers(mean), std=_numbers(std), labels=tuple(names) or None, resize=resize)


class ModelPanel(Panel):
    object_name = "ModelDock"
    title = "Model"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.buttons = QHBoxLayout()
        layout.addLayout(self.buttons)
        info_box = QGroupBox("Loaded model")
        info = QFormLayout(info_box)
        self.info_labels: dict[str, QLabel] = {}
        for row in INFO_ROWS:
            label = QLabel("–")
            label.setObjectName(f"model_{row}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(row != "sha256")
            info.addRow(row, label)
            self.info_labels[row] = label
        layout.addWidget(info_box)
        layout.addWidget(self._spec_box())
        layout.addStretch(1)
        scroll.setWidget(body)
        self.setWidget(scroll)
        session.model_changed.connect(self.refresh)
        session.busy_changed.connect(lambda busy: self.apply_button.setEnabled(not busy))

    def add_actions(self, open_action: QAction, recent_menu: Any) -> None:
        """The window's Open action and Recent menu, as buttons at the top of the dock."""
        button = QPushButton("Open model…")
        button.setObjectName("model_open")
        button.setToolTip(open_action.toolTip())
        button.clicked.connect(open_action.trigger)
        self.buttons.addWidget(button)
        recent = QToolButton()
        recent.setText("Recent")
        recent.setMenu(recent_menu)
        recent.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.buttons.addWidget(recent)
        self.buttons.addStretch(1)

    def _spec_box(self) -> QGroupBox:
        box = QGroupBox("Input spec (saved next to the model)")
        form = QFormLayout(box)
        self.shape = QLineEdit()
        self.shape.setToolTip("C,H,W the model takes, e.g. 3,224,224")
        self.value_range = QLineEdit()
        self.value_range.setToolTip("pixel value range the attacks work in, e.g. 0,1 or 0,255")
        self.mean = QLineEdit()
        self.mean.setToolTip("per-channel mean subtracted inside the model wrapper (empty: none)")
        self.std = QLineEdit()
        self.std.setToolTip("per-channel std divided inside the model wrapper (empty: none)")
        self.resize = QComboBox()
        self.resize.addItems(list(RESIZE_POLICIES))
        self.resize.setToolTip("how images of another size are fitted to the input")
        self.labels = QPlainTextEdit()
        self.labels.setMaximumHeight(90)
        self.labels.setToolTip("class names, comma or newline separated, in output order")
        for name, widget in (("input shape", self.shape), ("value range", self.value_range),
                             ("mean", self.mean), ("std", self.std), ("resize", self.resize),
                             ("labels", self.labels)):
            widget.setObjectName("spec_" + name.replace(" ", "_"))
            form.addRow(name, widget)
        self.apply_button = QPushButton("Apply and save spec")
        self.apply_button.setObjectName("spec_apply")
        self.apply_button.setToolTip("reload the model with this spec; saved as <model>.advinspect.json "
                                     "only when the model accepts it")
        self.apply_button.clicked.connect(self.apply)
        form.addRow(self.apply_button)
        return box

    def refresh(self) -> None:
        info = self.session.info
        spec = self.session.spec
        params = info.get("parameters")
        values = {
            "file": info.get("file") or "in-memory model",
            "format": info.get("format", "–"),
            "outputs": info.get("outputs", "–"),  # logits, or probabilities (attacks then get their log)
            "parameters": f"{params:,}" if isinstance(params, int) else "–",
            "device": info.get("device", "–"),
            "gradients": "yes" if info.get("has_gradients") else
                         f"no{': ' + info['gradients_unavailable_because'] if info.get('gradients_unavailable_because') else ''}",
            "classes": str(info.get("num_classes", "–")),
            "sha256": (info.get("sha256") or "–"),
        }
        for key, value in values.items():
            label = self.info_labels[key]
            text = str(value)
            label.setText(text[:16] + "…" if key == "sha256" and len(text) > 16 else text)
            label.setToolTip(text)
        if spec is not None:
            self.shape.setText(_join(spec.input_shape))
            self.value_range.setText(_join(spec.value_range))
            self.mean.setText(_join(spec.mean))
            self.std.setText(_join(spec.std))
            self.resize.setCurrentText(spec.resize)
            self.labels.setPlainText(", ".join(spec.labels or ()))

    def edited_spec(self) -> ModelSpec:
        return spec_from_texts(self.shape.text(), self.value_range.text(), self.mean.text(),
                               self.std.text(), self.labels.toPlainText(), self.resize.currentText())

    def apply(self) -> None:
        try:
            spec = self.edited_spec()
        except AdvInspectError as exc:
            self.session.error.emit("Invalid spec", str(exc), "")
            return
        self.session.apply_spec(spec)
