"""Robust-accuracy-versus-epsilon curves and the sanity checks that make them worth trusting.

Checks follow Carlini et al. 2019 ("On Evaluating Adversarial Robustness") and AutoAttack's
flags: eps=0 equals clean accuracy, accuracy never rises with eps or with more steps, an
unbounded attack reaches ~100% success, and black-box beating white-box, zero gradients or
randomness in the outputs point to gradient masking.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.base import AttackResult
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.base import Classifier


@dataclass
class Curve:
    """One attack's curve. `robust_accuracy` counts a sample broken at eps if any attack run at
    eps' <= eps broke it (an adversarial inside a smaller ball lies inside the larger one), so it
    is monotone; `raw_robust_accuracy` is each run on its own, kept to expose weak attacks."""

    attack: str
    eps: list[float]
    robust_accuracy: list[float]
    raw_robust_accuracy: list[float]
    success_rate: list[float]
    params: dict[str, Any] = field(default_factory=dict)
    still_robust: np.ndarray | None = None  # per sample, at the largest eps (envelope)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("still_robust")
        return data


def robustness_curve(
    clf: Classifier, x: torch.Tensor, y: torch.Tensor, attack: str, eps_list: list[float],
    params: dict[str, Any] | None = None, *, progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER,
    seed: int = 0, batch_size: int | None = None, index: np.ndarray | None = None,
) -> tuple[Curve, dict[float, AttackResult]]:
    """Run `attack` at each eps (sorted ascending); returns the curve and the per-eps results.
    `index` holds each sample's global index (its seed with `seed`; default 0..N-1)."""
    attack_cls = get_attack(attack)
    eps_sorted = sorted(float(e) for e in eps_list)
    labels = y.cpu().numpy()
    broken = np.zeros(len(x), dtype=bool)
    curve = Curve(attack, [], [], [], [], dict(params or {}))
    results: dict[float, AttackResult] = {}
    for i, eps in enumerate(eps_sorted):
        if cancel.cancelled:
            break
        values = {**(params or {}), "eps": eps}
        run = attack_cls.from_values(values)
        offset = i

        def forward(event, offset=offset, eps=eps):
            progress(offset * event.total + event.step, len(eps_sorted) * event.total,
                     f"{attack} eps={eps:.4g}: {event.message}", event.preview)

        result = run.run(clf, x, y, progress=Progress(forward) if progress.active else NO_PROGRESS,
                         cancel=cancel, seed=seed, batch_size=batch_size, index=index)
        results[eps] = result
        adv_wrong = (result.adv_pred != labels) | ~result.clean_correct
        broken |= adv_wrong
        curve.eps.append(eps)
        curve.raw_robust_accuracy.append(float((~adv_wrong).mean()))
        curve.robust_accuracy.append(float((~broken).mean()))
        correct = result.clean_correct
        curve.success_rate.append(float(broken[correct].mean()) if correct.any() else 0.0)
    curve.still_robust = ~broken
    return curve, results


def sanity_warnings(
    clf: Classifier, x: torch.Tensor, y: torch.Tensor, clean_accuracy: float, curves: list[Curve], *,
    steps: int = 10, seed: int = 0, cancel: CancelToken = NEVER, check_black_box: bool = True,
) -> list[str]:
    """Evaluation sanity checks; each returned string is one warning for the GUI and the JSON."""
    warnings: list[str] = []
    for curve in curves:
        if curve.eps and curve.eps[0] == 0 and abs(curve.raw_robust_accuracy[0] - clean_accuracy) > 1e-9:
            warnings.append(f"{curve.attack}: robust accuracy at eps=0 ({curve.raw_robust_accuracy[0]:.4f}) differs "
                            f"from clean accuracy ({clean_accuracy:.4f}): the model or the attack is not deterministic")
        raw = curve.raw_robust_accuracy
        rises = [(curve.eps[i], curve.eps[i + 1]) for i in range(len(raw) - 1) if raw[i + 1] > raw[i] + 1e-9]
        if rises:
            a, b = rises[0]
            warnings.append(f"{curve.attack}: robust accuracy rises from eps={a:.4g} to eps={b:.4g}; the attack is "
                            "not finding the strongest adversarials (the curve reports the envelope)")
    if cancel.cancelled or not len(x):
        return warnings
    warnings += _randomness_check(clf, x)
    if clf.has_gradients:
        warnings += _gradient_checks(clf, x, y, curves, steps, seed, cancel, check_black_box)
    return warnings


def _randomness_check(clf: Classifier, x: torch.Tensor) -> list[str]:
    sample = x[:32]
    first, second = clf.logits_batched(sample), clf.logits_batched(sample)
    if not torch.allclose(first, second, atol=1e-5):
        return ["the model's outputs change between two identical calls (randomized defense?): use EOT attacks "
                "and several runs before trusting a robust accuracy"]
    return []


def _gradient_checks(clf: Classifier, x: torch.Tensor, y: torch.Tensor, curves: list[Curve], steps: int,
                     seed: int, cancel: CancelToken, check_black_box: bool) -> list[str]:
    warnings = []
    sample_x, sample_y = x[:64], y[:64]
    grad = clf.gradient(sample_x, sample_y).flatten(1)
    zero = (grad.abs().max(1).values == 0).float().mean().item()
    if zero > 0.05:
        warnings.append(f"{zero:.0%} of the inputs have an all-zero input gradient: gradient masking makes "
                        "gradient attacks fail; try black-box attacks (square, hopskipjump)")
    lo, hi = clf.spec.value_range
    unbounded = get_attack("pgd").from_values({"eps": hi - lo, "steps": max(steps, 20)}).run(
        clf, sample_x, sample_y, seed=seed, cancel=cancel)
    correct = unbounded.clean_correct
    if correct.any() and unbounded.success[correct].mean() < 0.99:
        warnings.append(f"an unbounded PGD attack (eps = the whole value range) succeeds on only "
                        f"{unbounded.success[correct].mean():.0%} of the images: expected ~100%, "
                        "so gradients are probably masked or the attack is broken")
    for curve in curves:
        if cancel.cancelled or not curve.eps or get_attack(curve.attack).needs_gradients is False:
            continue
        eps = curve.eps[-1]
        params = {**curve.params, "eps": eps}
        base_steps = int(params.get("steps", 0) or 0)
        if base_steps:
            params["steps"] = base_steps * 2
            more = get_attack(curve.attack).from_values(params).run(clf, x, y, seed=seed, cancel=cancel)
            more_acc = more.summary()["robust_accuracy"]
            if more_acc > curve.raw_robust_accuracy[-1] + 0.02:
                warnings.append(f"{curve.attack}: twice the steps at eps={eps:.4g} gives a higher robust accuracy "
                                f"({more_acc:.4f} > {curve.raw_robust_accuracy[-1]:.4f}): the attack is unstable")
        if check_black_box and get_attack(curve.attack).from_values(params).norm == "linf":
            try:
                square = get_attack("square")
            except AdvInspectError:  # black-box family not available: nothing to compare
                continue
            result = square.from_values({"eps": eps, "n_queries": 300}).run(
                clf, sample_x, sample_y, seed=seed, cancel=cancel)
            if curve.still_robust is None:
                continue
            white = float(curve.still_robust[: len(sample_x)].mean())
            black = result.summary()["robust_accuracy"]
            if black < white - 0.05:
                warnings.append(f"the black-box Square attack ({black:.4f}) beats {curve.attack} ({white:.4f}) at "
                                f"eps={eps:.4g}: a sign of gradient masking")
    return warnings
