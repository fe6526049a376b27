"""Compare models on one set: clean versus robust accuracy (the trade-off of Tsipras et al. 2018),
robustness curves on one plot, calibration, and the saliency of the same image under each model
(robust models have perceptually aligned gradients)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.metrics.calibration import calibration
from advinspect.core.metrics.robustness import robustness_curve
from advinspect.core.models.base import Classifier


def compare_models(models: dict[str, Classifier], x: torch.Tensor, y: torch.Tensor, *, attack: str = "pgd",
                   eps: tuple[float, ...] = (0.0, 0.05, 0.1), params: dict[str, Any] | None = None,
                   saliency_index: int = 0, saliency_method: str = "gradient", seed: int = 0,
                   progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> dict[str, Any]:
    """One row per model (JSON-ready) plus saliency maps (numpy, not serialized) for one image."""
    from advinspect.core.explain import saliency

    if len(models) < 1:
        raise AdvInspectError("compare needs at least one model")
    if (y < 0).any():
        raise AdvInspectError("compare needs labels: use a folder of class folders")
    shapes = {name: clf.spec.input_shape for name, clf in models.items()}
    if len(set(shapes.values())) > 1:
        raise AdvInspectError(f"the models take different inputs: {shapes}")
    rows, maps = [], {}
    for index, (name, clf) in enumerate(models.items()):
        if cancel.cancelled:
            break

        def forward(event, index=index, name=name):
            progress(index * event.total + event.step, len(models) * event.total, f"{name}: {event.message}")

        logits = clf.logits_batched(x).cpu()
        curve, _ = robustness_curve(clf, x, y, attack, list(eps), params,
                                    progress=Progress(forward) if progress.active else NO_PROGRESS,
                                    cancel=cancel, seed=seed)
        calib = calibration(logits, y)
        rows.append({
            "model": name, "format": clf.format, "sha256": clf.sha256,
            "clean_accuracy": calib.accuracy, "ece": calib.ece, "nll": calib.nll,
            "curve": curve.to_dict(),
            "robust_accuracy": curve.robust_accuracy[-1] if curve.robust_accuracy else None,
        })
        method = saliency_method if clf.has_gradients else "occlusion"
        maps[name] = saliency(clf, x[saliency_index:saliency_index + 1], y[saliency_index:saliency_index + 1],
                              method)[0]
        rows[-1]["saliency_alignment"] = saliency_alignment(maps[name], x[saliency_index].cpu().numpy())
    return {"attack": attack, "eps": list(eps), "models": rows, "saliency_index": saliency_index,
            "saliency_method": saliency_method, "saliency": maps, "cancelled": bool(cancel.cancelled)}


def saliency_alignment(map_: np.ndarray, image: np.ndarray) -> float:
    """Correlation between a saliency map and the image's own edges: a rough number for how
    'perceptually aligned' a model's gradients are (higher for robust models)."""
    gray = image.mean(0) if image.ndim == 3 else image
    gy, gx = np.gradient(gray)
    edges = np.hypot(gx, gy).ravel()
    values = map_.ravel()
    if values.std() == 0 or edges.std() == 0:
        return 0.0
    return float(np.corrcoef(values, edges)[0, 1])
