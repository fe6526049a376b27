"""A parameter form generated from an attack's frozen dataclass and its field metadata.

Field kinds handled generically: bool (check box), str with choices (combo box), int (spin box),
float and anything optional (line edit: accepts `8/255`; empty means None). Tooltips come from
the metadata `help`, `min`, `max` and the default, so new attacks need no GUI code.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from advinspect.core.errors import AdvInspectError

_INT_LIMIT = 2**31 - 1


def field_kind(f: dataclasses.Field) -> str:
    """bool | choice | int | float | optional | text, from the annotation and metadata."""
    kind = str(f.type).replace(" ", "")
    optional = "None" in kind or f.default is None
    if "choices" in f.metadata:
        return "choice"
    if kind.startswith("bool"):
        return "bool"
    if optional:
        return "optional"
    if kind.startswith("int"):
        return "int"
    if kind.startswith("float"):
        return "float"
    return "text"


def format_value(value: Any) -> str:
    """Numbers as people write them: 8/255 stays 8/255, 0.5 stays 0.5."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        scaled = value * 255
        if 0 < value < 1 and abs(scaled - round(scaled)) < 1e-9 and round(scaled) not in (0, 255):
            num = round(scaled)
            return f"{num}/255" if (num / 255) != round(num / 255, 3) else f"{value:g}"
        return f"{value:g}"
    return str(value)


def tooltip(f: dataclasses.Field) -> str:
    meta = f.metadata
    lines = [meta.get("help", f.name)]
    bounds = []
    if "min" in meta:
        bounds.append(f"min {format_value(meta['min'])}")
    if "max" in meta:
        bounds.append(f"max {format_value(meta['max'])}")
    if bounds:
        lines.append(", ".join(bounds))
    if "choices" in meta:
        lines.append("one of: " + ", ".join(meta["choices"]))
    default = format_value(f.default) if f.default is not dataclasses.MISSING else "required"
    lines.append(f"default: {default or 'empty (automatic)'}")
    return "\n".join(lines)


class ParamForm(QWidget):
    """Editable values for one params dataclass; `values()` feeds `build_params` / `from_values`."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._fields: list[dataclasses.Field] = []
        self._widgets: dict[str, QWidget] = {}
        self.params_type: type | None = None

    def set_params_type(self, params_type: type, values: dict[str, Any] | None = None) -> None:
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.params_type = params_type
        self._fields = list(dataclasses.fields(params_type))
        self._widgets = {}
        for f in self._fields:
            widget = self._make_widget(f)
            widget.setObjectName(f"param_{f.name}")
            tip = tooltip(f)
            widget.setToolTip(tip)
            label = QLabel(f.name.replace("_", " "))
            label.setToolTip(tip)
            self._layout.addRow(label, widget)
            self._widgets[f.name] = widget
        self.reset()
        if values:
            self.set_values(values)

    def widget(self, name: str) -> QWidget:
        return self._widgets[name]

    def field_names(self) -> list[str]:
        return [f.name for f in self._fields]

    def reset(self) -> None:
        for f in self._fields:
            default = None if f.default is dataclasses.MISSING else f.default
            self._set(f, default)

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill in saved values; ones that no longer fit the field are ignored."""
        for f in self._fields:
            if f.name in values:
                try:
                    self._set(f, values[f.name])
                except (TypeError, ValueError):
                    continue

    def values(self) -> dict[str, Any]:
        """Raw values: bools, ints, choice strings, and text for floats/optionals (None if empty)."""
        out: dict[str, Any] = {}
        for f in self._fields:
            widget = self._widgets[f.name]
            if isinstance(widget, QCheckBox):
                out[f.name] = widget.isChecked()
            elif isinstance(widget, QComboBox):
                out[f.name] = widget.currentText()
            elif isinstance(widget, QSpinBox):
                out[f.name] = widget.value()
            else:
                text = widget.text().strip()
                out[f.name] = text if text else None
        return out

    def params(self) -> Any:
        """The validated params dataclass; raises AdvInspectError with a readable message."""
        from advinspect.core.attacks.base import build_params

        if self.params_type is None:
            raise AdvInspectError("no attack chosen")
        return build_params(self.params_type, self.values())

    # --- building --------------------------------------------------------------------------
    def _make_widget(self, f: dataclasses.Field) -> QWidget:
        kind = field_kind(f)
        meta = f.metadata
        if kind == "bool":
            widget: QWidget = QCheckBox()
            widget.toggled.connect(self.changed)
        elif kind == "choice":
            widget = QComboBox()
            widget.addItems([str(c) for c in meta["choices"]])
            widget.currentIndexChanged.connect(self.changed)
        elif kind == "int":
            widget = QSpinBox()
            widget.setRange(_bound(meta.get("min"), -_INT_LIMIT), _bound(meta.get("max"), _INT_LIMIT))
            widget.setAccelerated(True)
            widget.valueChanged.connect(self.changed)
        else:
            widget = QLineEdit()
            if kind == "optional":
                widget.setPlaceholderText("automatic")
                widget.setClearButtonEnabled(True)
            widget.textChanged.connect(self.changed)
        return widget

    def _set(self, f: dataclasses.Field, value: Any) -> None:
        widget = self._widgets[f.name]
        if isinstance(widget, QCheckBox):
            widget.setChecked(bool(value) if not isinstance(value, str) else value.lower() == "true")
        elif isinstance(widget, QComboBox):
            index = widget.findText(str(value))
            if index >= 0:
                widget.setCurrentIndex(index)
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(value))
        else:
            widget.setText(value if isinstance(value, str) else format_value(value))


def _bound(value: float | None, fallback: int) -> int:
    if value is None or not math.isfinite(value):
        return fallback
    return int(max(-_INT_LIMIT, min(_INT_LIMIT, value)))
