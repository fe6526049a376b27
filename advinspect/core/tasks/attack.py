"""attack: run one evasion attack over a set of images.

The result carries everything its consumers show (status words, clean and adversarial
probabilities, masking warnings), so neither the GUI nor a report re-runs the model."""

from __future__ import annotations

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

        return least_likely_targets(clf, images.tensor())
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
    result = attack.run(clf, images.tensor(), labels, target=target, progress=progress, cancel=cancel,
                        seed=config.seed, batch_size=config.batch_size)
    clean_probs = probabilities(clf, images.tensor())
    adv_probs = probabilities(clf, torch.from_numpy(result.x_adv))
    warnings = list(getattr(result, "warnings", []) or [])
    return Result(result, images, result_statuses(result), clean_probs, adv_probs, warnings)


def completed_only(result: Result) -> Result:
    """The samples the attack finished (all of them unless cancelled), as a Result of their own:
    what a cancelled run writes, so no row claims an attack that never ran."""
    import dataclasses

    done = result.attack.completed
    if done is None or bool(np.all(done)):
        return result
    keep = np.flatnonzero(done)
    n = result.attack.n
    fields = {}
    for f in dataclasses.fields(result.attack):
        value = getattr(result.attack, f.name)
        fields[f.name] = value[keep] if isinstance(value, np.ndarray) and len(value) == n else value
    images = result.images.subset(keep)
    return Result(type(result.attack)(**fields), images, [result.statuses[i] for i in keep],
                  result.clean_probs[keep], result.adv_probs[keep], list(result.warnings))
