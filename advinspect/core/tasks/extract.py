"""extract: steal a model through its answers (Tramèr et al. 2016; Knockoff Nets, Orekondy et al.
2019), then use the thief for a black-box evasion of the victim (a transfer attack).

The victim is only ever called through `logits` (probabilities or labels leave it, nothing else),
so an ONNX black box works. At each checkpoint budget a fresh thief is trained on every answer so
far, and its fidelity (agreement with the victim) and accuracy on the test set are recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images, fmt

DEFAULT_CHECKPOINTS = (100.0, 300.0, 1000.0, 3000.0, 10000.0)
NOISE_POOL = 10_000
MIN_UPDATES = 200  # a thief on 100 answers needs more than a few epochs' steps


@dataclass(frozen=True)
class Config:
    budget: int = param(1000, "queries to the victim", min=1, max=10_000_000)
    checkpoints: tuple[float, ...] = param(DEFAULT_CHECKPOINTS, "budgets at which a thief is trained and "
                                           "measured (those above --budget are dropped; the budget is added)")
    sampling: str = param("random", "query selection", choices=("random", "adaptive"))
    labels_only: bool = param(False, "the victim answers with labels only (hard), not probabilities")
    thief_arch: str = param("cnn", "thief architecture: cnn, mlp or package.module:Class")
    epochs: int = param(30, "thief training epochs at each checkpoint (more where a small budget would "
                            f"give fewer than {MIN_UPDATES} optimizer steps)", min=1, max=10_000)
    lr: float = param(1e-3, "thief learning rate (Adam)", min=0.0, max=10.0)
    batch_size: int = param(64, "thief batch size", min=1, max=65_536)
    round_size: int = param(100, "queries per round (the adaptive sampler learns between rounds)", min=1,
                            max=1_000_000)
    transfer_eps: float = param(0.1, "Linf budget of the transfer attack (0: none)", min=0.0, max=1e3)
    transfer_steps: int = param(20, "PGD steps on the thief", min=1, max=10_000)
    transfer_images: int = param(200, "test images attacked for the transfer attack", min=0, max=1_000_000)
    seed: int = param(0, "seed: sampling, augmentation, training", min=0, max=2**31 - 1)

    def budgets(self) -> list[int]:
        return sorted({int(c) for c in self.checkpoints if 0 < c < self.budget} | {self.budget})


@dataclass
class Inputs:
    victim: Any
    pool: Images | None  # None: uniform noise
    test: Images


@dataclass
class Result:
    config: Config
    rows: list[dict[str, Any]]  # per checkpoint: queries, fidelity, accuracy, seconds
    victim_accuracy: float | None
    pool_text: str
    transfer: dict[str, Any] | None = None
    thief: Any = None  # the last thief, a Classifier (not in to_dict)
    thief_training: Any = None  # its TrainingResult: `save_defended_model` writes it as a model file
    arm_pulls: list[int] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        last = self.rows[-1] if self.rows else {}
        return {"queries": last.get("queries", 0), "fidelity": last.get("fidelity"), "accuracy": last.get("accuracy"),
                "victim_accuracy": self.victim_accuracy, "labels": "hard" if self.config.labels_only else "soft",
                "sampling": self.config.sampling, "transfer_success": (self.transfer or {}).get("victim_success"),
                "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        lines = [f"{self.config.sampling} sampling, {s['labels']} labels, thief {self.config.thief_arch}; {self.pool_text}"]
        for row in self.rows:
            lines.append(f"{row['queries']} queries: fidelity {fmt(row['fidelity'])}, thief accuracy "
                         f"{fmt(row['accuracy'])} (victim {fmt(self.victim_accuracy)})")
        if self.transfer:
            t = self.transfer
            lines.append(f"transfer PGD (Linf {t['eps']:.4g}, {t['steps']} steps on the thief): "
                         f"{t['victim_success']:.4f} of {t['attacked']} images the victim got right are now "
                         f"misclassified by it (thief itself: {t['thief_success']:.4f})")
        if self.cancelled:
            lines.append("cancelled: the checkpoints finished before the cancel are reported")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "budgets": self.rows, "transfer": self.transfer, "pool": self.pool_text,
                "victim_accuracy": self.victim_accuracy, "arm_pulls": self.arm_pulls,
                "config": {k: getattr(self.config, k) for k in self.config.__dataclass_fields__},
                "cancelled": self.cancelled}

    def report_section(self) -> Any:
        from advinspect.core.privacy.plots import budget_figure
        from advinspect.core.report.sections import Section, Table, figure_from_matplotlib

        table = Table(["queries", "fidelity", "thief accuracy", "seconds"],
                      [[r["queries"], r["fidelity"], r["accuracy"], r["seconds"]] for r in self.rows], "per budget")
        figures = []
        if self.rows:
            budgets = [r["queries"] for r in self.rows]
            fig = budget_figure(budgets, {"fidelity": [r["fidelity"] for r in self.rows],
                                          "thief accuracy": [r["accuracy"] for r in self.rows]})
            figures.append(figure_from_matplotlib(fig, "fidelity and thief accuracy against the query budget"))
        return Section("Model extraction", self.summary_text(), [table], figures)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.models.spec import ModelSpec
    from advinspect.core.privacy.extraction import Sampler, augmented, victim_answers
    from advinspect.core.privacy.nets import build_net

    victim = inputs.victim
    shape = tuple(victim.spec.input_shape or ())
    if len(shape) != 3:
        raise AdvInspectError("extract needs a victim with a known input shape (give --input-shape C,H,W)")
    if config.budget < 1:
        raise AdvInspectError("extract: the query budget must be at least 1")
    build_net(config.thief_arch, shape, victim.num_classes)  # fits the victim's input, or one line
    if not len(inputs.test):
        raise AdvInspectError("extract: the test set is empty")
    lo, hi = victim.spec.value_range
    if inputs.pool is None:
        g = torch.Generator().manual_seed(config.seed)
        size = min(config.budget, NOISE_POOL)  # beyond it, augmented copies: memory stays bounded
        pool_x = lo + (hi - lo) * torch.rand(size, *shape, generator=g)
        pool_labels = None
        pool_text = f"pool: {size} uniform noise images"
    else:
        pool_x = inputs.pool.tensor()
        if tuple(pool_x.shape[1:]) != shape:
            raise AdvInspectError(f"extract: pool images are {tuple(pool_x.shape[1:])} but the victim takes {shape}")
        pool_labels = inputs.pool.labels if inputs.pool.has_labels else None
        pool_text = f"pool: {len(pool_x)} images" + (
            ", queries beyond them are augmented copies (shift <= 2 px, noise std 0.03)"
            if config.budget > len(pool_x) else "")
    test_x = inputs.test.tensor()
    victim_test = victim.predict(test_x).cpu().numpy()
    labelled = inputs.test.has_labels
    victim_accuracy = float((victim_test == inputs.test.labels).mean()) if labelled else None
    spec = ModelSpec(input_shape=shape, value_range=(lo, hi), labels=victim.spec.labels)
    arms = int(pool_labels.max()) + 1 if pool_labels is not None else victim.num_classes
    sampler = Sampler(len(pool_x), config.sampling, config.seed, arms)
    result = Result(config, [], victim_accuracy, pool_text)
    xs, answers = [], []
    arm_means: dict[int, np.ndarray] = {}
    thief = None
    thief_pool_pred = None
    started = time.perf_counter()
    for budget in config.budgets():
        while sum(len(a) for a in answers) < budget:
            if cancel.cancelled:
                result.cancelled = True
                break
            done = sum(len(a) for a in answers)
            arm_of = pool_labels if pool_labels is not None else thief_pool_pred
            index, copy, arm = sampler.choose(min(config.round_size, budget - done), arm_of)
            x = torch.stack([augmented(pool_x[i], int(i), int(v), config.seed, (lo, hi)) for i, v in zip(index, copy,
                                                                                                     strict=True)])
            a = victim_answers(victim, x, config.labels_only)
            thief_probs = thief.probabilities(x).cpu().numpy() if thief is not None else None
            sampler.reward(arm, a, thief_probs, arm_means)
            xs.append(x)
            answers.append(a)
            progress(done + len(a), config.budget, f"{done + len(a)} queries")
        if result.cancelled:
            break
        trained = _train_thief(torch.cat(xs), np.concatenate(answers), spec, config, budget, cancel)
        if trained.cancelled:
            result.cancelled = True
            break
        thief, result.thief_training = trained.classifier(), trained
        pred = thief.predict(test_x).cpu().numpy()
        result.rows.append({"queries": budget, "fidelity": float((pred == victim_test).mean()),
                            "accuracy": float((pred == inputs.test.labels).mean()) if labelled else None,
                            "seconds": round(time.perf_counter() - started, 3)})
        if config.sampling == "adaptive" and pool_labels is None:
            thief_pool_pred = thief.predict(pool_x).cpu().numpy()
        progress(budget, config.budget, f"thief trained on {budget} answers: fidelity {result.rows[-1]['fidelity']:.3f}")
    result.thief = thief
    result.arm_pulls = sampler.arm_pulls.tolist()
    if thief is not None and not result.cancelled and config.transfer_eps > 0 and config.transfer_images > 0:
        result.transfer = transfer_attack(thief, victim, test_x[: config.transfer_images],
                                          inputs.test.labels[: config.transfer_images] if labelled
                                          else victim_test[: config.transfer_images], config, cancel)
    return result


def _train_thief(x: Any, answers: np.ndarray, spec: Any, config: Config, budget: int, cancel: CancelToken) -> Any:
    """A fresh thief trained on all answers so far (soft targets, or the hard labels)."""
    import torch

    from advinspect.core.defenses.training import TrainingConfig, train_defense
    from advinspect.core.privacy.nets import seeded_net

    targets = torch.from_numpy(answers) if not config.labels_only else torch.from_numpy(answers.argmax(1))
    if len(x) < 2:  # training needs two images; a budget of one is answered with a duplicate
        x, targets = torch.cat([x, x]), torch.cat([targets, targets])
    epochs = max(config.epochs, -(-MIN_UPDATES // -(-len(x) // config.batch_size)))
    training = TrainingConfig(defense="standard", epochs=epochs, lr=config.lr, batch_size=config.batch_size,
                              val_fraction=0.0, keep_best=False, seed=config.seed + budget)
    net = seeded_net(config.thief_arch, tuple(spec.input_shape), len(spec.labels), config.seed)
    return train_defense(training, x, targets, spec, net, cancel=cancel)


def transfer_attack(thief: Any, victim: Any, x: Any, labels: np.ndarray, config: Config,
                    cancel: CancelToken = NEVER) -> dict[str, Any]:
    """PGD on the thief through the attack engine; the adversarials are then sent to the victim.
    Success on the victim counts the images it classified right before and wrong after."""
    import torch

    from advinspect.core.attacks import get_attack

    attack = get_attack("pgd").from_values({"eps": config.transfer_eps, "steps": config.transfer_steps,
                                            "early_stop": False})
    y = torch.as_tensor(labels, dtype=torch.long)
    adv = attack.run(thief, x, y, seed=config.seed, cancel=cancel)
    n = len(adv.x_adv)
    clean = victim.predict(x[:n]).cpu().numpy()
    after = victim.predict(torch.from_numpy(adv.x_adv)).cpu().numpy()
    right = clean == labels[:n]
    return {"eps": config.transfer_eps, "steps": config.transfer_steps, "attacked": int(right.sum()),
            "victim_success": float((after[right] != labels[:n][right]).mean()) if right.any() else 0.0,
            "thief_success": float(np.mean(adv.success)) if n else 0.0,
            "victim_accuracy_before": float(right.mean()) if n else None,
            "victim_accuracy_after": float((after == labels[:n]).mean()) if n else None}
