"""attack: run one evasion attack over a set of images.

The result carries everything its consumers show (status words, clean and adversarial
probabilities, masking warnings), so neither the GUI nor a report re-runs the model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.status import FLIPPED, MISCLASSIFIED, result_statuses
from advinspect.core.tasks.base import Images, fmt, probabilities, with_plugins

COMMON_PARAMS = ("eps", "steps", "step_size", "norm")  # attack parameters that get their own flag


@dataclass(frozen=True)
class Config:
    attack: str = param("pgd", "attack name (fgsm, bim, pgd, ill, deepfool, cw, apgd, square, ...)")
    target: str = param("", "target class (index or name) or least-likely; empty: untargeted")
    seed: int = param(0, "random seed; each sample's randomness comes from (seed, sample index)", min=0)
    batch_size: int | None = param(None, "samples per batch (halved on CUDA out-of-memory)", min=1)
    params: dict[str, Any] = field(default_factory=dict)  # the attack's own parameters (eps, steps, ...)


@dataclass
class Inputs:
    clf: Any
    images: Images


@dataclass
class Result:
    attack: Any  # core AttackResult (numpy arrays)
    images: Images
    statuses: list[str]
    clean_probs: np.ndarray  # (n, classes)
    adv_probs: np.ndarray  # (n, classes)
    warnings: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return bool(self.attack.cancelled)

    def summary(self) -> dict[str, Any]:
        s = dict(self.attack.summary())
        s["flipped"] = sum(st == FLIPPED for st in self.statuses)
        s["misclassified"] = sum(st == MISCLASSIFIED for st in self.statuses)
        s["warnings"] = list(self.warnings)
        return s

    def summary_text(self) -> list[str]:
        s = self.summary()
        lines = [f"{s['attack']}: {s['n']} images, clean accuracy {s['clean_accuracy']:.4f}, "
                 f"robust accuracy {s['robust_accuracy']:.4f}, success rate {s['success_rate']:.4f} "
                 f"({s['flipped']} flipped, {s['misclassified']} misclassified before the attack), "
                 f"median Linf {fmt(s['median_linf'])}, median L2 {fmt(s['median_l2'])}, "
                 + (f"median L1 {fmt(s['median_l1'])}, " if s["params"].get("norm") == "l1" else "")
                 + (f"median L0 {fmt(s['median_l0'], 0)}, " if s["params"].get("norm") in ("l0", "l1") else "")
                 + f"{s['seconds']:.2f} s on {s['device']}"]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.cancelled:
            lines.append("cancelled: the results hold the samples attacked so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "statuses": list(self.statuses), "index": self.images.index.tolist()}


def build_attack(config: Config) -> Any:
    """The configured attack instance (raises on an unknown name or a bad parameter)."""
    from advinspect.core.attacks import build_params, get_attack

    with_plugins()
    attack_cls = get_attack(config.attack)
    return attack_cls(build_params(attack_cls.params_type, dict(config.params)))


def resolve_target(clf: Any, images: Images, target: str) -> Any:
    """The per-sample target tensor for `target` ('' untargeted, 'least-likely', a class)."""
    import torch

    text = (target or "").strip()
    if not text:
        return None
    if text in ("least-likely", "ll"):
        from advinspect.core.attacks.base import least_likely_targets

        return least_likely_targets(clf, images.pixels())
    return torch.full((len(images),), clf.spec.label_index(text), dtype=torch.long)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER,
        target: Any = None) -> Result:
    """Attack every image. `target` (a per-sample array) overrides `config.target` when given."""
    import torch

    clf, images = inputs.clf, inputs.images
    if not len(images):
        raise AdvInspectError("attack: no images")
    attack = build_attack(config)
    if target is None:
        target = resolve_target(clf, images, config.target)
    else:
        target = torch.as_tensor(np.asarray(target, dtype=np.int64))
    labels = images.labels_tensor() if images.has_labels else None
    result = attack.run(clf, images.pixels(), labels, target=target, progress=progress, cancel=cancel,
                        seed=config.seed, batch_size=config.batch_size)
    if result.n < len(images):  # a cancel on a set read on demand: the batches it reached only
        images = images.subset(np.arange(result.n))
    clean_probs = result.clean_probs if result.clean_probs is not None else probabilities(clf, images.tensor())
    adv_probs = result.adv_probs if result.adv_probs is not None else probabilities(
        clf, torch.from_numpy(result.x_adv))
    warnings = list(getattr(result, "warnings", []) or [])
    return Result(result, images, result_statuses(result), clean_probs, adv_probs, warnings)


def completed_only(result: Result) -> Result:
    """The samples the attack finished (all of them unless cancelled), as a Result of their own:
    what a cancelled run writes, so no row claims an attack that never ran."""
    done = result.attack.completed
    if done is None or bool(np.all(done)):
        return result
    keep = np.flatnonzero(done)
    images = result.images.subset(keep)
    return Result(take(result.attack, keep), images, [result.statuses[i] for i in keep],
                  result.clean_probs[keep], result.adv_probs[keep], list(result.warnings))


def take(result: Any, keep: np.ndarray) -> Any:
    """The AttackResult of samples `keep` only (every per-sample array sliced). A run of samples
    is a slice, so adversarials kept on disk stay there (views, not a copy into memory)."""
    n = result.n
    keep = np.asarray(keep, dtype=np.int64)
    if len(keep) and np.array_equal(keep, np.arange(keep[0], keep[0] + len(keep))):
        keep = slice(int(keep[0]), int(keep[0]) + len(keep))  # type: ignore[assignment]
    fields = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        fields[f.name] = value[keep] if isinstance(value, np.ndarray) and len(value) == n else value
    return type(result)(**fields)


def concatenate(parts: list[Any], like: Any) -> Any:
    """One AttackResult from the batches' results, without their adversarial images (those went
    to disk as they were made): per-sample arrays joined, seconds summed, warnings kept once
    per kind, the trace left out (its per-step means are per batch)."""
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(like):
        values = [getattr(p, f.name) for p in parts]
        if f.name == "x_adv":
            fields[f.name] = np.zeros((0, *like.x_adv.shape[1:]), np.float32)
        elif isinstance(getattr(like, f.name), np.ndarray) or (values and isinstance(values[0], np.ndarray)):
            arrays = [v for v in values if v is not None]
            fields[f.name] = np.concatenate(arrays) if arrays and len(arrays) == len(values) else (
                getattr(like, f.name)[:0] if isinstance(getattr(like, f.name), np.ndarray) else None)
        else:
            fields[f.name] = getattr(like, f.name)
    fields["seconds"] = float(sum(p.seconds for p in parts))
    fields["trace"] = []
    fields["cancelled"] = any(p.cancelled for p in parts)
    fields["labels_known"] = all(p.labels_known for p in parts)
    kinds: dict[str, str] = {}
    for p in parts:
        for w in p.warnings:
            kinds.setdefault(" ".join(w.split()[2:6]), w)  # "3 of 16 images checked ..." once
    fields["warnings"] = list(kinds.values())
    return type(like)(**fields)


@dataclass
class Streamed:
    """A streamed attack: every sample's outcome (no images: the adversarials went to disk batch
    by batch through `on_batch`), with the same summary lines as the in-memory Result."""

    attack: Any  # core AttackResult of the whole run; x_adv is empty
    statuses: list[str]
    index: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return bool(self.attack.cancelled)

    summary = Result.summary
    summary_text = Result.summary_text

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "statuses": list(self.statuses), "index": self.index.tolist()}

    def report_section(self) -> Any:
        from advinspect.core.report.sections import Section, Table

        s = self.summary()
        table = Table(["status", "samples"], [[k, self.statuses.count(k)] for k in sorted(set(self.statuses))])
        return Section(f"Attack: {s['attack']}", self.summary_text(), [table])


def run_stream(clf: Any, stream: Any, config: Config, *, on_batch: Any = None, progress: Progress = NO_PROGRESS,
               cancel: CancelToken = NEVER) -> Streamed:
    """Attack a stream (core.data ImageStream / ArrayStream) batch by batch; `on_batch(batch,
    result)` gets each batch's images and AttackResult (adversarials included) to write them
    out, then they are dropped: memory holds one batch. Each sample's randomness comes from
    (seed, global index), and batches are padded (core.data.stream.MIN_ROWS), so the rows do
    not depend on the batch size. A cancelled batch is dropped whole (the result is marked)."""
    import torch

    from advinspect.core.data.stream import padded
    from advinspect.core.jobs import Progress as _Progress

    attack = build_attack(config)
    parts, statuses, index = [], [], []
    total, done, cancelled = len(stream), 0, False
    for batch in stream:
        if cancel.cancelled:
            cancelled = True
            break
        n = len(batch)
        if n:
            x, labels, ids = padded(batch.x.float(), np.asarray(batch.labels, np.int64), np.asarray(batch.index))
            known = bool((labels >= 0).all())
            target = resolve_target(clf, Images(x, labels if known else -np.ones(len(x))), config.target)

            def forward(event: Any, done: int = done, n: int = n) -> None:
                progress(done + int(n * event.step / max(1, event.total)), total, event.message)

            result = attack.run(clf, x, torch.from_numpy(labels) if known else None, target=target,
                                progress=_Progress(forward) if progress.active else NO_PROGRESS, cancel=cancel,
                                seed=config.seed, batch_size=len(x), index=ids)
            if result.cancelled:
                cancelled = True
                break
            result = take(result, np.arange(n))
            if on_batch is not None:
                on_batch(batch, result)
            kept = take(result, np.arange(n))
            kept.x_adv = np.zeros((0, *result.x_adv.shape[1:]), np.float32)  # written; a view would keep them
            kept.clean_probs = kept.adv_probs = None  # (n, classes) each: not kept for a whole data set
            parts.append(kept)
            statuses += result_statuses(result)
            index.append(np.asarray(batch.index))
        elif on_batch is not None:
            on_batch(batch, None)
        done += n + len(batch.errors)
        progress(done, total, "attacking")
    if not parts:
        raise AdvInspectError("attack: none of the images could be attacked" + (" (cancelled)" if cancelled else ""))
    combined = concatenate(parts, parts[0])
    combined.cancelled = cancelled or combined.cancelled
    return Streamed(combined, statuses, np.concatenate(index), list(combined.warnings))


def result_from_rows(rows: list[dict[str, Any]], spec: Any, *, attack: str, params: dict[str, Any], seed: int,
                     warnings: list[str], seconds: float, device: str, cancelled: bool) -> Streamed:
    """A streamed attack rebuilt from its results.json sample rows (merged from shards): the
    summary of a sharded run is computed once, from the rows, never averaged per rank."""
    from advinspect.core.attacks.base import AttackResult

    def index(name: Any) -> int:
        return -1 if name is None else spec.label_index(str(name))

    def floats(key: str) -> np.ndarray:
        return np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=np.float64)

    known = bool(rows) and all(r["label"] is not None for r in rows)
    clean_pred = np.array([index(r["clean_pred"]) for r in rows], dtype=np.int64)
    targeted = bool(rows) and rows[0].get("target") is not None
    shape = tuple(spec.input_shape or (0,))
    result = AttackResult(
        attack=attack, params=params, x_adv=np.zeros((0, *shape), np.float32),
        labels=np.array([index(r["label"]) for r in rows], dtype=np.int64) if known else clean_pred.copy(),
        labels_known=known, target=np.array([index(r["target"]) for r in rows], np.int64) if targeted else None,
        clean_pred=clean_pred, clean_confidence=floats("clean_confidence"),
        adv_pred=np.array([index(r["adv_pred"]) for r in rows], dtype=np.int64),
        adv_confidence=floats("adv_confidence"), success=np.array([r["success"] for r in rows], dtype=bool),
        success_after_quantization=np.array([r["success_after_quantization"] for r in rows], dtype=bool),
        linf=floats("linf"), l2=floats("l2"), l0=np.array([r["l0"] for r in rows], dtype=np.int64),
        iterations=np.array([r["iterations"] or 0 for r in rows], dtype=np.int64),
        queries=np.array([r["queries"] or 0 for r in rows], dtype=np.int64), seconds=seconds, device=device,
        seed=seed, cancelled=cancelled, completed=np.ones(len(rows), dtype=bool),
        nonfinite_clean=np.array([r["clean_confidence"] is None for r in rows], dtype=bool),
        nonfinite_adv=np.array([r["adv_confidence"] is None for r in rows], dtype=bool), warnings=list(warnings))
    return Streamed(result, [r["status"] for r in rows], np.array([r["index"] for r in rows], np.int64),
                    list(warnings))
