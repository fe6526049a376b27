"""Compare models on one set: clean versus robust accuracy (the trade-off of Tsipras et al. 2018),
robustness curves on one plot, calibration, and the saliency of the same image under each model
(robust models have perceptually aligned gradients).

The work is per batch (`batch_rows`: every model scores and attacks the batch; each image is a
row with, per model, its prediction, calibration terms and per-eps result) and the per-model
numbers are computed once from all the rows (`model_rows`), so a set streamed batch by batch
and one held in memory give the same rows and the same table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, CancelToken
from advinspect.core.models.base import Classifier


def check_models(models: dict[str, Classifier]) -> None:
    """At least one model, all taking the same inputs: checked before any work."""
    if len(models) < 1:
        raise AdvInspectError("compare needs at least one model")
    shapes = {name: clf.spec.input_shape for name, clf in models.items()}
    if len(set(shapes.values())) > 1:
        raise AdvInspectError(f"the models take different inputs: {shapes}")


def batch_rows(models: dict[str, Classifier], x: torch.Tensor, labels: np.ndarray, index: np.ndarray,
               names: list[str], *, attack: str, eps: tuple[float, ...], params: dict[str, Any], seed: int,
               cancel: CancelToken = NEVER) -> list[dict[str, Any]] | None:
    """One row per image of a batch: global index, file, label and, per model, the clean
    prediction, confidence, NLL and Brier terms, and per eps (ascending) whether the attack
    left it correct. The batch is padded (core.data.stream.MIN_ROWS) and the attack seeded by
    (seed, global index), so rows do not depend on the batch size. None when cancelled midway."""
    from advinspect.core.attacks import get_attack
    from advinspect.core.data.stream import padded
    from advinspect.core.metrics.calibration import sample_calibration

    n = len(x)
    labels = np.asarray(labels, dtype=np.int64)
    if (labels < 0).any():
        raise AdvInspectError("compare needs labels: use a folder of class folders")
    rows = [{"index": int(index[i]), "file": names[i], "label": int(labels[i]), "models": {}} for i in range(n)]
    if not n:
        return rows
    xp, yp, ip = padded(x.float(), labels, np.asarray(index, dtype=np.int64))
    y = torch.from_numpy(yp)
    attack_cls = get_attack(attack)
    for name, clf in models.items():
        logits = clf.logits_batched(xp).double().cpu()
        confidence, correct, nll, brier = sample_calibration(logits, y)
        pred = logits.argmax(1).numpy()
        for i in range(n):
            rows[i]["models"][name] = {"pred": int(pred[i]), "confidence": float(confidence[i]),
                                       "correct": bool(correct[i]), "nll": float(nll[i]), "brier": float(brier[i]),
                                       "adv": []}
        for e in sorted(float(v) for v in eps):
            result = attack_cls.from_values({**params, "eps": e}).run(clf, xp, y, cancel=cancel, seed=seed,
                                                                        batch_size=len(xp), index=ip)
            if result.cancelled:
                return None
            held = (result.adv_pred == yp) & result.clean_correct  # as robustness_curve counts it
            for i in range(n):
                rows[i]["models"][name]["adv"].append({"eps": e, "pred": int(result.adv_pred[i]),
                                                       "correct": bool(held[i])})
    return rows


def curve_from_rows(rows: list[dict[str, Any]], name: str, attack: str, params: dict[str, Any]) -> dict[str, Any]:
    """Model `name`'s robustness curve from the rows, as `robustness_curve` computes it: a sample
    counts as broken at eps if any budget up to eps broke it (the envelope)."""
    entries = [r["models"][name]["adv"] for r in rows]
    clean = np.array([r["models"][name]["correct"] for r in rows], dtype=bool)
    broken = np.zeros(len(rows), dtype=bool)
    curve: dict[str, Any] = {"attack": attack, "eps": [], "robust_accuracy": [], "raw_robust_accuracy": [],
                             "success_rate": [], "params": dict(params)}
    for j in range(min((len(e) for e in entries), default=0)):
        wrong = ~np.array([e[j]["correct"] for e in entries], dtype=bool)
        broken |= wrong
        curve["eps"].append(entries[0][j]["eps"])
        curve["raw_robust_accuracy"].append(float((~wrong).mean()))
        curve["robust_accuracy"].append(float((~broken).mean()))
        curve["success_rate"].append(float(broken[clean].mean()) if clean.any() else 0.0)
    return curve


def model_rows(models: dict[str, Classifier], rows: list[dict[str, Any]], *, attack: str,
               params: dict[str, Any]) -> list[dict[str, Any]]:
    """One JSON-ready row per model, computed once from all the image rows."""
    from advinspect.core.metrics.calibration import calibration_from_samples

    table = []
    for name, clf in models.items():
        per = [r["models"][name] for r in rows]
        calib = calibration_from_samples(np.array([p["confidence"] for p in per]), np.array([p["correct"] for p in per]),
                                         np.array([p["nll"] for p in per]), np.array([p["brier"] for p in per]))
        curve = curve_from_rows(rows, name, attack, params)
        table.append({"model": name, "format": clf.format, "sha256": clf.sha256, "clean_accuracy": calib.accuracy,
                      "ece": calib.ece, "nll": calib.nll, "curve": curve,
                      "robust_accuracy": curve["robust_accuracy"][-1] if curve["robust_accuracy"] else None})
    return table


def saliency_maps(models: dict[str, Classifier], x: torch.Tensor, y: torch.Tensor,
                  method: str = "gradient") -> dict[str, np.ndarray]:
    """Each model's map (H, W) of one image x (C, H, W) for its label; occlusion for a model
    without gradients."""
    from advinspect.core.explain import saliency

    return {name: saliency(clf, x[None], y.view(1), method if clf.has_gradients else "occlusion")[0]
            for name, clf in models.items()}


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
