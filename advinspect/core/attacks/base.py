"""The attack engine's shared machinery: parameters, results, batching, progress and cancel.

An attack is a small class with a frozen parameter dataclass. `Attack.run` does what every
attack needs (device placement, batching with CUDA out-of-memory halving, clean predictions,
re-predicting the adversarials instead of trusting the attack's own success flag, norms,
8-bit quantization check); a subclass only implements `_attack_batch`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError, GradientsUnavailableError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.base import Classifier
from advinspect.core.params import build_params, param, parse_number, validate_params

__all__ = ["build_params", "param", "parse_number", "validate_params"]  # re-exported: attacks import them from here


@dataclass
class AttackResult:
    """Per-sample outcome of an attack, as CPU numpy arrays (crosses threads, serializes)."""

    attack: str
    params: dict[str, Any]
    x_adv: np.ndarray  # (N, C, H, W) float32 in the model's value range
    labels: np.ndarray  # (N,) true labels, or the clean prediction where unknown
    labels_known: bool
    target: np.ndarray | None  # (N,) target classes for targeted runs
    clean_pred: np.ndarray
    clean_confidence: np.ndarray
    adv_pred: np.ndarray
    adv_confidence: np.ndarray
    success: np.ndarray  # re-predicted, never the attack's own flag
    success_after_quantization: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    l0: np.ndarray
    iterations: np.ndarray
    queries: np.ndarray
    trace: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    seed: int = 0
    cancelled: bool = False
    completed: np.ndarray | None = None  # which samples were attacked before a cancel

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def clean_correct(self) -> np.ndarray:
        return self.clean_pred == self.labels

    def summary(self) -> dict[str, Any]:
        correct = self.clean_correct
        # robust: classified correctly before *and* after the attack (as AutoAttack counts it), so
        # robust accuracy never exceeds clean accuracy, even when noise "fixes" a wrong image
        adv_correct = (self.adv_pred == self.labels) & correct
        flipped = self.success
        return {
            "attack": self.attack,
            "params": self.params,
            "n": self.n,
            "n_clean_correct": int(correct.sum()),
            "clean_accuracy": float(correct.mean()) if self.n else 0.0,
            "robust_accuracy": float(adv_correct.mean()) if self.n else 0.0,
            "success_rate": float(self.success[correct].mean()) if correct.any() else 0.0,
            "success_rate_after_quantization": float(self.success_after_quantization[correct].mean())
            if correct.any() else 0.0,
            "median_linf": _median(self.linf[flipped]),
            "median_l2": _median(self.l2[flipped]),
            "mean_queries": float(self.queries.mean()) if self.n else 0.0,
            "seconds": round(self.seconds, 4),
            "device": self.device,
            "seed": self.seed,
            "cancelled": self.cancelled,
            "labels_known": self.labels_known,
        }


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if len(values) else None


@dataclass
class BatchOutput:
    """What `_attack_batch` returns: the adversarial batch and per-sample effort."""

    x_adv: torch.Tensor
    iterations: torch.Tensor | None = None
    queries: torch.Tensor | None = None


class AttackContext:
    """Handed to `_attack_batch`: progress, cancel, seeded randomness, trace recording."""

    def __init__(self, progress: Progress, cancel: CancelToken, seed: int, device: torch.device,
                 total_steps: int, n_total: int) -> None:
        self._progress = progress
        self._cancel = cancel
        self.seed = seed
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.cpu_generator = torch.Generator().manual_seed(seed)
        self.total_steps = max(1, total_steps)
        self.n_total = n_total
        self.batch_offset = 0  # samples done in earlier batches
        self.batch_size = 0
        self._trace: dict[int, dict[str, list[float]]] = {}
        self._last_report = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled

    def step(self, step: int, total: int | None = None, *, x_best: Any = None,
             success: torch.Tensor | None = None, **trace: float) -> bool:
        """Record one step; returns True when the attack should stop (cancelled).

        `x_best` is the batch's current best adversarials, or a callable making them (built only
        when a preview is wanted).

        `trace` values (loss, confidence, ...) are averaged per step over batches. Progress is
        counted in sample-steps over the whole run so the bar moves evenly across batches.
        """
        total = total or self.total_steps
        for key, value in trace.items():
            self._trace.setdefault(step, {}).setdefault(key, []).append(float(value))
        done = self.batch_offset * total + min(step, total) * self.batch_size
        overall = self.n_total * total
        now = time.monotonic()
        if self._progress.active and (now - self._last_report > 0.05 or step >= total):
            self._last_report = now
            preview = None
            if x_best is not None and self._progress.wants_preview:
                if callable(x_best):  # built only when a preview is wanted
                    x_best = x_best()
                preview = {"x_adv": x_best.detach().float().cpu().numpy(), "offset": self.batch_offset,
                           "step": step}
                if success is not None:
                    preview["success"] = success.detach().cpu().numpy()
                preview.update(trace)
            message = f"step {step}/{total}"
            if success is not None and len(success):
                message += f", success {success.float().mean().item():.0%}"
            self._progress(done, overall, message, preview)
        return self._cancel.cancelled

    def trace(self) -> list[dict[str, float]]:
        return [
            {"step": step, **{k: float(np.mean(v)) for k, v in values.items()}}
            for step, values in sorted(self._trace.items())
        ]


class Attack:
    """Base class; subclasses set the class attributes and implement `_attack_batch`."""

    name: ClassVar[str]
    title: ClassVar[str]
    params_type: ClassVar[type]
    needs_gradients: ClassVar[bool] = True
    default_norm: ClassVar[str] = "linf"  # the threat model of attacks without a `norm` parameter
    supports_targeted: ClassVar[bool] = True
    always_targeted: ClassVar[bool] = False  # e.g. least-likely picks its own targets
    default_batch_size: ClassVar[int] = 256

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.params_type()
        validate_params(self.params)

    @property
    def norm(self) -> str:
        """The threat model: the `norm` parameter where the attack has one, else its fixed norm."""
        return getattr(self.params, "norm", self.default_norm)

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Attack:
        return cls(build_params(cls.params_type, values))

    def total_steps(self) -> int:
        """Number of progress steps per batch; attacks with iterations override it."""
        return int(getattr(self.params, "steps", 1) or 1)

    # --- to implement --------------------------------------------------------------------
    def _attack_batch(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                      target: torch.Tensor | None, ctx: AttackContext) -> BatchOutput:
        raise NotImplementedError

    # --- the engine ----------------------------------------------------------------------
    def check_applicable(self, clf: Classifier, targeted: bool) -> None:
        if self.needs_gradients and not clf.has_gradients:
            raise GradientsUnavailableError(
                f"{self.name} needs gradients, but {clf.describe_short()} has none; "
                f"use a black-box attack: {', '.join(black_box_names())}"
            )
        if targeted and not self.supports_targeted:
            raise AdvInspectError(f"{self.name} has no targeted version")

    def run(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor | None = None, *,
            target: torch.Tensor | None = None, progress: Progress = NO_PROGRESS,
            cancel: CancelToken = NEVER, seed: int = 0, batch_size: int | None = None) -> AttackResult:
        """Attack every sample of `x` (N, C, H, W). `y` holds true labels (-1 or None: unknown,
        then success means the prediction changed). A cancelled run returns what it has."""
        started = time.perf_counter()
        self.check_applicable(clf, target is not None)
        n = len(x)
        x = x.float()
        clean_logits = clf.logits_batched(x).float().cpu()
        clean_prob = clean_logits.softmax(1)
        clean_pred = clean_prob.argmax(1)
        labels_known = y is not None and len(y) == n and bool((y >= 0).all())
        labels = y.long().cpu().clone() if labels_known else clean_pred.clone()
        if target is not None:
            target = target.long().cpu()
            if len(target) != n:
                raise AdvInspectError(f"{len(target)} targets for {n} images")
        elif self.always_targeted:
            target = clean_logits.argmin(1)
        batch_size = batch_size or self.default_batch_size
        ctx = AttackContext(progress, cancel, seed, clf.device, self.total_steps(), n)
        x_adv = x.clone()
        iterations = torch.zeros(n, dtype=torch.long)
        queries = torch.zeros(n, dtype=torch.long)
        completed = torch.zeros(n, dtype=torch.bool)
        start = 0
        while start < n and not cancel.cancelled:
            stop = min(n, start + batch_size)
            ctx.batch_offset, ctx.batch_size = start, stop - start
            xb = x[start:stop].to(clf.device)
            yb = labels[start:stop].to(clf.device)
            tb = target[start:stop].to(clf.device) if target is not None else None
            try:
                out = self._attack_batch(clf, xb, yb, tb, ctx)
            except torch.cuda.OutOfMemoryError:
                if batch_size == 1:
                    raise
                torch.cuda.empty_cache()
                batch_size = max(1, batch_size // 2)
                continue
            lo, hi = clf.spec.value_range
            x_adv[start:stop] = out.x_adv.detach().float().clamp(lo, hi).cpu()
            if out.iterations is not None:
                iterations[start:stop] = out.iterations.cpu()
            if out.queries is not None:
                queries[start:stop] = out.queries.cpu()
            completed[start:stop] = not cancel.cancelled
            start = stop
        return self._finish(clf, x, x_adv, labels, labels_known, target, clean_pred, clean_prob,
                            iterations, queries, ctx, started, seed, completed)

    def _finish(self, clf: Classifier, x: torch.Tensor, x_adv: torch.Tensor, labels: torch.Tensor,
                labels_known: bool, target: torch.Tensor | None, clean_pred: torch.Tensor,
                clean_prob: torch.Tensor, iterations: torch.Tensor, queries: torch.Tensor,
                ctx: AttackContext, started: float, seed: int, completed: torch.Tensor) -> AttackResult:
        adv_prob = clf.probabilities(x_adv).float().cpu()
        adv_pred = adv_prob.argmax(1)
        lo, hi = clf.spec.value_range
        quantized = torch.round((x_adv - lo) / (hi - lo) * 255) / 255 * (hi - lo) + lo
        q_pred = clf.predict(quantized).cpu()
        success = self.is_success(adv_pred, labels, target)
        success_q = self.is_success(q_pred, labels, target)
        delta = (x_adv - x).flatten(1)
        return AttackResult(
            attack=self.name,
            params=dataclasses.asdict(self.params),
            x_adv=x_adv.numpy(),
            labels=labels.numpy(),
            labels_known=labels_known,
            target=None if target is None else target.numpy(),
            clean_pred=clean_pred.numpy(),
            clean_confidence=clean_prob.max(1).values.numpy(),
            adv_pred=adv_pred.numpy(),
            adv_confidence=adv_prob.max(1).values.numpy(),
            success=success.numpy(),
            success_after_quantization=success_q.numpy(),
            linf=delta.abs().max(1).values.numpy() if delta.shape[1] else np.zeros(len(x), np.float32),
            l2=delta.norm(dim=1).numpy(),
            l0=(delta.abs() > 1e-6).sum(1).numpy(),
            iterations=iterations.numpy(),
            queries=queries.numpy(),
            trace=ctx.trace(),
            seconds=time.perf_counter() - started,
            device=str(clf.device),
            seed=seed,
            cancelled=bool(ctx.cancelled),
            completed=completed.numpy(),
        )

    @staticmethod
    def is_success(pred: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        return pred == target if target is not None else pred != labels


# --- helpers shared by the attack families ------------------------------------------------

def black_box_names() -> list[str]:
    """The attacks that need only logits, among the attack classes defined (the registry imports
    every family, so all of them once any attack was looked up by name)."""
    names, pending = set(), list(Attack.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if isinstance(cls.__dict__.get("name"), str) and not cls.needs_gradients:
            names.add(cls.name)
    return sorted(names)


def margin_success(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per-sample success from logits already computed (no extra forward pass)."""
    pred = logits.argmax(1)
    return pred == target if target is not None else pred != y


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float, lo: float, hi: float) -> torch.Tensor:
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(lo, hi)


def project_l2(x_adv: torch.Tensor, x: torch.Tensor, eps: float, lo: float, hi: float) -> torch.Tensor:
    delta = x_adv - x
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.ndim - 1)))
    delta = delta * torch.clamp(eps / norms, max=1.0)
    return (x + delta).clamp_(lo, hi)


def l2_normalize(g: torch.Tensor) -> torch.Tensor:
    norms = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (g.ndim - 1)))
    return g / norms


def least_likely_targets(clf: Classifier, x: torch.Tensor) -> torch.Tensor:
    return clf.logits_batched(x).argmin(1).cpu()
