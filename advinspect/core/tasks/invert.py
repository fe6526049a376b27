"""invert: what does the model think a class looks like? MIFace model inversion, with a stopping
rule that stops (core.privacy.inversion), and an independent check: a second model classifies
each reconstruction (a reconstruction only the attacked model recognises is an adversarial
example, not a recovered face or digit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param


@dataclass(frozen=True)
class Config:
    classes: tuple[float, ...] = param((), "class indices to reconstruct, e.g. 0,3 (empty: all)")
    max_steps: int = param(2000, "gradient steps at most", min=1, max=1_000_000)
    step_size: float = param(0.1, "gradient step on the image", min=0.0, max=1e3)
    window: int = param(100, "stop when the cost has not improved over this many steps", min=1, max=1_000_000)
    tolerance: float = param(1e-4, "smallest improvement that counts", min=0.0, max=1.0)
    gamma: float = param(0.01, "stop as soon as the cost is at most this (cost = 1 - p_class [+ TV])", min=0.0,
                         max=1.0)
    tv_weight: float = param(0.0, "weight of the total-variation prior (0: none)", min=0.0, max=1e3)


@dataclass
class Inputs:
    clf: Any
    check_clf: Any = None  # a second, independently trained model


@dataclass
class Result:
    config: Config
    classes: list[int]
    labels: list[str]
    inversion: Any  # core.privacy.inversion.Inversion
    check_pred: np.ndarray | None = None

    @property
    def cancelled(self) -> bool:
        return bool(self.inversion.cancelled)

    @property
    def check_rate(self) -> float | None:
        if self.check_pred is None:
            return None
        return float((self.check_pred == np.asarray(self.classes)).mean())

    def summary(self) -> dict[str, Any]:
        inv = self.inversion
        return {"classes": len(self.classes), "mean_confidence": float(inv.confidence.mean()),
                "median_iterations": float(np.median(inv.iterations)),
                "stopped": {r: inv.stopped.count(r) for r in sorted(set(inv.stopped))},
                "check_rate": self.check_rate, "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        stops = ", ".join(f"{n} by {r}" for r, n in s["stopped"].items())
        lines = [f"{s['classes']} class(es) inverted: mean confidence of the model {s['mean_confidence']:.4f}, "
                 f"median {s['median_iterations']:.0f} steps ({stops})"]
        if s["check_rate"] is not None:
            lines.append(f"second model classifies {s['check_rate']:.4f} of the reconstructions as their class")
        if self.cancelled:
            lines.append("cancelled: the best image of each class so far is shown")
        return lines

    def rows(self) -> list[dict[str, Any]]:
        inv = self.inversion
        return [{"class": c, "label": self.labels[i], "confidence": float(inv.confidence[i]),
                 "cost": float(inv.cost[i]), "iterations": int(inv.iterations[i]), "stopped": inv.stopped[i],
                 "check_prediction": None if self.check_pred is None else int(self.check_pred[i])}
                for i, c in enumerate(self.classes)]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "rows": self.rows(), "cancelled": self.cancelled,
                "config": {k: getattr(self.config, k) for k in self.config.__dataclass_fields__}}

    def report_section(self) -> Any:
        from advinspect.core.report.sections import Section, Table, figure_from_array, image_grid

        rows = self.rows()
        table = Table(["class", "confidence", "steps", "stopped", "second model says"],
                      [[r["label"], r["confidence"], r["iterations"], r["stopped"],
                        None if r["check_prediction"] is None else self.labels_of(r["check_prediction"])]
                       for r in rows], "per class")
        x = self.inversion.images
        grid = image_grid(x - x.min() if x.min() < 0 else x, columns=min(10, len(x)))
        figure = figure_from_array(grid, "MIFace reconstructions, one per class in order", scale=3)
        return Section("Model inversion (MIFace)", self.summary_text(), [table], [figure])

    def labels_of(self, index: int) -> str:
        return self.labels[self.classes.index(index)] if index in self.classes else str(index)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.privacy.inversion import miface

    clf = inputs.clf
    if clf.spec.input_shape is None:
        raise AdvInspectError("invert needs a model with a known input shape (give --input-shape C,H,W)")
    classes = [int(c) for c in config.classes] or list(range(clf.num_classes))
    bad = [c for c in classes if not 0 <= c < clf.num_classes]
    if bad:
        raise AdvInspectError(f"invert: no class {bad[0]}: the model has classes 0..{clf.num_classes - 1}")
    if inputs.check_clf is not None and tuple(inputs.check_clf.spec.input_shape or ()) != tuple(clf.spec.input_shape):
        raise AdvInspectError(f"invert: the check model takes {inputs.check_clf.spec.input_shape}, "
                              f"the model {clf.spec.input_shape}")
    inversion = miface(clf, classes, max_steps=config.max_steps, step_size=config.step_size, window=config.window,
                       tolerance=config.tolerance, gamma=config.gamma, tv_weight=config.tv_weight,
                       progress=progress, cancel=cancel)
    labels = [clf.spec.labels[c] for c in classes]
    check = None
    if inputs.check_clf is not None:
        check = inputs.check_clf.predict(torch.from_numpy(inversion.images)).cpu().numpy()
    return Result(config, classes, labels, inversion, check)
