"""evaluate: robustness curves, calibration, histograms and sanity checks over a labelled set.

The result keeps what the plots link back to (per-sample calibration bins, the held-out split,
temperature-scaled confidences), so a consumer never re-runs the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import DEFAULT_EPS, param
from advinspect.core.tasks.base import Images, with_plugins


@dataclass(frozen=True)
class Config:
    attacks: tuple[str, ...] = param(("pgd",), "attacks to run (comma-separated or repeated)", flag="--attack")
    eps: tuple[float, ...] = param(DEFAULT_EPS, "budgets, comma-separated; fractions allowed (8/255)", min=0.0)
    steps: int | None = param(None, "attack iterations (given to the attacks that take it)", min=1)
    calibration_split: float = param(0.5, "fraction held out to evaluate temperature scaling", min=0.01, max=0.99)
    bins: int = param(15, "reliability bins", min=2, max=1000)
    seed: int = param(0, "random seed", min=0)
    batch_size: int | None = param(None, "samples per batch", min=1)
    sanity_checks: bool = param(True, "run the gradient-masking sanity checks")
    params: dict[str, Any] = field(default_factory=dict)  # other shared attack parameters

    def core_config(self) -> Any:
        from advinspect.core.evaluate import EvaluationConfig

        params = dict(self.params)
        if self.steps is not None:
            params["steps"] = self.steps
        return EvaluationConfig(attacks=tuple(self.attacks), eps=tuple(self.eps), params=params,
                                calibration_split=self.calibration_split, n_bins=self.bins, seed=self.seed,
                                batch_size=self.batch_size, sanity_checks=self.sanity_checks)


@dataclass
class Inputs:
    clf: Any
    images: Images


@dataclass
class Result:
    evaluation: Any  # core Evaluation: JSON-ready `data` and per-sample arrays
    images: Images
    held_out: np.ndarray  # positions of the calibration's held-out split
    scaled_confidence: np.ndarray  # clean confidence after temperature scaling, per sample
    calibration_bin: np.ndarray  # reliability bin of each sample's clean confidence
    config: Config = field(default_factory=Config)

    @property
    def cancelled(self) -> bool:
        return bool(self.evaluation.cancelled)

    @property
    def data(self) -> dict[str, Any]:
        return self.evaluation.data

    def summary(self) -> dict[str, Any]:
        d, calib = self.data, self.data["calibration"]
        return {"n": d["n"], "clean_accuracy": d["clean_accuracy"], "ece": calib["ece"],
                "temperature": calib["temperature"], "ece_after_temperature": calib["ece_after_temperature"],
                "curves": {c["attack"]: dict(zip(c["eps"], c["robust_accuracy"], strict=True)) for c in d["curves"]},
                "warnings": list(d["warnings"]), "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        d, calib = self.data, self.data["calibration"]
        lines = [f"clean accuracy {d['clean_accuracy']:.4f} on {d['n']} images; ECE {calib['ece']:.4f} "
                 f"(after temperature T={calib['temperature']:.3f}: {calib['ece_after_temperature']:.4f} held-out, "
                 f"was {calib['held_out_before']['ece']:.4f}); NLL {calib['nll']:.4f}; Brier {calib['brier']:.4f}"]
        for curve in d["curves"]:
            points = ", ".join(f"{e:.4g}: {a:.4f}" for e, a in zip(curve["eps"], curve["robust_accuracy"], strict=True))
            lines.append(f"{curve['attack']} robust accuracy by eps: {points}")
        lines += [f"warning: {w}" for w in d["warnings"]]
        if self.cancelled:
            lines.append("cancelled: the curves hold the budgets finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.attacks import get_attack
    from advinspect.core.evaluate import evaluate
    from advinspect.core.metrics.calibration import bin_index, split_indices

    clf, images = inputs.clf, inputs.images
    images.require_labels("evaluate")
    with_plugins()
    if not config.attacks:
        raise AdvInspectError("evaluate: choose at least one attack")
    for name in config.attacks:
        get_attack(name)  # a typo fails before any work
    core = config.core_config()
    x, y = images.tensor(), images.labels_tensor()
    ev = evaluate(clf, x, y, core, progress=progress, cancel=cancel)
    logits = clf.logits_batched(x).double().cpu()
    temperature = float(ev.data["calibration"]["temperature"])
    scaled = (logits / temperature).softmax(1).max(1).values.numpy()
    _, held = split_indices(len(x), core.calibration_split, core.seed)
    bins = bin_index(ev.clean_confidence, config.bins)
    return Result(ev, images, np.asarray(held), scaled, bins, config)
