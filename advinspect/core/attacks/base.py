"""The attack engine's shared machinery: parameters, results, batching, progress and cancel.

An attack is a small class with a frozen parameter dataclass. `Attack.run` does what every
attack needs (device placement, batching with CUDA out-of-memory halving, clean predictions,
re-predicting the adversarials instead of trusting the attack's own success flag, norms,
8-bit quantization check); a subclass only implements `_attack_batch`.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from advinspect.core.attacks.ops import l2_normalize, project_l2, project_linf
from advinspect.core.attacks.seeding import SampleRandom
from advinspect.core.data.lazy import read_rows
from advinspect.core.data.spill import DiskArray
from advinspect.core.errors import AdvInspectError, CancelledError, GradientsUnavailableError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.base import Classifier
from advinspect.core.params import build_params, param, parse_number, validate_params

__all__ = ["build_params", "l2_normalize", "param", "parse_number", "project_l2", "project_linf", "validate_params"]  # re-exported: attacks import them from here


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
    success: np.ndarray  # re-predicted, never the attack's own flag; False where outputs are non-finite
    success_after_quantization: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    l0: np.ndarray
    iterations: np.ndarray
    queries: np.ndarray
    l1: np.ndarray | None = None  # sum of absolute changes (FMN L1 minimises it); None in old results
    trace: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"
    seed: int = 0
    cancelled: bool = False
    completed: np.ndarray | None = None  # which samples were attacked before a cancel
    # NaN or Inf in the model's outputs on the clean image / on the adversarial (per sample)
    nonfinite_clean: np.ndarray | None = None
    nonfinite_adv: np.ndarray | None = None
    # why the numbers may be wrong (gradient masking, non-finite outputs, ...): for people to read
    warnings: list[str] = field(default_factory=list)
    # softmax of the clean and adversarial logits (N, classes), so no consumer runs the model
    # again; None where a result was rebuilt from saved rows or streamed (memory stays bounded)
    clean_probs: np.ndarray | None = None
    adv_probs: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def nonfinite(self) -> np.ndarray:
        """Samples whose clean or adversarial outputs held NaN or Inf."""
        none = np.zeros(self.n, dtype=bool)
        clean = none if self.nonfinite_clean is None else self.nonfinite_clean
        adv = none if self.nonfinite_adv is None else self.nonfinite_adv
        return clean | adv

    @property
    def clean_correct(self) -> np.ndarray:
        correct = self.clean_pred == self.labels
        return correct if self.nonfinite_clean is None else correct & ~self.nonfinite_clean

    def summary(self) -> dict[str, Any]:
        correct = self.clean_correct
        # robust: classified correctly before *and* after the attack (as AutoAttack counts it), so
        # robust accuracy never exceeds clean accuracy, even when noise "fixes" a wrong image; a
        # non-finite adversarial output is not a correct classification
        adv_correct = (self.adv_pred == self.labels) & correct & ~self.nonfinite
        # medians over the adversarials the attack found: images misclassified before the attack
        # (perturbation 0) would pull them towards 0
        flipped = self.success & correct
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
            "median_l0": _median(self.l0[flipped]),  # changed values (FMN L0 minimises this)
            "median_l1": None if self.l1 is None else _median(self.l1[flipped]),
            "mean_queries": float(self.queries.mean()) if self.n else 0.0,
            "n_nonfinite": int(self.nonfinite.sum()),
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 4),
            "device": self.device,
            "seed": self.seed,
            "cancelled": self.cancelled,
            "labels_known": self.labels_known,
        }

    def to_dict(self) -> dict[str, Any]:
        """Summary, warnings, trace and per-sample values as JSON-ready data: non-finite numbers
        become None (JSON has no NaN), nothing else is dropped."""
        samples = {
            name: [_finite_or_none(v) for v in getattr(self, name).tolist()]
            for name in ("labels", "clean_pred", "clean_confidence", "adv_pred", "adv_confidence",
                         "success", "success_after_quantization", "linf", "l2", "l0", "iterations",
                         "queries")
        }
        if self.l1 is not None:
            samples["l1"] = [_finite_or_none(v) for v in self.l1.tolist()]
        samples["nonfinite"] = self.nonfinite.tolist()
        if self.target is not None:
            samples["target"] = self.target.tolist()
        return {"summary": self.summary(), "trace": self.trace, "samples": samples}


def _median(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


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
        self.total_steps = max(1, total_steps)
        self.n_total = n_total
        self.batch_offset = 0  # samples done in earlier batches
        self.batch_size = 0
        # per-sample streams seeded from (seed, global sample index): what random starts draw
        # from, so a sample's numbers do not depend on the batch size or the number of shards
        self.samples = SampleRandom(seed, np.zeros(0, np.int64), device)
        self._trace: dict[int, dict[str, list[float]]] = {}
        self._last_report = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled

    def step(self, step: int, total: int | None = None, *, x_best: Any = None,
             success: torch.Tensor | None = None, **trace: float | torch.Tensor) -> bool:
        """Record one step; returns True when the attack should stop (cancelled).

        `x_best` is the batch's current best adversarials, or a callable making them (built only
        when a preview is wanted).

        `trace` values (loss, confidence, ...) are averaged per step over batches. Progress is
        counted in sample-steps over the whole run so the bar moves evenly across batches.
        """
        total = total or self.total_steps
        for key, value in trace.items():  # tensors stay on the device: no sync per step on a GPU
            kept = value.detach() if isinstance(value, torch.Tensor) else float(value)
            self._trace.setdefault(step, {}).setdefault(key, []).append(kept)
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
                preview.update({key: float(value) for key, value in trace.items()})
            message = f"step {step}/{total}"
            if success is not None and len(success):
                message += f", success {success.float().mean().item():.0%}"
            self._progress(done, overall, message, preview)
        return self._cancel.cancelled

    def trace(self) -> list[dict[str, float | None]]:
        """Per-step means over batches; non-finite values are left out (None when all are)."""
        rows: list[dict[str, float | None]] = []
        for step, values in sorted(self._trace.items()):
            row: dict[str, float | None] = {"step": step}
            for key, seen in values.items():
                finite = [v for v in map(float, seen) if np.isfinite(v)]
                row[key] = float(np.mean(finite)) if finite else None
            rows.append(row)
        return rows


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
    # whether a sample the attack could not break comes back as the attack's last or best point
    # (PGD-like), not the clean image (minimal-norm attacks): only then does "the loss did not
    # rise" say something about the gradients
    returns_best_effort: ClassVar[bool] = True
    # the loss whose input gradient the engine checks for all-zero rows: "ce" where the attack
    # ascends cross-entropy (saturated softmax blinds it), "margin" where it follows logit
    # differences (DeepFool, CW, FMN, FAB, DLR), which only true masking such as rounding zeroes
    probe_loss: ClassVar[str] = "ce"

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

    def gradient_probe_loss(self) -> str:
        """"ce" or "margin": the loss this attack's gradients come from (see `probe_loss`)."""
        return self.probe_loss

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
            cancel: CancelToken = NEVER, seed: int = 0, batch_size: int | None = None,
            index: np.ndarray | None = None) -> AttackResult:
        """Attack every sample of `x` (N, C, H, W). `y` holds true labels (-1 or None: unknown,
        then success means the prediction changed). `index` holds each sample's global index
        (default 0..N-1): with the seed it seeds the sample's randomness. A cancelled run
        returns what it has.

        `x` may also be an array-like decoded on demand (a large folder's `LazyPixels`): it is
        then read batch by batch, the adversarials go to a disk-backed array, and a cancel
        returns only the batches it reached (no pass over the rest of the set)."""
        started = time.perf_counter()
        self.check_applicable(clf, target is not None)
        n = len(x)
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if isinstance(x, torch.Tensor):
            x = x.float()
        labels_known = y is not None and len(y) == n and bool((y >= 0).all())
        if target is not None:
            target = target.long().cpu()
            if len(target) != n:
                raise AdvInspectError(f"{len(target)} targets for {n} images")
        batch_size = batch_size or self.default_batch_size
        index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        if len(index) != n:
            raise AdvInspectError(f"{len(index)} sample indices for {n} images")
        ctx = AttackContext(progress, cancel, seed, clf.device, self.total_steps(), n)
        rows = _Outcome(n, x, targeted=target is not None or self.always_targeted)
        checks = _Checks()
        start = 0
        with _BatchReader(x) as reader:
            while start < n and not cancel.cancelled:
                stop = min(n, start + batch_size)
                ctx.batch_offset, ctx.batch_size = start, stop - start
                ctx.samples = SampleRandom(seed, index[start:stop], clf.device)
                xb = reader.read(start, stop, min(n, stop + batch_size)).to(clf.device)
                try:
                    clean = clf.logits_batched(xb, len(xb)).float()
                    yb, tb = self._goals(clean, y[start:stop] if labels_known else None,
                                         None if target is None else target[start:stop])
                    if self.needs_gradients:
                        attackable = (predictions(clean) == yb) & torch.isfinite(clean).all(1)
                        checks.probe_gradients(clf, xb, yb, tb, attackable, self.gradient_probe_loss())
                    out = self._attack_batch(clf, xb, yb, tb, ctx)
                    xa = out.x_adv.detach().float()
                    broken = ~torch.isfinite(xa).flatten(1).all(1)
                    checks.nonfinite_pixels += int(broken.sum())  # NaN pixels: the clean image, never a NaN one
                    xa = torch.where(broken.view(-1, *([1] * (xa.dim() - 1))), xb, xa)
                    rows.store(clf, start, xb, xa, clean, yb, tb, out)
                except torch.cuda.OutOfMemoryError:
                    if batch_size == 1:
                        raise
                    torch.cuda.empty_cache()
                    batch_size = max(1, batch_size // 2)
                    continue
                rows.completed[start:stop] = not cancel.cancelled
                start = stop
        if start < n and rows.on_disk:  # cancelled on a set read on demand: the batches reached only
            if start == 0:
                raise CancelledError(f"{self.name} cancelled before the first batch finished: nothing to show")
            rows.truncate(start)
            n = start
        while start < n:  # cancelled: the samples left keep their clean image (marked not completed)
            stop = min(n, start + batch_size)
            xb = x[start:stop].to(clf.device)
            clean = clf.logits_batched(xb, len(xb)).float()
            yb, tb = self._goals(clean, y[start:stop] if labels_known else None,
                                 None if target is None else target[start:stop])
            rows.store(clf, start, xb, xb, clean, yb, tb, None)
            start = stop
        return self._finish(rows, labels_known, ctx, started, seed, checks)

    def _goals(self, clean_logits: torch.Tensor, y: torch.Tensor | None,
               target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A batch's labels (the clean prediction where unknown) and targets, on its device."""
        device = clean_logits.device
        labels = y.long().to(device) if y is not None else predictions(clean_logits)
        if target is not None:
            return labels, target.to(device)
        if self.always_targeted:  # e.g. least-likely: the clean logits' smallest
            return labels, clean_logits.nan_to_num(nan=float("inf")).argmin(1)
        return labels, None

    def _finish(self, rows: _Outcome, labels_known: bool, ctx: AttackContext, started: float,
                seed: int, checks: _Checks) -> AttackResult:
        """Whole-run figures from the per-sample rows the batches left on the CPU."""
        clean_logits, adv_logits, q_logits = rows.clean_logits, rows.adv_logits, rows.q_logits
        labels, target, completed = rows.labels, rows.target, rows.completed
        clean_pred, adv_pred = predictions(clean_logits), predictions(adv_logits)
        clean_prob, adv_prob = clean_logits.softmax(1), adv_logits.softmax(1)
        nonfinite_clean = ~torch.isfinite(clean_logits).all(1)
        nonfinite_adv = ~torch.isfinite(adv_logits).all(1)
        finite = ~nonfinite_clean & ~nonfinite_adv
        success = self.is_success(adv_pred, labels, target) & finite
        success_q = self.is_success(predictions(q_logits), labels, target) & finite & torch.isfinite(
            q_logits).all(1)
        if self.needs_gradients and self.returns_best_effort:
            unbroken = (clean_pred == labels) & finite & ~success & completed
            checks.check_loss_rose(clean_logits, adv_logits, labels, target, unbroken)
        checks.nonfinite_clean = int(nonfinite_clean.sum())
        checks.nonfinite_adv = int((nonfinite_adv & ~nonfinite_clean).sum())
        return AttackResult(
            attack=self.name,
            params=dataclasses.asdict(self.params),
            x_adv=rows.x_adv if rows.disk is not None else rows.x_adv.numpy(),  # on disk: the mapping
            labels=labels.numpy(),
            labels_known=labels_known,
            target=None if target is None else target.numpy(),
            clean_pred=clean_pred.numpy(),
            clean_confidence=clean_prob.max(1).values.numpy(),
            adv_pred=adv_pred.numpy(),
            adv_confidence=adv_prob.max(1).values.numpy(),
            success=success.numpy(),
            success_after_quantization=success_q.numpy(),
            linf=rows.linf.numpy(),
            l2=rows.l2.numpy(),
            l0=rows.l0.numpy(),
            l1=rows.l1.numpy(),
            iterations=rows.iterations.numpy(),
            queries=rows.queries.numpy(),
            trace=ctx.trace(),
            seconds=time.perf_counter() - started,
            device=str(rows.device),
            seed=seed,
            cancelled=bool(ctx.cancelled),
            completed=rows.completed.numpy(),
            nonfinite_clean=nonfinite_clean.numpy(),
            nonfinite_adv=nonfinite_adv.numpy(),
            warnings=checks.warnings(),
            clean_probs=clean_prob.numpy(),
            adv_probs=adv_prob.numpy(),
        )

    @staticmethod
    def is_success(pred: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        return pred == target if target is not None else pred != labels


class _BatchReader:
    """Batches of the input. Over pixels decoded on demand, the next batch is decoded on a
    thread while this one is attacked (decoders and torch release the GIL), so reading files
    costs little time over holding them; at most one batch is read ahead."""

    def __init__(self, x: Any) -> None:
        self.x = x
        self.pool = None if isinstance(x, torch.Tensor) else ThreadPoolExecutor(1, thread_name_prefix="advinspect-read")
        self.ahead: tuple[tuple[int, int], Future[torch.Tensor]] | None = None

    def read(self, start: int, stop: int, next_stop: int) -> torch.Tensor:
        """Samples [start, stop); then [stop, next_stop) starts decoding."""
        if self.pool is None:
            return read_rows(self.x, start, stop)
        ahead, self.ahead = self.ahead, None
        batch = ahead[1].result() if ahead is not None and ahead[0] == (start, stop) else read_rows(self.x, start, stop)
        if next_stop > stop:  # a batch size halved on out-of-memory just reads anew
            self.ahead = ((stop, next_stop), self.pool.submit(read_rows, self.x, stop, next_stop))
        return batch

    def __enter__(self) -> _BatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """argmax per row, with NaN never winning (an all-NaN row predicts class 0)."""
    return logits.nan_to_num(nan=float("-inf")).argmax(1)


_GRADIENT_PROBE = 128  # samples per run whose clean input gradient is checked for all-zero
_STALLED_SHARE = 0.1  # warn when the loss did not rise on at least this share of unbroken points


class _Outcome:
    """Per-sample rows of one run, filled batch by batch on the CPU. Everything a batch needs
    (clean and adversarial logits, the 8-bit check, norms) is computed on the batch's device
    while it is there: only small rows and the adversarial images cross to the CPU, and no
    whole-set pass runs after the attack."""

    def __init__(self, n: int, x: Any, *, targeted: bool) -> None:
        self.n = n
        # every row is stored: attacked, or clean after a cancel; an input read on demand (too
        # large to hold) gets a disk-backed array, so memory stays bounded by the batch
        self.on_disk = not isinstance(x, torch.Tensor)
        self.disk = DiskArray((n, *tuple(x.shape[1:]))) if self.on_disk else None
        self.x_adv = self.disk.array if self.disk is not None else torch.empty_like(x)
        self.device: Any = "cpu"
        self.clean_logits: torch.Tensor = torch.empty(0)
        self.labels = torch.zeros(n, dtype=torch.long)
        self.target = torch.zeros(n, dtype=torch.long) if targeted else None
        self.linf, self.l2, self.l1 = (torch.zeros(n) for _ in range(3))
        self.l0 = torch.zeros(n, dtype=torch.long)
        self.iterations = torch.zeros(n, dtype=torch.long)
        self.queries = torch.zeros(n, dtype=torch.long)
        self.completed = torch.zeros(n, dtype=torch.bool)

    def truncate(self, n: int) -> None:
        """Keep the first n rows only (a cancelled run over a set read on demand)."""
        self.n = n
        for name in ("x_adv", "clean_logits", "adv_logits", "q_logits", "labels", "target", "linf", "l2", "l1",
                     "l0", "iterations", "queries", "completed"):
            value = getattr(self, name, None)
            if value is not None and len(value):
                setattr(self, name, value[:n])

    def store(self, clf: Classifier, start: int, xb: torch.Tensor, xa: torch.Tensor, clean: torch.Tensor,
              labels: torch.Tensor, target: torch.Tensor | None, out: BatchOutput | None) -> None:
        lo, hi = clf.spec.value_range
        xa = xa.clamp(lo, hi)
        quantized = torch.round((xa - lo) / (hi - lo) * 255) / 255 * (hi - lo) + lo
        adv = clf.logits_batched(xa, len(xa)).float()
        q = clf.logits_batched(quantized, len(xa)).float()
        if not len(self.clean_logits):
            self.device = xb.device
            self.clean_logits, self.adv_logits, self.q_logits = (
                torch.zeros(self.n, clean.shape[1]) for _ in range(3))
        stop = start + len(xb)
        delta = (xa - xb).flatten(1)
        if self.disk is not None:  # through the file: written pages are not this process's memory
            self.disk.write(start, xa.cpu().numpy())
        else:
            self.x_adv[start:stop].copy_(xa)  # straight from the device: no staging copy
        for rows, value in ((self.clean_logits, clean), (self.adv_logits, adv), (self.q_logits, q),
                            (self.labels, labels), (self.target, target),
                            (self.linf, delta.abs().amax(1) if delta.shape[1] else None),
                            (self.l2, delta.norm(dim=1)), (self.l1, delta.abs().sum(1)),
                            (self.l0, (delta.abs() > 1e-6).sum(1)),
                            (self.iterations, None if out is None else out.iterations),
                            (self.queries, None if out is None else out.queries)):
            if rows is not None and value is not None:
                rows[start:stop] = value.detach().cpu()


class _Checks:
    """The engine's cheap sanity checks on one run; each finding becomes a warning line.

    Gradient masking (Athalye et al. 2018) shows as all-zero input gradients (rounding,
    saturated softmax) or as a loss that did not rise on the points the attack left unbroken."""

    def __init__(self) -> None:
        self.probed = 0
        self.zero_gradients = 0
        self.unbroken = 0
        self.stalled = 0
        self.nonfinite_clean = 0
        self.nonfinite_adv = 0
        self.nonfinite_pixels = 0

    def probe_gradients(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor,
                        target: torch.Tensor | None, attackable: torch.Tensor, loss: str) -> None:
        """One backward pass on (at most _GRADIENT_PROBE per run) clean, correctly classified
        images: count those whose loss gradient (cross-entropy or logit margin) is exactly 0."""
        rows = attackable.nonzero().flatten()[: _GRADIENT_PROBE - self.probed].to(x.device)
        if len(rows) == 0:
            return
        xg = x[rows].detach().requires_grad_(True)
        goal = y[rows] if target is None else target[rows]
        with torch.enable_grad():
            logits = clf.logits(xg)
            if loss == "ce":
                value = torch.nn.functional.cross_entropy(logits, goal, reduction="sum")
            else:  # the goal's logit against the best other one
                own = logits.gather(1, goal.view(-1, 1)).squeeze(1)
                other = logits.scatter(1, goal.view(-1, 1), float("-inf")).amax(1)
                value = (own - other).sum()
            (grad,) = torch.autograd.grad(value, xg)
        self.probed += len(rows)
        self.zero_gradients += int((grad.flatten(1).abs().amax(1) == 0).sum())

    def check_loss_rose(self, clean_logits: torch.Tensor, adv_logits: torch.Tensor,
                        labels: torch.Tensor, target: torch.Tensor | None,
                        unbroken: torch.Tensor) -> None:
        """Count unbroken points where the attack's objective (cross-entropy of the label, or
        minus that of the target) is no higher at the adversarial than at the clean image."""
        goal = labels if target is None else target
        sign = 1.0 if target is None else -1.0

        def objective(logits: torch.Tensor) -> torch.Tensor:
            return -sign * logits.log_softmax(1).gather(1, goal.view(-1, 1)).squeeze(1)

        with torch.no_grad():
            rose = objective(adv_logits) > objective(clean_logits)
        self.unbroken = int(unbroken.sum())
        self.stalled = int((unbroken & ~rose).sum())

    def warnings(self) -> list[str]:
        out = []
        if self.zero_gradients:
            out.append(f"{self.zero_gradients} of {self.probed} images checked have an all-zero "
                       "gradient: gradient attacks are blind there (gradient masking?); "
                       "try a black-box attack such as square")
        if self.stalled and self.stalled >= _STALLED_SHARE * self.unbroken:
            out.append(f"the loss did not rise on {self.stalled} of the {self.unbroken} images the "
                       "attack could not break: its gradients may be masked or saturated; the "
                       "robust accuracy may be overestimated (try square, or apgd with loss dlr)")
        if self.nonfinite_clean or self.nonfinite_adv:
            out.append(f"the model gives NaN or Inf outputs on {self.nonfinite_clean} clean and "
                       f"{self.nonfinite_adv} more adversarial images: they are marked non-finite "
                       "and never counted as correct or as successes")
        if self.nonfinite_pixels:
            out.append(f"the attack produced NaN or Inf pixels on {self.nonfinite_pixels} images: "
                       "they are returned unchanged")
        return out


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


def least_likely_targets(clf: Classifier, x: Any, chunk: int = 256) -> torch.Tensor:
    """Each sample's least likely class; an array-like read on demand is read a chunk at a time."""
    if isinstance(x, torch.Tensor):
        return clf.logits_batched(x).argmin(1).cpu()
    parts = [clf.logits_batched(read_rows(x, a, a + chunk)).argmin(1).cpu() for a in range(0, len(x), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
