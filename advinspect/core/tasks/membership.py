"""membership: does the model give away which images it was trained on?

Inputs: the target model, its members (training images) and non-members (held-out images of the
same distribution), optionally a separate population set for the reference models (default: the
union of the two sets, split into random halves — the attacker knows the candidates, not which
are members). Attacks: threshold, offline LiRA, offline RMIA, shadow (see core.privacy.membership). Members are
the positive class, the sets are balanced, and every output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images

ATTACKS = ("threshold", "lira", "rmia", "shadow")


@dataclass(frozen=True)
class Config:
    attack: str = param("all", "which attack(s)", choices=("all", *ATTACKS))
    reference_models: int = param(4, "reference/shadow models k, each trained on a random half of the population",
                                  min=1, max=64)
    reference_arch: str = param("cnn", "reference model architecture: cnn, mlp, same (the target's own torch "
                                       "module) or package.module:Class")
    epochs: int = param(20, "training epochs of each reference model", min=1, max=10_000)
    lr: float = param(1e-3, "reference models' learning rate (Adam)", min=0.0, max=10.0)
    batch_size: int = param(64, "reference models' batch size", min=1, max=65_536)
    weight_decay: float = param(0.0, "reference models' weight decay", min=0.0, max=1.0)
    bootstrap: int = param(200, "bootstrap resamples for the 95 percent intervals (0: none)", min=0, max=100_000)
    exposed: int = param(16, "most exposed members shown", min=0, max=1000)
    seed: int = param(0, "seed: balancing, halves, training, bootstrap", min=0, max=2**31 - 1)
    cache_dir: str = param("", "reference model cache folder (empty: ~/.cache/advinspect/reference_models)")

    def attacks(self) -> tuple[str, ...]:
        return ATTACKS if self.attack == "all" else (self.attack,)


@dataclass
class Inputs:
    clf: Any
    members: Images
    non_members: Images
    population: Images | None = None


@dataclass
class Result:
    members: Images  # balanced
    non_members: Images
    scores: dict[str, np.ndarray]  # attack -> (n_members + n_non_members,) float64, members first
    metrics: dict[str, Any]  # attack -> scores.RocMetrics
    train_accuracy: float
    test_accuracy: float
    config: Config
    references: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def member(self) -> np.ndarray:
        return np.r_[np.ones(len(self.members), bool), np.zeros(len(self.non_members), bool)]

    def most_exposed(self) -> list[int]:
        """Member positions with the highest score of the strongest attack present."""
        name = next((a for a in ("lira", "rmia", "shadow", "threshold") if a in self.scores), None)
        if name is None:
            return []
        member_scores = self.scores[name][: len(self.members)]
        return np.argsort(-member_scores, kind="stable")[: self.config.exposed].tolist()

    def summary(self) -> dict[str, Any]:
        from advinspect.core.privacy.scores import CONVENTION

        return {"convention": CONVENTION, "n_members": len(self.members), "n_non_members": len(self.non_members),
                "train_accuracy": self.train_accuracy, "test_accuracy": self.test_accuracy,
                "accuracy_gap": self.train_accuracy - self.test_accuracy,
                "attacks": {a: {"auc": m.auc, "tpr_at_0.1%_fpr": m.tpr_at_0_1, "tpr_at_1%_fpr": m.tpr_at_1}
                            for a, m in self.metrics.items()},
                "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        lines = [f"{s['n_members']} members vs {s['n_non_members']} non-members (balanced; members positive, "
                 f"higher score = member); train accuracy {s['train_accuracy']:.4f}, test {s['test_accuracy']:.4f}, "
                 f"gap {s['accuracy_gap']:+.4f}"]
        for name, m in self.metrics.items():
            lines.append(f"{name}: AUC {m.auc:.4f}{_interval(m, 'auc')}, TPR@0.1%FPR {m.tpr_at_0_1:.4f}"
                         f"{_interval(m, 'tpr_at_0.1%_fpr')}, TPR@1%FPR {m.tpr_at_1:.4f}"
                         f"{_interval(m, 'tpr_at_1%_fpr')}")
        lines += [f"note: {n}" for n in self.notes]
        if self.cancelled:
            lines.append("cancelled: only the attacks finished before the cancel are reported")
        return lines

    def to_dict(self) -> dict[str, Any]:
        images = [*zip(self.members.names, self.members.index, strict=True),
                  *zip(self.non_members.names, self.non_members.index, strict=True)]
        rows = [{"file": name, "index": int(index), "member": bool(m),
                 **{a: float(s[i]) for a, s in self.scores.items()}}
                for i, ((name, index), m) in enumerate(zip(images, self.member, strict=True))]
        return {"summary": self.summary(), "attacks": {a: m.to_dict() for a, m in self.metrics.items()},
                "config": {k: getattr(self.config, k) for k in self.config.__dataclass_fields__},
                "references": self.references, "notes": list(self.notes), "most_exposed":
                [self.members.names[i] for i in self.most_exposed()], "rows": rows, "cancelled": self.cancelled}

    def report_section(self) -> Any:
        from advinspect.core.privacy.plots import roc_figure
        from advinspect.core.report.sections import (
            Section,
            Table,
            figure_from_array,
            figure_from_matplotlib,
            image_grid,
        )

        table = Table(["attack", "AUC", "AUC 95% CI", "TPR@0.1%FPR", "CI", "TPR@1%FPR", "CI"], [], "attacks")
        for name, m in self.metrics.items():
            table.rows.append([name, m.auc, _interval(m, "auc").strip(), m.tpr_at_0_1,
                               _interval(m, "tpr_at_0.1%_fpr").strip(), m.tpr_at_1,
                               _interval(m, "tpr_at_1%_fpr").strip()])
        figures = []
        if self.metrics:
            curves = {a: (m.fpr, m.tpr, m.auc) for a, m in self.metrics.items()}
            figures.append(figure_from_matplotlib(roc_figure(curves, len(self.non_members)), "ROC, log-log axes"))
        exposed = self.most_exposed()
        if exposed:
            x = np.asarray(self.members.tensor()[exposed].numpy())
            lo, hi = float(x.min()), float(x.max())
            grid = image_grid((x - lo) / max(hi - lo, 1e-12), columns=8)
            figures.append(figure_from_array(grid, "most exposed members (highest score first)", scale=2))
        return Section("Membership inference", self.summary_text(), [table], figures)


def demo_inputs(epochs: int = 30, seed: int = 0, *, progress: Progress = NO_PROGRESS,
                cancel: CancelToken = NEVER) -> Inputs:
    """The demo: all 1797 digits (32x32); a seeded random half trains a `cnn` target meant to
    overfit (no augmentation, no weight decay, `epochs` epochs), the other half are its
    non-members. The reference models then train on halves of the same 1797 images."""
    import torch

    from advinspect.core.data.digits import digits_images, to_tensor
    from advinspect.core.defenses.training import TrainingConfig, train_defense
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.models.spec import ModelSpec
    from advinspect.core.privacy.nets import seeded_net

    x_tr, y_tr, x_te, y_te = digits_images(0)
    x = to_tensor(np.concatenate([x_tr, x_te]))
    y = np.concatenate([y_tr, y_te])
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    m, n = np.sort(order[:half]), np.sort(order[half: 2 * half])
    spec = ModelSpec(input_shape=(1, 32, 32), mean=(0.5,), std=(0.5,), labels=tuple(str(i) for i in range(10)))
    config = TrainingConfig(epochs=epochs, val_fraction=0.0, keep_best=False, weight_decay=0.0, seed=seed)
    trained = train_defense(config, x[m], torch.as_tensor(y[m]), spec, seeded_net("cnn", (1, 32, 32), 10, seed),
                            progress, cancel)
    if trained.cancelled:
        raise AdvInspectError("membership demo: cancelled while training the target")
    names = [f"digit{i:04d}" for i in range(len(x))]
    return Inputs(trained.classifier(),
                  Images(x[m].numpy(), y[m], [names[i] for i in m], index=m),
                  Images(x[n].numpy(), y[n], [names[i] for i in n], index=n))


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.privacy import membership as mia
    from advinspect.core.privacy.nets import build_net
    from advinspect.core.privacy.reference import ReferenceSettings, train_references
    from advinspect.core.privacy.scores import roc_metrics

    clf = inputs.clf
    mia.check_sets(inputs.members, inputs.non_members)
    attacks = config.attacks()
    needs_references = any(a != "threshold" for a in attacks)
    population = inputs.population
    if population is not None:
        population.require_labels("membership (population)")
    if needs_references:
        build_net(config.reference_arch, tuple(clf.spec.input_shape), clf.num_classes, clf)  # fits, or one line
    members, non_members = mia.balanced(inputs.members, inputs.non_members, config.seed)
    notes = []
    if len(members) < len(inputs.members) or len(non_members) < len(inputs.non_members):
        notes.append(f"balanced: {len(inputs.members)} members and {len(inputs.non_members)} non-members given, "
                     f"{len(members)} of each used (seeded random choice)")
    if len(non_members) < 1000:
        notes.append(f"with {len(non_members)} non-members an FPR below {1 / len(non_members):.4f} is not resolved: "
                     "TPR@0.1%FPR is the TPR at zero false positives")
    x = torch.cat([members.tensor(), non_members.tensor()])
    y = np.r_[members.labels, non_members.labels]
    member = np.r_[np.ones(len(members), bool), np.zeros(len(non_members), bool)]
    logits = clf.logits_batched(x).double().cpu()
    pred = logits.argmax(1).numpy()
    result = Result(members, non_members, {}, {}, float((pred[member] == y[member]).mean()),
                    float((pred[~member] == y[~member]).mean()), config, notes=notes)
    target_scores = mia.logit_confidence(logits, y)
    if "threshold" in attacks:
        result.scores["threshold"] = target_scores
    if needs_references:
        if population is None:
            pop_x, pop_y = x, y
            result.references["population"] = "the members and non-members together (random halves)"
        else:
            pop_x, pop_y = population.tensor(), population.labels
            result.references["population"] = f"{len(population)} given images"
        settings = ReferenceSettings(config.reference_arch, config.reference_models, config.epochs, config.lr,
                                     config.batch_size, config.weight_decay, config.seed, config.cache_dir)
        refs = train_references(clf, pop_x, pop_y, settings, progress=progress, cancel=cancel)
        result.references.update({"k": settings.k, "trained": len(refs.models) - refs.cached, "cached": refs.cached,
                                  "arch": settings.arch, "epochs": settings.epochs})
        if refs.cancelled:
            result.cancelled = True
        elif refs.models:
            _reference_attacks(result, attacks, refs, pop_x, pop_y, x, y, logits, target_scores, config)
    if "threshold" in attacks:  # keep the table order fixed: threshold first
        result.scores = {"threshold": result.scores.pop("threshold"), **result.scores}
    for name, s in result.scores.items():
        result.metrics[name] = roc_metrics(member, s, config.bootstrap, config.seed)
    return result


def _reference_attacks(result: Result, attacks: tuple[str, ...], refs: Any, pop_x: Any, pop_y: np.ndarray,
                       x: Any, y: np.ndarray, logits: Any, target_scores: np.ndarray, config: Config) -> None:
    from advinspect.core.privacy import membership as mia

    in_pop = _positions(x, pop_x)  # challenge image -> its population index, or -1
    trained_on = np.where(in_pop >= 0, refs.in_half[:, np.maximum(in_pop, 0)], False)
    result.references["out_models_per_image"] = float((~trained_on).sum(0).mean())
    ref_logits = [m.logits_batched(x).double().cpu() for m in refs.models] if {"lira", "rmia"} & set(attacks) else []
    if "lira" in attacks:
        ref_scores = np.stack([mia.logit_confidence(z, y) for z in ref_logits])
        result.scores["lira"] = mia.lira_offline(target_scores, ref_scores, ~trained_on)
    if "rmia" in attacks:
        rows = np.arange(len(y))
        ref_p = np.stack([z.softmax(1).numpy()[rows, y] for z in ref_logits])
        result.scores["rmia"] = mia.rmia_offline(logits.softmax(1).numpy()[rows, y], ref_p, ~trained_on)
    if "shadow" in attacks:
        classes = logits.shape[1]
        feats_in, feats_out = [], []
        for model, mask in zip(refs.models, refs.in_half, strict=True):
            f = mia.shadow_features(model.logits_batched(pop_x), pop_y, classes)
            feats_in.append(f[mask])
            feats_out.append(f[~mask])
        result.scores["shadow"] = mia.shadow_attack(np.vstack(feats_in), np.vstack(feats_out),
                                                    mia.shadow_features(logits, y, classes), config.seed)


def _positions(x: Any, pop_x: Any) -> np.ndarray:
    """Where each image of `x` sits in `pop_x` (by its pixels), -1 where absent."""
    import hashlib

    def key(t: Any) -> str:
        return hashlib.sha1(np.ascontiguousarray(t.numpy(), dtype=np.float32).tobytes()).hexdigest()

    where = {key(t): i for i, t in enumerate(pop_x)}
    return np.array([where.get(key(t), -1) for t in x], dtype=np.int64)


def _interval(metrics: Any, key: str) -> str:
    """' [lo, hi]' of a bootstrap interval, '' without one."""
    ci = metrics.ci or {}
    return f" [{ci[key][0]:.4f}, {ci[key][1]:.4f}]" if key in ci else ""
