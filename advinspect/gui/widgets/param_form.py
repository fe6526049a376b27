"""A parameter form generated from a frozen dataclass of `param()` fields: an attack's
parameters or a verb's `Config` (core/tasks/<verb>.py), the same schema the CLI builds its flags from.

Field kinds handled generically: bool (check box), str with choices (combo box), int (spin box),
float, lists (`0,1/255,8/255`) and anything optional (line edit: accepts `8/255`; empty means
None). Tooltips come from the metadata `help`, `min`, `max` and the default, so a new attack or
verb needs no GUI code. `config()` validates through `core.tasks.base.make_config` (the CLI's
path) and marks the offending field.
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


INVALID_STYLE = "border: 1px solid #c0392b;"


def field_kind(f: dataclasses.Field, choices: tuple[str, ...] | None = None) -> str:
    """bool | choice | int | float | list | optional | text, from the annotation and metadata."""
    kind = str(f.type).replace(" ", "")
    optional = "None" in kind or f.default is None
    if choices is not None or "choices" in f.metadata:
        return "choice"
    if kind.startswith("tuple"):
        return "list"
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
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(v) for v in value)
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
        self._choices: dict[str, tuple[str, ...]] = {}
        self.params_type: type | None = None
        self.invalid: str | None = None  # the field the last failed validation named

    def set_params_type(self, params_type: type, values: dict[str, Any] | None = None, *,
                        exclude: tuple[str, ...] = (), choices: dict[str, Any] | None = None) -> None:
        """One row per field; `exclude` leaves fields to the panel (e.g. the images' scope),
        `choices` offers a combo box for a free-text field (e.g. the attacks in the registry).
        A dict field (extra attack parameters) has no form row."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.params_type = params_type
        self._fields = [f for f in dataclasses.fields(params_type)
                        if f.name not in exclude and not str(f.type).startswith("dict")]
        self._choices = {k: tuple(str(c) for c in v) for k, v in (choices or {}).items()}
        self._widgets = {}
        self.invalid = None
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

    def config(self, **overrides: Any) -> Any:
        """The verb's Config from these fields (plus `overrides` for the fields the panel owns),
        validated by `make_config` as the CLI's flags are; the field at fault is outlined and its
        tooltip says why."""
        from advinspect.core.tasks.base import make_config

        if self.params_type is None:
            raise AdvInspectError("no form")
        self.mark_invalid(None)
        try:
            return make_config(self.params_type, self.values(), **overrides)
        except AdvInspectError as exc:
            message = str(exc)
            named = [n for n in self._widgets if message.startswith(n + " ") or f"{n!r}" in message]
            self.mark_invalid(named[0] if named else None, message)
            raise

    def mark_invalid(self, name: str | None, message: str = "") -> None:
        """Outline field `name` (None: clear the mark)."""
        if self.invalid is not None and self.invalid in self._widgets:
            widget = self._widgets[self.invalid]
            widget.setStyleSheet("")
            widget.setToolTip(tooltip(next(f for f in self._fields if f.name == self.invalid)))
        self.invalid = name
        if name is not None and name in self._widgets:
            widget = self._widgets[name]
            widget.setStyleSheet(INVALID_STYLE)
            widget.setToolTip(f"{message}\n\n{widget.toolTip()}")

    # --- building --------------------------------------------------------------------------
    def _make_widget(self, f: dataclasses.Field) -> QWidget:
        kind = field_kind(f, self._choices.get(f.name))
        meta = f.metadata
        if kind == "bool":
            widget: QWidget = QCheckBox()
            widget.toggled.connect(self.changed)
        elif kind == "choice":
            widget = QComboBox()
            widget.addItems(list(self._choices.get(f.name) or [str(c) for c in meta["choices"]]))
            widget.currentIndexChanged.connect(self.changed)
        elif kind == "int":
            widget = QSpinBox()
            widget.setRange(_bound(meta.get("min"), -_INT_LIMIT), _bound(meta.get("max"), _INT_LIMIT))
            widget.setAccelerated(True)
            widget.valueChanged.connect(self.changed)
        else:
            widget = QLineEdit()
            if kind == "list":
                widget.setPlaceholderText("comma-separated")
            elif kind == "optional":
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
