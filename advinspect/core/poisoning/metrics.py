"""The backdoor metrics, always together (BackdoorBench's triple):

C-Acc  clean test accuracy;
ASR    attack success rate: triggered test images of the *other* classes classified as the target;
RA     robust accuracy: those triggered images still classified as their true class.

For a label flip (no trigger) the "triggered" images are the clean test images of the source
class: ASR is how many go to the target, RA how many stay right; a random flip has C-Acc only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from advinspect.core.poisoning.triggers import Trigger


@dataclass
class BackdoorMetrics:
    c_acc: float
    asr: float | None
    ra: float | None
    n_clean: int
    n_triggered: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.2f}%"

        return f"C-Acc {pct(self.c_acc)}, ASR {pct(self.asr)}, RA {pct(self.ra)}"


def backdoor_metrics(clf: Any, x: torch.Tensor, y: np.ndarray, target: int, trigger: Trigger | None,
                     source: int = -1) -> BackdoorMetrics:
    """C-Acc, ASR and RA of `clf` on the test set (x, y); see the module doc."""
    y = np.asarray(y, dtype=np.int64)
    clean = clf.predict(x).cpu().numpy()
    c_acc = float((clean == y).mean()) if len(y) else 0.0
    if trigger is None:
        if source < 0:
            return BackdoorMetrics(c_acc, None, None, len(y), 0)
        keep = y == source
        pred = clean[keep]
    else:
        keep = y != target
        pred = clf.predict(trigger.apply(x[torch.as_tensor(np.flatnonzero(keep))], clf.spec.value_range)).cpu().numpy()
    if not keep.any():
        return BackdoorMetrics(c_acc, None, None, len(y), 0)
    return BackdoorMetrics(c_acc, float((pred == target).mean()), float((pred == y[keep]).mean()), len(y),
                           int(keep.sum()))
