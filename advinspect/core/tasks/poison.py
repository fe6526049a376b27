"""poison: poison a training set (BadNets, blend, clean-label, label flip), train on it through
the training defenses, and measure C-Acc / ASR / RA against clean training (and a ratio sweep).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advinspect.core.defenses.training_config import DEFENSES, TrainingConfig
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.poisoning.names import ATTACKS, PATTERNS, POSITIONS, TRIGGERED
from advinspect.core.tasks.train import DEMO_ARCH


@dataclass(frozen=True)
class Config:
    attack: str = param("badnets", "poisoning attack", choices=ATTACKS)
    ratio: float = param(0.1, "fraction of the training set poisoned, in (0, 1)", min=0.0, max=1.0)
    target: int = param(0, "target class (all-to-one backdoor, or the flip's destination)", min=0)
    source: int = param(-1, "label flip: source class, -1 flips to random other classes", min=-1)
    trigger_size: int = param(3, "BadNets patch side in pixels", min=1)
    position: str = param("bottom-right", "where the patch goes", choices=POSITIONS)
    trigger_value: float = param(1.0, "patch value as a fraction of the value range", min=0.0, max=1.0)
    pattern: str = param("solid", "trigger pattern (blend uses noise unless a file is given)", choices=PATTERNS)
    pattern_file: str = param("", "an image file as the trigger pattern (resized to the patch)")
    alpha: float = param(0.2, "blend: weight of the pattern, in (0, 1)", min=0.0, max=1.0)
    eps: float = param(16 / 255, "clean-label: Linf PGD budget on the proxy model", min=0.0, max=1.0)
    pgd_steps: int = param(10, "clean-label: PGD steps", min=1, max=1000)
    train: bool = param(True, "train a model on the poisoned set and measure C-Acc / ASR / RA")
    baseline: bool = param(True, "also train on the clean set (the C-Acc reference; clean-label's proxy)")
    sweep: tuple[float, ...] = param((), "more poison ratios to train and plot, e.g. 0.005,0.01,0.05")
    defense: str = param("standard", "training defense for every model trained", choices=tuple(DEFENSES))
    epochs: int = param(10, "training epochs", min=1, max=10_000)
    lr: float = param(1e-3, "learning rate", min=0.0, max=10.0)
    batch_size: int = param(64, "training batch size", min=1, max=65_536)
    limit: int = param(0, "poison and train on at most this many training images (0: all; quick runs)", min=0)
    preview: int = param(8, "poisoned samples shown as original | poisoned pairs", min=0, max=256)
    seed: int = param(0, "seed: which samples, trigger noise, training", min=0, max=2**31 - 1)

    def training(self) -> TrainingConfig:
        return training_config(self.defense, self.epochs, self.lr, self.batch_size, self.seed)


def training_config(defense: str, epochs: int, lr: float, batch_size: int, seed: int) -> TrainingConfig:
    """The training run poison and sanitize ask for. A non-adversarial defense validates on clean
    accuracy only, so its per-epoch PGD probe is cut to one image and one step (it would cost as
    much as the training on a small set and decides nothing)."""
    adversarial = TrainingConfig(defense=defense).adversarial
    return TrainingConfig(defense=defense, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                          **({} if adversarial else {"val_attack_size": 1, "val_pgd_steps": 1}))


@dataclass
class Inputs:
    x: Any = None  # (N, C, H, W) training images in pixel space; None: the demo digits
    labels: Any = None
    test_x: Any = None  # test images for the metrics (None with x None: the demo test split)
    test_labels: Any = None
    spec: Any = None  # ModelSpec (value range, labels); None with the demo
    arch: Any = None  # architecture name or torch module to train; None with the demo: DigitsCNN


def held_out(x: Any, y: Any, spec: Any, arch: Any, seed: int, test: tuple[Any, Any] | None = None) -> Inputs:
    """Inputs for a labelled set of the user's (a folder, the GUI session's images). Without a
    test set of its own a stratified quarter is held out under `seed`: C-Acc / ASR / RA mean
    something only on images the model did not train on. The CLI and the Poisoning dock share it."""
    import torch

    from advinspect.core.errors import AdvInspectError

    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).float()
    y = np.asarray(y, dtype=np.int64)
    if test is None:
        from sklearn.model_selection import train_test_split

        if len(y) == 0 or np.bincount(y).min() < 4 or len(np.unique(y)) < 2:
            raise AdvInspectError("too few images per class to hold out a test split (at least 4 of each of "
                                  "two or more classes): give a test set")
        tr, te = train_test_split(np.arange(len(y)), test_size=0.25, random_state=seed, stratify=y)
        test, x, y = (x[te], y[te]), x[tr], y[tr]
    tx, ty = torch.as_tensor(np.asarray(test[0])).float(), np.asarray(test[1], dtype=np.int64)
    if spec is not None and spec.labels is None:
        spec = spec.merged(labels=tuple(str(i) for i in range(int(max(y.max(), ty.max())) + 1)))
    return Inputs(x, y, tx, ty, spec, arch)


@dataclass
class Result:
    config: Config
    poisoned: Any  # PoisonedSet
    trigger: Any  # Trigger or None (label flip)
    label_names: list[str]
    value_range: tuple[float, float]
    metrics: Any = None  # BackdoorMetrics of the model trained on the poisoned set
    baseline: Any = None  # BackdoorMetrics of the clean model
    sweep: list[dict[str, Any]] = field(default_factory=list)
    training: Any = None  # TrainingResult of the poisoned model
    preview_original: np.ndarray | None = None
    preview_poisoned: np.ndarray | None = None
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        p = self.poisoned
        return {"attack": self.config.attack, "ratio": self.config.ratio, "target": self.config.target,
                "n": len(p.labels), "n_poisoned": p.n_poisoned,
                "poisoned": None if self.metrics is None else self.metrics.to_dict(),
                "clean": None if self.baseline is None else self.baseline.to_dict(),
                "c_acc_drop": None if self.metrics is None or self.baseline is None
                else self.baseline.c_acc - self.metrics.c_acc, "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        c = self.config
        lines = [f"{c.attack}: {self.poisoned.n_poisoned}/{len(self.poisoned.labels)} training images poisoned "
                 f"(ratio {c.ratio}), target class {c.target}"]
        if self.metrics is not None:
            lines.append(f"trained on the poisoned set: {self.metrics.text()}")
        if self.baseline is not None:
            lines.append(f"trained on the clean set: {self.baseline.text()}")
        for row in self.sweep:
            m = row["metrics"]
            lines.append(f"ratio {row['ratio']}: {m.text()}")
        if self.cancelled:
            lines.append("cancelled: the poisoned set is kept; models not trained are missing")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "config": asdict(self.config),
                "trigger": None if self.trigger is None else self.trigger.to_dict(),
                "poisoned_indices": np.flatnonzero(self.poisoned.poisoned).tolist(),
                "sweep": [{"ratio": r["ratio"], **r["metrics"].to_dict()} for r in self.sweep],
                "training": None if self.training is None else self.training.summary()}

    def report_section(self) -> Any:
        from advinspect.core.poisoning.report import poison_section

        return poison_section(self)


def trigger_for(config: Config, shape: tuple[int, int, int]) -> Any:
    """The trigger `config` describes for images of `shape` (C, H, W); None for a label flip."""
    from advinspect.core.poisoning.triggers import blend_trigger, patch_trigger

    if config.attack not in TRIGGERED:
        return None
    if config.attack == "blend":
        pattern = "noise" if config.pattern == "solid" else config.pattern
        return blend_trigger(shape, config.alpha, pattern, config.pattern_file, config.trigger_value, config.seed)
    return patch_trigger(shape, config.trigger_size, config.position, config.trigger_value, config.pattern,
                         config.pattern_file, config.seed)


def _data(inputs: Inputs, config: Config) -> tuple[Any, np.ndarray, Any, Any, Any]:
    import torch

    from advinspect.core.errors import AdvInspectError

    if inputs.x is None:
        from advinspect.core.defenses.training import demo_training_set
        from advinspect.core.models.spec import ModelSpec

        x, y, tx, ty = demo_training_set(config.seed)
        spec = ModelSpec(input_shape=(1, 32, 32), mean=(0.5,), std=(0.5,), labels=tuple("0123456789"))
        return x, y.numpy(), (tx, ty.numpy()), spec, inputs.arch or DEMO_ARCH
    x = torch.as_tensor(np.asarray(inputs.x) if not isinstance(inputs.x, torch.Tensor) else inputs.x).float()
    if x.ndim != 4:
        raise AdvInspectError(f"poisoning needs images (N, C, H, W), got shape {tuple(x.shape)}")
    test = None
    if inputs.test_x is not None:
        test = (torch.as_tensor(inputs.test_x).float(), np.asarray(inputs.test_labels, dtype=np.int64))
    return x, np.asarray(inputs.labels, dtype=np.int64), test, inputs.spec, inputs.arch


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.poisoning.attacks import check_request
    from advinspect.core.poisoning.training import stage, train_and_measure

    x, y, test, spec, arch = _data(inputs, config)
    if config.limit:
        x, y = x[:config.limit], y[:config.limit]
    num_classes = spec.num_classes if spec is not None and spec.num_classes else int(y.max()) + 1
    check_request(y, num_classes, config.attack, config.ratio, config.target, config.source)
    for ratio in config.sweep:
        check_request(y, num_classes, config.attack, ratio, config.target, config.source)
    trigger = trigger_for(config, tuple(x.shape[1:]))
    if config.train and arch is None:
        raise AdvInspectError("training on the poisoned set needs an architecture (or turn training off)")
    value_range = tuple(spec.value_range) if spec is not None else (0.0, 1.0)
    names = list(spec.labels) if spec is not None and spec.labels else [str(i) for i in range(num_classes)]
    trains = int(config.train) * (1 + int(config.baseline or config.attack == "clean-label") + len(config.sweep))
    count, done = max(1, trains), 0
    baseline = proxy = None
    if config.train and (config.baseline or config.attack == "clean-label"):
        clean, baseline = train_and_measure(x, y, spec, arch, config.training(), test, config.target, trigger,
                                            config.source, stage(progress, done, count, "clean"), cancel)
        done += 1
        proxy = clean.classifier("cpu")
        if clean.cancelled:
            return Result(config, _poison(x, y, config, config.ratio, num_classes, trigger, value_range, proxy),
                          trigger, names, value_range, cancelled=True)
    elif config.attack == "clean-label":
        raise AdvInspectError("clean-label poisoning needs a proxy model: leave training on")
    poisoned = _poison(x, y, config, config.ratio, num_classes, trigger, value_range, proxy)
    result = Result(config, poisoned, trigger, names, value_range, baseline=baseline)
    _previews(result, x, config.preview)
    if not config.train:
        return result
    result.training, result.metrics = train_and_measure(
        poisoned.x, poisoned.labels, spec, arch, config.training(), test, config.target, trigger, config.source,
        stage(progress, done, count, "poisoned"), cancel)
    done += 1
    result.cancelled = result.training.cancelled
    for ratio in config.sweep:
        if result.cancelled:
            break
        p = _poison(x, y, config, ratio, num_classes, trigger, value_range, proxy)
        training, metrics = train_and_measure(p.x, p.labels, spec, arch, config.training(), test, config.target,
                                              trigger, config.source, stage(progress, done, count, f"ratio {ratio}"),
                                              cancel)
        done += 1
        result.cancelled = training.cancelled
        if metrics is not None and not training.cancelled:
            result.sweep.append({"ratio": ratio, "metrics": metrics})
    return result


def _poison(x: Any, y: np.ndarray, config: Config, ratio: float, num_classes: int, trigger: Any,
            value_range: tuple[float, float], proxy: Any) -> Any:
    from advinspect.core.poisoning.attacks import poison_set

    perturb = None
    if config.attack == "clean-label" and proxy is not None:
        perturb = _pgd_perturb(proxy, config)
    return poison_set(x, y, config.attack, ratio, config.target, num_classes=num_classes, trigger=trigger,
                      source=config.source, value_range=value_range, seed=config.seed, perturb=perturb)


def _pgd_perturb(proxy: Any, config: Config) -> Any:
    """Turner et al.: untargeted Linf PGD on the proxy, so the true features are hard to learn and
    the trigger becomes the easy cue. The training defenses' PGD, in the model's value range."""
    import torch

    from advinspect.core.defenses.training import pgd_linf

    lo, hi = proxy.spec.value_range
    eps = config.eps * (hi - lo)
    module = proxy.as_module()

    def perturb(x: Any, y: Any) -> Any:
        generator = torch.Generator().manual_seed(config.seed + 2)
        parts = [pgd_linf(module, x[i:i + 256], y[i:i + 256], eps, 2.5 * eps / config.pgd_steps, config.pgd_steps,
                          (lo, hi), generator) for i in range(0, len(x), 256)]
        return torch.cat(parts).detach()

    return perturb


def _previews(result: Result, x: Any, count: int) -> None:
    chosen = np.flatnonzero(result.poisoned.poisoned)[:count]
    if len(chosen):
        result.preview_original = x[chosen].numpy().copy()
        result.preview_poisoned = result.poisoned.x[chosen].numpy().copy()
