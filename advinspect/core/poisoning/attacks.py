"""Poisoning a training set: label flips, BadNets, blended triggers and clean-label poison.

`poison_set` returns the poisoned copy with a mask of which samples were changed (the manifest a
sanitizer is scored against) and never touches the caller's arrays. Poisoned indices are drawn
*without* replacement, seeded (ART's clean-label attack samples with replacement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.poisoning.names import ATTACKS, TRIGGERED
from advinspect.core.poisoning.triggers import Trigger

MIN_PER_CLASS = 2


class PoisonInputError(AdvInspectError):
    """The poisoning request cannot be met by this data (ratio, target class, class counts)."""


@dataclass
class PoisonedSet:
    """The poisoned training set: images, labels as trained on, the original labels and which
    samples the attack changed."""

    x: torch.Tensor
    labels: np.ndarray
    original_labels: np.ndarray
    poisoned: np.ndarray  # bool (N,)

    @property
    def n_poisoned(self) -> int:
        return int(self.poisoned.sum())


def check_request(labels: np.ndarray, num_classes: int, attack: str, ratio: float, target: int,
                  source: int = -1) -> None:
    """Every bad-input check that needs only the labels, before any image is touched."""
    if attack not in ATTACKS:
        raise PoisonInputError(f"unknown poisoning attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    if not 0.0 < ratio < 1.0:
        raise PoisonInputError(f"the poison ratio must lie in (0, 1), got {ratio}")
    present = np.unique(labels)
    if len(present) < 2:
        raise PoisonInputError(f"poisoning needs a training set with at least two classes, got {len(present)}")
    counts = np.bincount(labels, minlength=num_classes)
    thin = [int(c) for c in present if counts[c] < MIN_PER_CLASS]
    if thin:
        raise PoisonInputError(f"too few images in class(es) {', '.join(map(str, thin))}: "
                               f"at least {MIN_PER_CLASS} per class are needed")
    for name, value in (("target", target), ("source", source)):
        if value == -1 and name == "source":
            continue
        if not 0 <= value < num_classes:
            raise PoisonInputError(f"{name} class {value} does not exist: the model has classes 0..{num_classes - 1}")
    if attack == "label-flip" and source == target:
        raise PoisonInputError("a targeted label flip needs a source class other than the target")
    _count(labels, ratio, eligible(labels, attack, target, source))


def eligible(labels: np.ndarray, attack: str, target: int, source: int = -1) -> np.ndarray:
    """Which samples the attack may poison: the target class for clean-label, the source class
    for a targeted flip, every sample for a random flip, the other classes for a trigger."""
    if attack == "clean-label":
        return labels == target
    if attack == "label-flip":
        return labels == source if source >= 0 else np.ones(len(labels), bool)
    return labels != target


def _count(labels: np.ndarray, ratio: float, pool: np.ndarray) -> int:
    wanted = int(round(ratio * len(labels)))
    if wanted < 1:
        raise PoisonInputError(f"a ratio of {ratio} poisons no image of {len(labels)}: raise the ratio")
    if wanted > int(pool.sum()):
        raise PoisonInputError(f"a ratio of {ratio} asks for {wanted} poisoned images but only "
                               f"{int(pool.sum())} are eligible for this attack")
    return wanted


def choose_indices(labels: np.ndarray, ratio: float, pool: np.ndarray, seed: int) -> np.ndarray:
    """round(ratio · N) indices of `pool` (a bool mask), drawn without replacement under `seed`."""
    wanted = _count(labels, ratio, pool)
    chosen = np.random.default_rng(seed).choice(np.flatnonzero(pool), size=wanted, replace=False)
    return np.sort(chosen)


def poison_set(x: torch.Tensor, labels: np.ndarray, attack: str, ratio: float, target: int, *,
               num_classes: int, trigger: Trigger | None = None, source: int = -1,
               value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
               perturb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> PoisonedSet:
    """Poison round(ratio·N) training samples.

    badnets / blend: non-target samples get the trigger and the target label (all-to-one).
    clean-label (Turner et al. 2019): target-class samples only, labels kept; `perturb(x, y)`
      (PGD on a proxy model) makes them hard to learn before the trigger goes on.
    label-flip: random (source -1: each chosen sample to a random other class) or source → target.
    """
    labels = np.asarray(labels, dtype=np.int64)
    check_request(labels, num_classes, attack, ratio, target, source)
    if attack in TRIGGERED and trigger is None:
        raise PoisonInputError(f"{attack} needs a trigger")
    out_x, out_y = x.clone(), labels.copy()
    chosen = choose_indices(labels, ratio, eligible(labels, attack, target, source), seed)
    index = torch.as_tensor(chosen)
    if attack == "label-flip":
        if source >= 0:
            out_y[chosen] = target
        else:
            shift = np.random.default_rng(seed + 1).integers(1, num_classes, size=len(chosen))
            out_y[chosen] = (labels[chosen] + shift) % num_classes
    else:
        assert trigger is not None
        picked = out_x[index]
        if attack == "clean-label":
            if perturb is None:
                raise PoisonInputError("clean-label poisoning needs a proxy model to perturb with")
            picked = perturb(picked, torch.as_tensor(labels[chosen]))
        out_x[index] = trigger.apply(picked, value_range)
        if attack != "clean-label":
            out_y[chosen] = target
    poisoned = np.zeros(len(labels), bool)
    poisoned[chosen] = True
    return PoisonedSet(out_x, out_y, labels, poisoned)


def summary(p: PoisonedSet) -> dict[str, Any]:
    return {"n": len(p.labels), "n_poisoned": p.n_poisoned, "ratio": p.n_poisoned / max(1, len(p.labels)),
            "labels_changed": int((p.labels != p.original_labels).sum())}
