"""Batch evaluation over a labelled set: clean accuracy, robustness curves, confidence
histograms, calibration (with temperature scaling), per-class accuracy, confusion matrices and
sanity checks. One job function shared by `advinspect evaluate` and the GUI's Evaluate dock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.metrics.calibration import calibration, fit_temperature, split_indices
from advinspect.core.metrics.robustness import robustness_curve, sanity_warnings
from advinspect.core.models.base import Classifier
from advinspect.core.params import DEFAULT_EPS

HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class EvaluationConfig:
    attacks: tuple[str, ...] = ("pgd",)
    eps: tuple[float, ...] = DEFAULT_EPS
    params: dict[str, Any] = field(default_factory=dict)  # shared attack parameters (steps, ...)
    calibration_split: float = 0.5
    n_bins: int = 15
    seed: int = 0
    batch_size: int | None = None
    sanity_checks: bool = True


@dataclass
class Evaluation:
    """JSON-ready numbers in `data`; per-sample arrays (for linking plots to images) beside them."""

    data: dict[str, Any]
    labels: np.ndarray
    clean_pred: np.ndarray
    clean_confidence: np.ndarray
    adv_pred: np.ndarray | None
    adv_confidence: np.ndarray | None
    x_adv: np.ndarray | None
    cancelled: bool = False
    # per attack, its (eps, adv_numbers) in ascending eps: what each sample's row keeps (no images)
    per_eps: dict[str, list[tuple[float, dict[str, np.ndarray]]]] = field(default_factory=dict)


def adv_numbers(result: Any, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The per-sample numbers a row keeps of one attack run at one eps: the adversarial
    prediction and confidence, whether it is still correct (and was correct clean, with finite
    outputs), and the norms. The streamed rows and the in-memory evaluation both use it, so their
    `samples` agree."""
    n = len(labels)
    correct = (result.adv_pred[:n] == labels) & result.clean_correct[:n] & ~result.nonfinite[:n]
    return {"pred": result.adv_pred[:n], "confidence": result.adv_confidence[:n], "correct": correct,
            "linf": result.linf[:n], "l2": result.l2[:n]}


def confusion_matrix(labels: np.ndarray, pred: np.ndarray, k: int) -> list[list[int]]:
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels, pred), 1)
    return matrix.tolist()


def confidence_histogram(confidence: np.ndarray) -> list[int]:
    return np.histogram(confidence, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0].tolist()


def params_for(attack: str, config: EvaluationConfig) -> dict[str, Any]:
    """The shared parameters this attack takes (FGSM has no `steps`, PGD has); a parameter no
    chosen attack takes is a typo, and an error."""
    import dataclasses

    from advinspect.core.attacks import get_attack

    accepted = {a: {f.name for f in dataclasses.fields(get_attack(a).params_type)} for a in config.attacks}
    unknown = [k for k in config.params if not any(k.replace("-", "_") in names for names in accepted.values())]
    if unknown:
        raise AdvInspectError(f"no chosen attack takes the parameter(s) {', '.join(unknown)}")
    return {k: v for k, v in config.params.items() if k.replace("-", "_") in accepted[attack]}


def _reference_eps(eps: list[float]) -> float:
    """The budget whose adversarials feed histograms and calibration: the median non-zero eps,
    where some images flip and some hold (at the largest eps nearly every image flips)."""
    nonzero = sorted(e for e in eps if e > 0) or sorted(eps)
    return nonzero[(len(nonzero) - 1) // 2]


def assemble(labels: np.ndarray, logits: torch.Tensor, curves: list[dict[str, Any]], config: EvaluationConfig,
             k: int, spec: Any, *, reference: dict[str, Any] | None = None, adv_pred: np.ndarray | None = None,
             adv_confidence: np.ndarray | None = None, adv_logits: torch.Tensor | None = None) -> dict[str, Any]:
    """The evaluation's numbers from per-sample values: clean logits (N, K) with the labels, the
    curves, and the reference attack's adversarial predictions. The in-memory evaluation and
    the streamed one (from rows) both build their JSON here, so they agree."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    probs = logits.softmax(1)
    clean_conf_t, clean_pred_t = probs.max(1)
    clean_pred, clean_conf = clean_pred_t.numpy(), clean_conf_t.numpy()
    clean_correct = clean_pred == labels
    fit, held = split_indices(len(labels), config.calibration_split, config.seed)
    temperature = fit_temperature(logits[fit], labels[fit]) if len(fit) else 1.0
    calib = calibration(logits, labels, config.n_bins)
    data: dict[str, Any] = {
        "n": len(labels),
        "clean_accuracy": float(clean_correct.mean()) if len(labels) else 0.0,
        "curves": list(curves),
        "calibration": {
            **calib.to_dict(),
            "temperature": temperature,
            "ece_after_temperature": calibration(logits[held], labels[held], config.n_bins, temperature).ece,
            "held_out_before": calibration(logits[held], labels[held], config.n_bins).to_dict(),
            "held_out_after": calibration(logits[held], labels[held], config.n_bins, temperature).to_dict(),
            "split": {"fit": len(fit), "held_out": len(held), "seed": config.seed},
        },
        "per_class": [],
        "confusion": {"clean": confusion_matrix(labels, clean_pred, k)},
        "histograms": {
            "bins": np.linspace(0, 1, HISTOGRAM_BINS + 1).tolist(),
            "clean": confidence_histogram(clean_conf),
            "correct": confidence_histogram(clean_conf[clean_correct]),
            "wrong": confidence_histogram(clean_conf[~clean_correct]),
        },
        "labels": list(spec.labels or []),
        "warnings": [],
    }
    if reference is not None and adv_pred is not None and adv_confidence is not None and adv_logits is not None:
        data["reference_attack"] = reference
        data["confusion"]["adversarial"] = confusion_matrix(labels, adv_pred, k)
        data["histograms"]["adversarial"] = confidence_histogram(adv_confidence)
        data["calibration"]["adversarial"] = calibration(adv_logits, labels, config.n_bins).to_dict()
    for c in range(k):
        mask = labels == c
        if mask.any():
            row = {"class": spec.label_name(c), "n": int(mask.sum()), "clean_accuracy": float(clean_correct[mask].mean())}
            if adv_pred is not None:
                row["adversarial_accuracy"] = float((adv_pred[mask] == c).mean())
            data["per_class"].append(row)
    return data


def evaluate(clf: Classifier, x: torch.Tensor, y: torch.Tensor, config: EvaluationConfig = EvaluationConfig(), *,
             progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER,
             index: np.ndarray | None = None) -> Evaluation:
    """The whole evaluation in memory. `index` holds each sample's global index (default
    0..N-1): it seeds the attacks' per-sample randomness, so a streamed run of the same samples
    gives the same rows."""
    if not len(x):
        raise AdvInspectError("nothing to evaluate: the set is empty")
    if (y < 0).any():
        raise AdvInspectError("evaluation needs labels: use a folder of class folders (e.g. digits/3/*.png)")
    if not 0 < config.calibration_split < 1:
        raise AdvInspectError("the calibration split must lie strictly between 0 and 1")
    k = clf.num_classes
    labels = y.cpu().numpy()
    logits = clf.logits_batched(x).double().cpu()
    probs = logits.softmax(1)
    clean_conf, clean_pred_t = probs.max(1)
    clean_pred, clean_conf = clean_pred_t.numpy(), clean_conf.numpy()
    clean_correct = clean_pred == labels
    clean_accuracy = float(clean_correct.mean())

    curves, reference = [], None
    per_eps: dict[str, list[tuple[float, dict[str, np.ndarray]]]] = {}
    n_runs = len(config.attacks)
    for number, name in enumerate(config.attacks):
        if cancel.cancelled:
            break

        def forward(event, number=number):
            progress(number * event.total + event.step, n_runs * event.total, event.message, event.preview)

        curve, results = robustness_curve(
            clf, x, y, name, list(config.eps), params_for(name, config), progress=Progress(forward) if progress.active
            else NO_PROGRESS, cancel=cancel, seed=config.seed, batch_size=config.batch_size, index=index)
        curves.append(curve)
        per_eps[name] = [(eps, adv_numbers(result, labels)) for eps, result in sorted(results.items())]
        if reference is None and results:
            reference = results[_reference_eps(list(results))]

    adv_pred = adv_conf = x_adv = adv_logits = None
    reference_info = None
    if reference is not None:
        adv_pred, adv_conf, x_adv = reference.adv_pred, reference.adv_confidence, reference.x_adv
        adv_logits = clf.logits_batched(torch.as_tensor(x_adv)).double().cpu()
        reference_info = {"attack": reference.attack, "eps": reference.params.get("eps")}
    data = assemble(labels, logits, [c.to_dict() for c in curves], config, k, clf.spec,
                    reference=reference_info, adv_pred=adv_pred, adv_confidence=adv_conf, adv_logits=adv_logits)
    if config.sanity_checks and not cancel.cancelled:
        progress(1, 1, "sanity checks")
        data["warnings"] = sanity_warnings(clf, x, y, clean_accuracy, curves, seed=config.seed, cancel=cancel,
                                           steps=int(config.params.get("steps", 10) or 10))
    data["cancelled"] = bool(cancel.cancelled)
    return Evaluation(data, labels, clean_pred, clean_conf, adv_pred, adv_conf, x_adv, cancelled=bool(cancel.cancelled),
                      per_eps=per_eps)
