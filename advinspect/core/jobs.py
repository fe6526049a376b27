"""Jobs: progress reporting, cancellation and device selection shared by the GUI and the CLI.

A job is a plain function `(inputs, progress, cancel) -> Result`. The GUI worker and the CLI
(with a terminal progress bar) are two ways to run the same function.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advinspect.core.errors import AdvInspectError


@dataclass(frozen=True)
class ProgressEvent:
    """One progress point: `step` of `total`, a message and an optional preview (numpy data)."""

    step: int
    total: int
    message: str = ""
    preview: Any = None


class Progress:
    """Callable sink for progress events; the default does nothing."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None = None, *, previews: bool = False) -> None:
        self._callback = callback
        self._previews = previews

    def __call__(self, step: int, total: int, message: str = "", preview: Any = None) -> None:
        if self._callback is not None:
            self._callback(ProgressEvent(step, total, message, preview))

    @property
    def active(self) -> bool:
        return self._callback is not None

    @property
    def wants_preview(self) -> bool:
        """Previews cost a copy to the CPU; only made when the listener asked (the GUI does)."""
        return self._callback is not None and self._previews


class CancelToken:
    """Set from any thread; checked by jobs between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __bool__(self) -> bool:  # `if cancel:` reads naturally in loops
        return self.cancelled


class _NeverCancel(CancelToken):
    def cancel(self) -> None:  # a shared default must not be cancellable
        raise RuntimeError("NEVER cannot be cancelled; create a CancelToken()")


NO_PROGRESS = Progress()
NEVER: CancelToken = _NeverCancel()


def select_device(name: str | None = "auto") -> Any:
    """Resolve `auto|cpu|cuda|cuda:N` to a torch.device; auto picks CUDA when available."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AdvInspectError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise AdvInspectError(
                f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return device
    raise AdvInspectError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")
