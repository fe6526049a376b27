"""scan: is this model backdoored? Neural Cleanse (a reversed trigger and an anomaly index per
class) and STRIP (prediction entropy under superimposition, thresholded at a false-rejection
rate on clean inputs) on a few clean images; no training data needed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images

METHODS = ("neural-cleanse", "strip")


@dataclass(frozen=True)
class Config:
    method: str = param("neural-cleanse", "scan method", choices=METHODS)
    max_images: int = param(100, "clean images used (the first of the set)", min=2, max=100_000)
    steps: int = param(300, "Neural Cleanse: optimisation steps per class", min=1, max=100_000)
    lr: float = param(0.1, "Neural Cleanse: Adam learning rate", min=1e-6, max=10.0)
    lam: float = param(1e-3, "Neural Cleanse: initial weight of the mask's L1 norm", min=0.0, max=100.0)
    threshold: float = param(2.0, "Neural Cleanse: anomaly index above which a class is flagged", min=0.0)
    overlays: int = param(32, "STRIP: superimposed images per input", min=1, max=10_000)
    frr: float = param(0.05, "STRIP: false-rejection rate on clean inputs that sets the threshold",
                       min=0.0, max=0.5)
    seed: int = param(0, "random seed", min=0, max=2**31 - 1)


@dataclass
class Inputs:
    clf: Any
    images: Images  # clean images (labels not needed)
    check: Images | None = None  # STRIP: inputs to flag at run time


@dataclass
class Result:
    config: Config
    n_images: int
    l1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    anomaly: np.ndarray = field(default_factory=lambda: np.zeros(0))
    success: np.ndarray = field(default_factory=lambda: np.zeros(0))
    masks: np.ndarray | None = None  # (K, H, W)
    patterns: np.ndarray | None = None  # (K, C, H, W) in [0, 1] of the value range
    flagged: list[int] = field(default_factory=list)
    clean_entropy: np.ndarray | None = None
    entropy_threshold: float | None = None
    check: Images | None = None
    check_entropy: np.ndarray | None = None
    check_flags: np.ndarray | None = None
    labels: list[str] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        s: dict[str, Any] = {"method": self.config.method, "n_images": self.n_images, "cancelled": self.cancelled}
        if self.config.method == "neural-cleanse":
            s.update(flagged=list(self.flagged), anomaly_index=[float(v) for v in self.anomaly],
                     mask_l1=[float(v) for v in self.l1], success=[float(v) for v in self.success],
                     max_anomaly_index=float(self.anomaly.max()) if len(self.anomaly) else None)
        else:
            s.update(frr=self.config.frr, entropy_threshold=self.entropy_threshold,
                     n_checked=0 if self.check_flags is None else len(self.check_flags),
                     n_flagged=None if self.check_flags is None else int(self.check_flags.sum()))
        return s

    def summary_text(self) -> list[str]:
        s = self.summary()
        if self.config.method == "neural-cleanse":
            worst = int(np.argmax(self.anomaly)) if len(self.anomaly) else None
            lines = [f"Neural Cleanse on {self.n_images} clean images: "
                     + (f"flagged class(es) {', '.join(self.labels[k] for k in self.flagged)}" if self.flagged
                        else "no class flagged")
                     + (f"; highest anomaly index {self.anomaly[worst]:.2f} (class {self.labels[worst]})"
                        if worst is not None else "")]
        else:
            lines = [f"STRIP: entropy threshold {s['entropy_threshold']:.4f} at {100 * self.config.frr:g}% "
                     f"false rejections on {self.n_images} clean images"]
            if self.check_flags is not None:
                lines.append(f"{s['n_flagged']}/{s['n_checked']} checked inputs flagged as triggered")
        if self.cancelled:
            lines.append("cancelled: the classes/inputs finished so far are kept")
        return lines

    def rows(self) -> list[dict[str, Any]]:
        """Per class (Neural Cleanse) or per checked input (STRIP)."""
        if self.config.method == "neural-cleanse":
            return [{"class": k, "label": self.labels[k], "mask_l1": float(self.l1[k]),
                     "anomaly_index": float(self.anomaly[k]), "success": float(self.success[k]),
                     "flagged": k in self.flagged} for k in range(len(self.l1))]
        if self.check is None or self.check_entropy is None or self.check_flags is None:
            return []
        paths = self.check.paths or self.check.names
        return [{"index": int(self.check.index[i]), "path": paths[i], "entropy": float(self.check_entropy[i]),
                 "flagged": bool(self.check_flags[i])} for i in range(len(self.check_flags))]

    def trigger_images(self) -> np.ndarray | None:
        """(K, C, H, W) in [0, 1]: each class's reversed trigger, mask · pattern."""
        if self.masks is None or self.patterns is None:
            return None
        return self.masks[:, None] * self.patterns

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "config": asdict(self.config), "rows": self.rows()}

    def report_section(self) -> Any:
        from advinspect.core.backdoor.report import scan_section

        return scan_section(self)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.errors import AdvInspectError

    clf, images = inputs.clf, inputs.images
    if len(images) < 2:
        raise AdvInspectError("scan needs at least two clean images")
    labels = list(clf.spec.labels or [str(k) for k in range(clf.num_classes)])
    x = images.subset(np.arange(min(len(images), config.max_images))).tensor()  # only those decoded
    result = Result(config, len(x), labels=labels)
    if config.method == "neural-cleanse":
        if not clf.has_gradients:
            raise AdvInspectError("Neural Cleanse needs a model with gradients (PyTorch); STRIP works on any model")
        _neural_cleanse(result, clf, x, config, progress, cancel)
    else:
        _strip(result, clf, x, inputs, config, progress, cancel)
    return result


def _neural_cleanse(result: Result, clf: Any, x: Any, config: Config, progress: Progress,
                    cancel: CancelToken) -> None:
    from advinspect.core.backdoor.neural_cleanse import (
        anomaly_index,
        flagged_classes,
        neural_cleanse,
    )

    found = neural_cleanse(clf, x, config.steps, config.lr, config.lam, config.seed, progress, cancel)
    result.cancelled = len(found) < clf.num_classes
    if not found:
        return
    result.l1 = np.array([t.l1 for t in found])
    result.success = np.array([t.success for t in found])
    result.masks = np.stack([t.mask for t in found]).astype(np.float32)
    result.patterns = np.stack([t.pattern for t in found]).astype(np.float32)
    if not result.cancelled:
        result.anomaly = anomaly_index(result.l1)
        result.flagged = flagged_classes(result.l1, config.threshold)


def _strip(result: Result, clf: Any, x: Any, inputs: Inputs, config: Config, progress: Progress,
           cancel: CancelToken) -> None:
    from advinspect.core.backdoor.strip import strip_entropy, threshold_at_frr

    progress(0, 2, "STRIP on the clean images")
    result.clean_entropy = strip_entropy(clf, x, x, config.overlays, config.seed, cancel=cancel)
    result.entropy_threshold = threshold_at_frr(result.clean_entropy, config.frr)
    if inputs.check is not None and not cancel.cancelled:
        progress(1, 2, "STRIP on the inputs to check")
        result.check = inputs.check
        result.check_entropy = strip_entropy(clf, inputs.check.tensor(), x, config.overlays, config.seed,
                                             index=inputs.check.index, cancel=cancel)
        result.check_flags = result.check_entropy < result.entropy_threshold
    result.cancelled = cancel.cancelled
    progress(2, 2, "done")
