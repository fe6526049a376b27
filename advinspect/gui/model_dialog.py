"""The model dialog: what a model file does not say about itself — a state_dict's architecture,
a TorchScript model's input shape, the value range, normalization, labels, resize policy.

It is the `open.Config` form (the same fields as every command's model flags), pre-filled with
what the file and its sidecar tell and with what was tried last, and headed by the loader's own
message (which names both shapes on a mismatch). The window shows it whenever opening a file
fails for want of these; the model is then opened with them on the worker, and the spec saved as
the sidecar once the model accepts it. A still-wrong value brings the dialog back with the new
message: the check on OK is the real load, never a guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.gui.widgets.param_form import ParamForm

# Fields the window sets elsewhere (device selector, the trust question)
EXCLUDED = ("device", "trust_pickle")


def prefill(path: str, tried: dict[str, Any]) -> dict[str, Any]:
    """What the file's sidecar says, under what the user tried last."""
    from advinspect.core.models.spec import read_sidecar

    values: dict[str, Any] = {}
    try:
        spec = read_sidecar(path)
    except AdvInspectError:
        spec = None
    if spec is not None:
        for name in ("input_shape", "value_range", "mean", "std"):
            value = getattr(spec, name)
            if value is not None:
                values[name] = value
        values["resize"] = spec.resize
    values.update({k: v for k, v in tried.items() if v not in (None, "")})
    return values


class ModelDialog(QDialog):
    """The open.Config form for one file; `options()` are the values to open it with."""

    def __init__(self, path: str, message: str, tried: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from advinspect.core.tasks import open as open_task

        self.setObjectName("ModelDialog")
        self.setWindowTitle(f"Open {Path(path).name}")
        self.path = path
        layout = QVBoxLayout(self)
        head = QLabel(f"<b>{Path(path).name}</b> needs more than it says:<br>{message}")
        head.setObjectName("model_dialog_message")
        head.setWordWrap(True)
        layout.addWidget(head)
        self.form = ParamForm()
        self.form.set_params_type(open_task.Config, prefill(path, dict(tried or {})), exclude=EXCLUDED)
        layout.addWidget(self.form)
        row = QHBoxLayout()
        browse = QPushButton("Labels file…")
        browse.setToolTip("a text file with one class name per line, or a JSON list")
        browse.clicked.connect(self._browse_labels)
        row.addWidget(browse)
        row.addStretch(1)
        layout.addLayout(row)
        self.error = QLabel("")
        self.error.setObjectName("model_dialog_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labels file", str(Path(self.path).parent),
                                              "Labels (*.txt *.json);;All files (*)")
        if path:
            self.form.set_values({"labels": path})

    def options(self) -> dict[str, Any]:
        """The non-empty fields as text, validated as the CLI validates its flags (raises)."""
        self.form.config()  # AdvInspectError names the field and outlines it
        return {k: v for k, v in self.form.values().items() if v not in (None, "")}

    def accept(self) -> None:
        try:
            self.options()
        except AdvInspectError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


def ask_model_options(parent: QWidget | None, path: str, message: str,
                      tried: dict[str, Any]) -> dict[str, Any] | None:
    """Show the dialog modally; the options to open `path` with, or None when cancelled.
    Tests replace this function (it is looked up on the module at call time)."""
    from advinspect.gui import dialogs

    if dialogs.headless():
        return None
    dialog = ModelDialog(path, message, tried, parent)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.options()
    finally:
        dialog.deleteLater()
