"""sanitize: per-sample suspicion scores for a training set on a chosen layer's features, the
detection AUC of every layer when the poison manifest is known, and (optionally) retraining on
the cleaned set with C-Acc / ASR / RA after."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advinspect.core.backdoor.scores import METHODS
from advinspect.core.defenses.training_config import DEFENSES
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images


@dataclass(frozen=True)
class Config:
    method: str = param("spectral", "suspicion score", choices=METHODS)
    layer: str = param("", "layer whose features are scored; empty: the penultimate layer")
    expected_ratio: float = param(0.1, "expected poison ratio: at most 1.5× it is removed (activation "
                                  "clustering and spectral: only from the classes their analysis flags)",
                                  min=0.0, max=0.66)
    all_layers: bool = param(True, "with a manifest: the detection AUC of every layer")
    retrain: bool = param(False, "retrain on the cleaned set and measure C-Acc / ASR / RA")
    retrain_defense: str = param("standard", "training defense for the retraining", choices=tuple(DEFENSES))
    epochs: int = param(10, "retraining epochs", min=1, max=10_000)
    lr: float = param(1e-3, "retraining learning rate", min=0.0, max=10.0)
    batch_size: int = param(64, "retraining batch size", min=1, max=65_536)
    top: int = param(16, "most suspicious images shown", min=0, max=256)
    seed: int = param(0, "seed: clustering and retraining", min=0, max=2**31 - 1)


@dataclass
class Inputs:
    clf: Any  # the (possibly backdoored) torch model trained on the set
    images: Images  # the training set, labelled as trained on
    poisoned: Any = None  # bool (N,) from the manifest, or None
    attack: Any = None  # poison.Config that made the set (to rebuild the trigger for ASR), or None
    arch: Any = None  # architecture to retrain from scratch (name or module)
    test: Any = None  # Images: the test set for C-Acc / ASR / RA


@dataclass
class Result:
    config: Config
    layer: str
    scores: np.ndarray
    flags: np.ndarray
    images: Images
    poisoned: np.ndarray | None = None
    auc: float | None = None
    layer_auc: dict[str, float | None] = field(default_factory=dict)
    roc: tuple[np.ndarray, np.ndarray] | None = None
    top: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    flagged_classes: tuple[int, ...] | None = None  # classes the clustering analysis flagged (None: no analysis)
    before: Any = None  # BackdoorMetrics of the given model
    after: Any = None  # BackdoorMetrics after retraining on the cleaned set
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        caught = None
        if self.poisoned is not None:
            caught = int((self.flags & self.poisoned).sum())
        return {"method": self.config.method, "layer": self.layer, "n": len(self.scores),
                "n_flagged": int(self.flags.sum()), "n_poisoned": None if self.poisoned is None
                else int(self.poisoned.sum()), "poisoned_flagged": caught, "auc": self.auc,
                "best_layer": self.best_layer, "layer_auc": dict(self.layer_auc),
                "flagged_classes": None if self.flagged_classes is None else list(self.flagged_classes),
                "before": None if self.before is None else self.before.to_dict(),
                "after": None if self.after is None else self.after.to_dict(), "cancelled": self.cancelled}

    @property
    def best_layer(self) -> str | None:
        known = {k: v for k, v in self.layer_auc.items() if v is not None}
        return max(known, key=known.__getitem__) if known else None

    def summary_text(self) -> list[str]:
        s = self.summary()
        lines = [f"{s['method']} on layer {s['layer']}: {s['n_flagged']}/{s['n']} images flagged"]
        if self.flagged_classes is not None:
            lines[0] += (f" in class(es) {', '.join(map(str, self.flagged_classes))}" if self.flagged_classes
                         else " (no class flagged: its clusters are its own; try another layer)")
        if self.poisoned is not None:
            auc = "-" if self.auc is None else f"{self.auc:.4f}"
            lines.append(f"{s['poisoned_flagged']}/{s['n_poisoned']} poisoned images flagged, detection AUC {auc}")
        if self.best_layer is not None and self.best_layer != self.layer:
            lines.append(f"best layer by AUC: {self.best_layer} ({self.layer_auc[self.best_layer]:.4f})")
        if self.before is not None:
            lines.append(f"model as given: {self.before.text()}")
        if self.after is not None:
            lines.append(f"retrained on the cleaned set: {self.after.text()}")
        if self.cancelled:
            lines.append("cancelled: the scores computed so far are kept")
        return lines

    def rows(self) -> list[dict[str, Any]]:
        """One row per training file: path, label, score, flagged (and poisoned when known)."""
        paths = self.images.paths or self.images.names
        return [{"index": int(self.images.index[i]), "path": paths[i], "label": int(self.images.labels[i]),
                 "score": float(self.scores[i]), "flagged": bool(self.flags[i]),
                 **({} if self.poisoned is None else {"poisoned": bool(self.poisoned[i])})}
                for i in range(len(self.scores))]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "config": asdict(self.config), "rows": self.rows(),
                "top": self.top.tolist(),
                "roc": None if self.roc is None else {"fpr": self.roc[0].tolist(), "tpr": self.roc[1].tolist()}}

    def report_section(self) -> Any:
        from advinspect.core.backdoor.report import sanitize_section

        return sanitize_section(self)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.backdoor.features import (
        check_layers,
        default_layer,
        extract_features,
        layer_names,
    )
    from advinspect.core.backdoor.scores import (
        FEATURE_METHODS,
        detection_auc,
        flag_top,
        loss_scores,
        removal_budget,
        roc,
        suspicion,
    )
    from advinspect.core.errors import AdvInspectError

    images = inputs.images
    images.require_labels("sanitize")
    if len(np.unique(images.labels)) < 2:
        raise AdvInspectError("sanitize needs a training set with at least two classes")
    poisoned = None if inputs.poisoned is None else np.asarray(inputs.poisoned, bool)
    if poisoned is not None and len(poisoned) != len(images):
        raise AdvInspectError(f"the manifest marks {len(poisoned)} images but the set has {len(images)}")
    if config.retrain and not inputs.arch:
        raise AdvInspectError("retraining needs the architecture to train from scratch (--arch)")
    feature_method = config.method in FEATURE_METHODS
    layer = ""
    if feature_method:
        layer = check_layers(inputs.clf, [config.layer])[0] if config.layer else default_layer(inputs.clf)
    layers = [layer] if feature_method else []
    if feature_method and poisoned is not None and config.all_layers:
        layers = layer_names(inputs.clf)
    x, labels = images.tensor(), images.labels
    total = len(layers) + 1 + int(config.retrain)
    layer_auc: dict[str, float | None] = {}
    chosen = np.zeros(len(labels))
    candidates = flagged_classes = None
    cancelled = False
    for step, name in enumerate(layers):
        if cancel.cancelled:
            cancelled = True
            break
        progress(step, total, f"scoring layer {name}")
        found = suspicion(config.method, extract_features(inputs.clf, x, [name])[name], labels, config.seed)
        if poisoned is not None:
            layer_auc[name] = detection_auc(found.values, poisoned)
        if name == layer:
            chosen, candidates = found.values, found.candidates
            flagged_classes = None if candidates is None else found.flagged_classes
    if not feature_method:
        chosen = loss_scores(inputs.clf, x, labels)
    budget = removal_budget(len(labels), config.expected_ratio)
    if candidates is None:
        flags = flag_top(chosen, budget)
    else:  # only the suspect side of flagged classes, most suspicious first
        flags = flag_top(np.where(candidates, chosen, -np.inf), min(budget, int(candidates.sum())))
    result = Result(config, layer or "(model loss)", chosen, flags, images, poisoned, cancelled=cancelled,
                    layer_auc=layer_auc, top=np.argsort(-chosen, kind="stable")[:config.top],
                    flagged_classes=flagged_classes)
    if poisoned is not None and not cancelled:
        result.auc = detection_auc(chosen, poisoned)
        result.roc = roc(chosen, poisoned) if result.auc is not None else None
    if inputs.test is not None and not cancelled:
        _measure(result, inputs, config, progress, cancel, total)
    return result


def _measure(result: Result, inputs: Inputs, config: Config, progress: Progress, cancel: CancelToken,
             total: int) -> None:
    from advinspect.core.poisoning.metrics import backdoor_metrics
    from advinspect.core.poisoning.training import stage, train_and_measure
    from advinspect.core.tasks.poison import training_config, trigger_for

    test = inputs.test
    attack = inputs.attack
    target = attack.target if attack is not None else 0
    source = attack.source if attack is not None else -1
    trigger = trigger_for(attack, tuple(test.x.shape[1:])) if attack is not None else None
    result.before = backdoor_metrics(inputs.clf, test.tensor(), test.labels, target, trigger, source)
    if not config.retrain:
        return
    keep = np.flatnonzero(~result.flags)
    training = training_config(config.retrain_defense, config.epochs, config.lr, config.batch_size, config.seed)
    x = inputs.images.tensor()[keep]
    trained, result.after = train_and_measure(
        x, inputs.images.labels[keep], inputs.clf.spec, inputs.arch, training, (test.tensor(), test.labels),
        target, trigger, source, stage(progress, total - 1, total, "retraining"), cancel)
    result.cancelled = trained.cancelled
