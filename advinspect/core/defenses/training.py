"""Training-time defenses: (re)train a torch model with a robustness-oriented objective.

Defenses, selected by name (`DEFENSES`):
  standard          plain cross-entropy: the baseline every defense is compared with.
  fgsm              FGSM adversarial training with a uniform random start (Wong, Rice & Kolter
                    2020, "Fast is better than free"); step 1.25·eps. Prone to *catastrophic
                    overfitting*: PGD accuracy collapses while FGSM accuracy rises. Detected per
                    epoch on the validation split and recorded in the history and the result.
  pgd               Madry et al. 2018: train on PGD adversarials (random start, projected steps).
  trades            Zhang et al. 2019: CE(f(x), y) + beta · KL(f(x) || f(x')), x' maximising the KL.
  label_smoothing   CE against smoothed targets (Szegedy et al. 2016): lower confidence, not
                    robustness; a calibration/over-confidence defense.
  distillation      defensive distillation (Papernot et al. 2016): a teacher at temperature T,
                    then a student at T on the teacher's soft labels; deployed at T = 1. Known to
                    mask gradients (Carlini & Wagner 2016): evaluate it with margin losses too.
  gradient_penalty  input-gradient regularisation (Ross & Doshi-Velez 2018): CE + lambda·||dCE/dx||²,
                    by double backpropagation.
  spectral_norm     every Conv/Linear weight divided by its largest singular value
                    (torch.nn.utils.parametrizations.spectral_norm), baked in when training ends.
  dro               Wasserstein DRO by WRM (Sinha et al. 2018, `core/robust/dro.py`): CE on
                    argmax loss(x') − gamma·||x'−x||²/2; after training, the certificate against
                    the empirical worst-case loss over rho on the validation split (`certificate`).

Everything works in the model's pixel space: mean/std normalization is applied by a wrapper during
training, exactly as the Classifier applies it at use, so epsilons mean the same here and in the
attacks. The job is a plain function (`train_defense`) with Progress and a CancelToken; it is
deterministic under a seed on the CPU (own generators, global RNG forked and restored).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advinspect.core.attacks import ops
from advinspect.core.defenses.training_config import ADVERSARIAL, DEFENSES, TrainingConfig  # noqa: F401  (re-exported)
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress, select_device
from advinspect.core.models.spec import ModelSpec, write_sidecar
from advinspect.core.models.torch_backend import TorchClassifier

HISTORY_FIELDS = (
    "phase", "epoch", "eps", "lr", "loss", "train_accuracy", "val_clean_accuracy",
    "val_pgd_accuracy", "val_fgsm_accuracy", "catastrophic_overfitting", "best", "seconds",
)


@dataclass
class TrainingResult:
    """The trained module (CPU, eval mode, plain weights), its spec and the per-epoch history."""

    module: nn.Module
    spec: ModelSpec
    config: TrainingConfig
    history: list[dict[str, Any]]
    best_epoch: int | None
    cancelled: bool = False
    catastrophic_overfitting: bool = False
    catastrophic_overfitting_epoch: int | None = None
    notes: list[str] = field(default_factory=list)
    n_train: int = 0
    n_val: int = 0
    seconds: float = 0.0
    certificate: Any = None  # dro: core.robust.dro.CertificateCurve on the validation split

    def classifier(self, device: str | torch.device = "cpu") -> TorchClassifier:
        """The trained model as a Classifier (a copy: the result's module stays trainable)."""
        torch_device = device if isinstance(device, torch.device) else select_device(device)
        return TorchClassifier(copy.deepcopy(self.module), self.spec, torch_device, format="trained")

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: config, last and best epoch, flags and notes."""
        best = next((h for h in self.history if h["best"]), None)
        return {
            "defense": self.config.defense,
            "config": self.config.to_dict(),
            "epochs_run": sum(1 for h in self.history if h["phase"] == "train"),
            "best_epoch": self.best_epoch,
            "best": best,
            "last": self.history[-1] if self.history else None,
            "cancelled": self.cancelled,
            "catastrophic_overfitting": self.catastrophic_overfitting,
            "catastrophic_overfitting_epoch": self.catastrophic_overfitting_epoch,
            "notes": list(self.notes),
            "n_train": self.n_train,
            "n_val": self.n_val,
            "seconds": round(self.seconds, 3),
            **({"dro_certificate": self.certificate.to_dict()} if self.certificate is not None else {}),
        }


# --- model preparation -----------------------------------------------------------------------
class _PixelSpace(nn.Module):
    """The network behind the same mean/std normalization the Classifier applies at use."""

    def __init__(self, net: nn.Module, spec: ModelSpec, channels: int) -> None:
        super().__init__()
        self.net = net
        mean = spec.mean if spec.mean is not None else (0.0,)
        std = spec.std if spec.std is not None else (1.0,)
        self.register_buffer("mean", _per_channel(mean, channels))
        self.register_buffer("std", _per_channel(std, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def _per_channel(values: tuple[float, ...], channels: int) -> torch.Tensor:
    tensor = torch.tensor(values, dtype=torch.float32)
    if len(values) == 1:
        tensor = tensor.expand(channels).clone()
    return tensor.view(1, -1, 1, 1)


def initial_module(
    arch_or_module: str | nn.Module | TorchClassifier, num_classes: int | None
) -> tuple[nn.Module, ModelSpec | None]:
    """A trainable starting module and the spec it implies (None when it implies nothing).

    A string is an architecture (`package.module:Class` or a torchvision name) built fresh; a
    module or a TorchClassifier's module is deep-copied (the caller's model is never touched).
    """
    from advinspect.core.models.loader import build_architecture

    if isinstance(arch_or_module, str):
        module, spec = build_architecture(arch_or_module, num_classes)
        return module, spec
    if isinstance(arch_or_module, TorchClassifier):
        return _trainable_copy(arch_or_module.module), arch_or_module.spec
    if isinstance(arch_or_module, nn.Module):
        return _trainable_copy(arch_or_module), None
    raise AdvInspectError(
        f"cannot train a {type(arch_or_module).__name__}: give an architecture name or a torch model"
    )


def _trainable_copy(module: nn.Module) -> nn.Module:
    if isinstance(module, torch.jit.ScriptModule):
        raise AdvInspectError(
            "a TorchScript model cannot be retrained here: give its architecture "
            "(e.g. --arch package.module:Class or a torchvision name) to train a fresh copy"
        )
    try:
        module = copy.deepcopy(module).cpu()
    except Exception as exc:  # exotic modules (open handles, C++ state) do not copy
        raise AdvInspectError(f"cannot copy the model for training: {exc}") from exc
    params = list(module.parameters())
    if not params:
        raise AdvInspectError("the model has no parameters to train: give its architecture instead")
    for parameter in params:
        parameter.requires_grad_(True)
    return module


def _set_mode(model: nn.Module, train: bool) -> None:
    """Train mode for training (batch-norm statistics, dropout), eval mode for attacks/validation.
    A torch.export program refuses to switch: it keeps the mode it was exported in."""
    try:
        model.train(train)
    except (NotImplementedError, RuntimeError):
        pass


def _switchable(model: nn.Module) -> bool:
    mode = model.training
    try:
        model.train(not mode)  # a torch.export program refuses only actual changes
        model.train(mode)
    except (NotImplementedError, RuntimeError):
        return False
    return True


def apply_spectral_norm(module: nn.Module) -> int:
    """Parametrize every Conv/Linear weight by spectral normalization; returns how many layers."""
    from torch.nn.utils.parametrizations import spectral_norm

    layers = [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    for layer in layers:
        spectral_norm(layer, name="weight")
    if not layers:
        raise AdvInspectError("spectral normalization found no conv or linear layer in this model")
    return len(layers)


def converge_spectral_norm(module: nn.Module, iterations: int = 50) -> None:
    """Run the power iteration of every spectral-norm parametrization to convergence.

    Training does one iteration per batch, so after a short run the estimate of the largest
    singular value is still low and the layer not yet normalized; validation and the saved model
    should see the layers the defense promises."""
    from torch.nn.utils import parametrize

    for layer in module.modules():
        if not parametrize.is_parametrized(layer, "weight"):
            continue
        plist = layer.parametrizations["weight"]
        for parametrization in plist:
            if hasattr(parametrization, "_u"):  # torch's _SpectralNorm: iterates in train mode
                was_training = parametrization.training
                parametrization.train()
                with torch.no_grad():
                    for _ in range(iterations):
                        parametrization(plist.original)
                parametrization.train(was_training)


def remove_spectral_norm(module: nn.Module) -> None:
    """Bake the normalized weights in, so the saved model is a plain network."""
    from torch.nn.utils import parametrize

    converge_spectral_norm(module)
    _set_mode(module, False)  # eval: use the converged power-iteration vectors, no extra step
    for layer in module.modules():
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)


def largest_singular_values(module: nn.Module) -> dict[str, float]:
    """Largest singular value of every conv/linear weight reshaped to (out, -1) — the quantity
    spectral normalization bounds (for convolutions a proxy of the operator norm)."""
    values = {}
    for name, layer in module.named_modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            weight = layer.weight.detach().reshape(layer.weight.shape[0], -1)
            values[name] = float(torch.linalg.matrix_norm(weight, ord=2))
    return values


# --- attacks used while training (eval mode, gradients w.r.t. the input only) -----------------
def _input_grad(model: nn.Module, x: torch.Tensor, loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(model(x)), x)
    return grad


def fgsm_rs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float,
            bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """Wong et al. 2020: uniform start in the eps ball, one signed step, projection."""
    x_start = ops.project(x + ops.random_start(x, eps, "linf", generator), x, eps, "linf", *bounds)
    return ops.projected_ascent(x, x_start, _ce_gradient(model, y), eps=eps, step_size=step, steps=1,
                                norm="linf", bounds=bounds)


def pgd_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float, steps: int,
             bounds: tuple[float, float], generator: torch.Generator | None) -> torch.Tensor:
    """Madry et al. 2018: random start (when a generator is given), signed steps, projection."""
    x_start = x.clone()
    if generator is not None:
        x_start = ops.project(x + ops.random_start(x, eps, "linf", generator), x, eps, "linf", *bounds)
    return ops.projected_ascent(x, x_start, _ce_gradient(model, y), eps=eps, step_size=step, steps=steps,
                                norm="linf", bounds=bounds)


def trades_adversary(model: nn.Module, x: torch.Tensor, eps: float, step: float, steps: int,
                     bounds: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
    """Zhang et al. 2019: maximise KL(f(x) || f(x')) from a small Gaussian start (0.001·N(0,1))."""
    with torch.no_grad():
        p_clean = F.softmax(model(x), dim=1)
    x_start = (x + 0.001 * torch.randn(x.shape, generator=generator, device=x.device)).clamp(*bounds)

    def kl(out: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(out, dim=1), p_clean, reduction="sum")

    return ops.projected_ascent(x, x_start, lambda xa: _input_grad(model, xa, kl), eps=eps, step_size=step,
                                steps=steps, norm="linf", bounds=bounds)


def _ce_gradient(model: nn.Module, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda xa: _input_grad(model, xa, lambda out: F.cross_entropy(out, y, reduction="sum"))


# --- the training objectives --------------------------------------------------------------------
@dataclass
class _Run:
    """State shared by the objective functions of one run."""

    config: TrainingConfig
    bounds: tuple[float, float]
    generator: torch.Generator
    teacher: nn.Module | None = None


def _objective(run: _Run, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
               phase: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss to minimise, logits the train accuracy is read from) for one batch."""
    c = run.config
    name = c.defense
    if name in ADVERSARIAL and eps > 0:
        _set_mode(model, False)  # craft the attack in eval mode (batch norm, dropout), as TRADES does
        if name == "fgsm":
            x_adv = fgsm_rs(model, x, y, eps, c.attack_step() * eps / c.eps, run.bounds, run.generator)
        elif name == "pgd":
            x_adv = pgd_linf(model, x, y, eps, c.attack_step() * eps / c.eps, c.steps, run.bounds,
                             run.generator)
        else:
            x_adv = trades_adversary(model, x, eps, c.attack_step() * eps / c.eps, c.steps, run.bounds,
                                     run.generator)
        _set_mode(model, True)
        if name == "trades":
            out_clean, out_adv = model(x), model(x_adv)
            robust = F.kl_div(F.log_softmax(out_adv, 1), F.softmax(out_clean, 1), reduction="batchmean")
            return F.cross_entropy(out_clean, y) + c.trades_beta * robust, out_adv
        out = model(x_adv)
        return F.cross_entropy(out, y), out
    if name == "label_smoothing":
        out = model(x)
        return F.cross_entropy(out, y, label_smoothing=c.smoothing), out
    if name == "distillation":
        out = model(x)
        if phase == "teacher":
            return F.cross_entropy(out / c.temperature, y), out
        assert run.teacher is not None
        with torch.no_grad():
            soft = F.softmax(run.teacher(x) / c.temperature, dim=1)
        return -(soft * F.log_softmax(out / c.temperature, dim=1)).sum(1).mean(), out
    if name == "gradient_penalty":
        x_in = x.detach().requires_grad_(True)
        out = model(x_in)
        ce = F.cross_entropy(out, y, reduction="sum")
        (grad,) = torch.autograd.grad(ce, x_in, create_graph=True)  # per-sample input gradients
        penalty = grad.flatten(1).pow(2).sum(1).mean()
        return ce / len(x) + c.gp_lambda * penalty, out
    if name == "dro":
        from advinspect.core.robust.dro import default_step, wrm_adversary

        _set_mode(model, False)
        x_adv = wrm_adversary(model, x, y, gamma=c.dro_gamma, steps=c.dro_steps,
                              step_size=c.dro_step_size or default_step(c.dro_gamma),
                              bounds=run.bounds if c.dro_clip else None)
        _set_mode(model, True)
        out = model(x_adv)
        return F.cross_entropy(out, y), out
    out = model(x)  # standard, spectral_norm (the parametrization does the work), eps = 0 warm-up
    return F.cross_entropy(out, y), out


# --- validation -------------------------------------------------------------------------------
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    if len(x) == 0:
        return float("nan")
    with torch.no_grad():
        correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                      for i in range(0, len(x), batch))
    return correct / len(x)


def _validate(run: _Run, model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor) -> dict[str, float | None]:
    """Clean accuracy on the split; PGD and FGSM accuracy at the full eps on its first images.

    The PGD start noise is re-seeded each epoch, so epochs are compared on the same attack."""
    if len(x_val) == 0:
        return {"val_clean_accuracy": None, "val_pgd_accuracy": None, "val_fgsm_accuracy": None}
    c = run.config
    if c.defense == "spectral_norm":
        converge_spectral_norm(model)  # validate the layers that will be saved
    _set_mode(model, False)
    clean = _accuracy(model, x_val, y_val)
    xa, ya = x_val[: c.val_attack_size], y_val[: c.val_attack_size]
    generator = torch.Generator(device=xa.device).manual_seed(c.seed + 2)
    pgd_parts, fgsm_parts = [], []
    for i in range(0, len(xa), 256):
        xb, yb = xa[i:i + 256], ya[i:i + 256]
        pgd_parts.append(pgd_linf(model, xb, yb, c.eps, 2.5 * c.eps / c.val_pgd_steps, c.val_pgd_steps,
                                  run.bounds, generator))
        fgsm_parts.append(pgd_linf(model, xb, yb, c.eps, c.eps, 1, run.bounds, None))
    pgd = _accuracy(model, torch.cat(pgd_parts), ya)
    fgsm = _accuracy(model, torch.cat(fgsm_parts), ya)
    _set_mode(model, True)
    return {"val_clean_accuracy": clean, "val_pgd_accuracy": pgd, "val_fgsm_accuracy": fgsm}


def _catastrophic(history: list[dict[str, Any]], record: dict[str, Any], drop: float) -> bool:
    """Wong et al. 2020's symptom: the model learns to defeat the single FGSM step, not the threat.

    Flagged when PGD accuracy falls at least `drop` below its best while FGSM accuracy holds (the
    classic collapse), or when FGSM accuracy exceeds PGD accuracy by at least 2·`drop` (also a
    collapse from the start, where PGD accuracy never rose). Adversarially trained models that
    work keep the two close (a few points on the demo digits)."""
    pgd, fgsm = record["val_pgd_accuracy"], record["val_fgsm_accuracy"]
    earlier = [h for h in history if h["phase"] == record["phase"] and h["val_pgd_accuracy"] is not None]
    if pgd is None or not earlier:
        return False
    if fgsm - pgd >= 2 * drop:
        return True
    best_pgd = max(h["val_pgd_accuracy"] for h in earlier)
    fgsm_holds = fgsm >= earlier[-1]["val_fgsm_accuracy"] - 0.02
    return best_pgd - pgd >= drop and fgsm - pgd >= drop and fgsm_holds


def _score(config: TrainingConfig, record: dict[str, Any]) -> tuple[float, float]:
    clean = record["val_clean_accuracy"]
    if clean is None:  # no validation split: the last epoch is the best we know
        return (record["epoch"], 0.0)
    if config.adversarial:
        return (record["val_pgd_accuracy"], clean)
    return (clean, record["val_pgd_accuracy"])


# --- the job ----------------------------------------------------------------------------------
def _lr_at(config: TrainingConfig, step: int, total: int) -> float:
    t = step / max(total, 1)
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * t))
    if config.lr_schedule == "onecycle":  # Wong et al.: linear up to the peak at 40%, then down to 0
        return config.lr * (t / 0.4 if t < 0.4 else max(0.0, (1 - t) / 0.6))
    return config.lr


def _optimizer(config: TrainingConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = min(n - 1, max(1, round(n * fraction))) if fraction > 0 else 0
    return order[n_val:], order[:n_val]


def _settle_spec(spec: ModelSpec | None, implied: ModelSpec | None, x: torch.Tensor,
                 num_classes: int) -> ModelSpec:
    base = implied or ModelSpec()
    merged = base.merged(spec) if spec is not None else base
    if merged.input_shape is None:
        merged = merged.merged(input_shape=tuple(x.shape[1:]))
    if tuple(merged.input_shape) != tuple(x.shape[1:]):
        raise AdvInspectError(
            f"training images are {tuple(x.shape[1:])} (C,H,W) but the model takes {merged.input_shape}"
        )
    if merged.labels is None or len(merged.labels) < num_classes:
        merged = merged.merged(labels=tuple(str(i) for i in range(num_classes)))
    return merged


@dataclass
class _Phase:
    """One training phase (distillation has a teacher phase before the student's)."""

    name: str
    model: nn.Module
    best_state: dict[str, torch.Tensor] | None = None
    best_score: tuple[float, float] | None = None
    best_epoch: int | None = None


def train_defense(
    config: TrainingConfig,
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    spec: ModelSpec | None,
    arch_or_module: str | nn.Module | TorchClassifier,
    progress: Progress = NO_PROGRESS,
    cancel: CancelToken = NEVER,
) -> TrainingResult:
    """Train `arch_or_module` on (train_x, train_y) with `config.defense`; see the module doc.

    train_x: (N, C, H, W) float in the spec's value range (pixel space, not normalized);
    train_y: (N,) class indices, or (N, classes) probabilities (soft targets, standard defense
    only: model extraction trains on a victim's answers). A fraction `val_fraction` is held out
    for per-epoch validation (clean accuracy, PGD-`val_pgd_steps` and FGSM accuracy at `eps` on
    `val_attack_size` images).
    spec: mean/std/value range/labels; None takes what the architecture implies (or the
    TorchClassifier's spec). Progress: one step per batch; with `progress.wants_preview` a
    preview dict {"phase", "epoch", "epochs", "batch", "batches", "loss", "history", "best_epoch"}.
    Cancel: stops after the current batch and returns the best checkpoint, marked cancelled.
    """
    config.check()
    started = time.perf_counter()
    x_all = torch.as_tensor(train_x).float()
    y_all = torch.as_tensor(train_y)
    soft = y_all.is_floating_point() and y_all.ndim == 2  # (N, classes) probabilities: soft targets
    y_all = y_all.float() if soft else y_all.long()
    if soft and config.defense != "standard":
        raise AdvInspectError("soft (probability) labels train with the standard defense only")
    if x_all.ndim != 4 or len(x_all) != len(y_all) or len(x_all) < 2:
        raise AdvInspectError("training needs images (N, C, H, W) with one label each, N >= 2")
    if not soft and (y_all < 0).any():
        raise AdvInspectError("every training image needs a label (class folders)")
    lo, hi = spec.value_range if spec is not None else (0.0, 1.0)
    span = (hi - lo) * 0.01
    if float(x_all.min()) < lo - span or float(x_all.max()) > hi + span:
        raise AdvInspectError(
            f"training images span [{float(x_all.min()):g}, {float(x_all.max()):g}] but the model takes "
            f"values in [{lo:g}, {hi:g}]: give pixel values in that range (e.g. uint8 / 255), not normalized"
        )
    device = select_device(config.device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)  # fresh weights and dropout: deterministic, global RNG restored
        return _train(config, x_all, y_all, spec, arch_or_module, device, progress, cancel, started)


def _train(config: TrainingConfig, x_all: torch.Tensor, y_all: torch.Tensor, spec: ModelSpec | None,
           arch_or_module: Any, device: torch.device, progress: Progress, cancel: CancelToken,
           started: float) -> TrainingResult:
    soft = y_all.ndim == 2
    num_classes = spec.num_classes if spec is not None and spec.num_classes else \
        (y_all.shape[1] if soft else int(y_all.max()) + 1)
    net, implied = initial_module(arch_or_module, num_classes)
    spec = _settle_spec(spec, implied, x_all, num_classes)
    notes: list[str] = []
    source = arch_or_module.module if isinstance(arch_or_module, TorchClassifier) else arch_or_module
    if isinstance(source, nn.Module) and not _switchable(source):  # a copy forgets the refusal
        notes.append("the model cannot switch between training and eval mode (a torch.export program): "
                     "it trains in the mode it was exported in; train from its architecture for batch "
                     "norm and dropout to train properly")
    bounds = spec.value_range
    x_all = x_all.clamp(*bounds)
    train_idx, val_idx = _split(len(x_all), config.val_fraction, config.seed)
    x_tr, y_tr = x_all[train_idx].to(device), y_all[train_idx].to(device)
    x_val, y_val = x_all[val_idx].to(device), y_all[val_idx].to(device)
    if soft:
        y_val = y_val.argmax(1)  # validation scores agreement with the soft labels' top class
    run = _Run(config, bounds, torch.Generator(device=device).manual_seed(config.seed + 1))
    channels = x_all.shape[1]
    initial = copy.deepcopy(net)
    phases = ["teacher", "train"] if config.defense == "distillation" else ["train"]
    batches = math.ceil(len(x_tr) / config.batch_size)
    total = batches * config.epochs * len(phases)
    history: list[dict[str, Any]] = []
    state = {"step": 0, "cancelled": False}
    done: _Phase | None = None
    for phase_name in phases:
        module = copy.deepcopy(initial) if phase_name == "train" and done is not None else net
        if config.defense == "spectral_norm":
            apply_spectral_norm(module)
        phase = _Phase(phase_name, _PixelSpace(module, spec, channels).to(device))
        _fit(run, phase, x_tr, y_tr, x_val, y_val, history, state, total, progress, cancel)
        if phase_name == "teacher" and not state["cancelled"]:
            _restore_best(phase, config)
            _set_mode(phase.model, False)
            run.teacher = phase.model
        done = phase
        if state["cancelled"]:
            break
    assert done is not None
    if state["cancelled"] and done.name == "teacher":
        notes.append("cancelled during the teacher phase: the returned model is the teacher")
    if state["cancelled"] and done.best_state is None:
        notes.append("cancelled before the first epoch ended: the model is partly trained")
    _restore_best(done, config, state["cancelled"])
    certificate = None
    if config.defense == "dro":
        notes += _dro_notes(config, done.model.net)
        if len(x_val) and not state["cancelled"]:
            certificate = _dro_certificate(config, done.model, x_val, y_val, bounds)
    final = done.model.net
    if config.defense == "spectral_norm":
        remove_spectral_norm(final)
    final = final.cpu()
    _set_mode(final, False)
    co = [h for h in history if h["catastrophic_overfitting"]]
    if co:
        notes.append(
            f"catastrophic overfitting at epoch {co[0]['epoch']}: validation PGD accuracy collapsed to "
            f"{co[0]['val_pgd_accuracy']:.2f} while FGSM accuracy is {co[0]['val_fgsm_accuracy']:.2f}"
            + (f"; the returned model is the best epoch by validation PGD accuracy ({done.best_epoch})"
               if config.keep_best or state["cancelled"] else "")
        )
    return TrainingResult(
        module=final, spec=spec, config=config, history=history, best_epoch=done.best_epoch,
        cancelled=state["cancelled"], catastrophic_overfitting=bool(co),
        catastrophic_overfitting_epoch=co[0]["epoch"] if co else None, notes=notes,
        n_train=len(x_tr), n_val=len(x_val), seconds=time.perf_counter() - started, certificate=certificate,
    )


def _dro_notes(config: TrainingConfig, net: nn.Module) -> list[str]:
    """Where WRM's certificate does not apply: non-smooth layers, clipping."""
    from advinspect.core.robust.dro import non_smooth_layers

    notes = []
    rough = non_smooth_layers(net)
    if rough:
        notes.append(f"warning: DRO's certificate assumes a smooth loss, but the model has {', '.join(rough)} "
                     "(the reference uses ELU): the certificate curve is then not a guarantee")
    if config.dro_clip:
        notes.append("warning: dro_clip keeps x' in the value range, outside the certificate's assumptions")
    return notes


def _dro_certificate(config: TrainingConfig, model: nn.Module, x_val: torch.Tensor, y_val: torch.Tensor,
                     bounds: tuple[float, float]) -> Any:
    from advinspect.core.robust.dro import certificate_curve

    _set_mode(model, False)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        return certificate_curve(model, x_val[:512], y_val[:512], gamma=config.dro_gamma, steps=config.dro_steps,
                                 step_size=config.dro_step_size, bounds=bounds if config.dro_clip else None)
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)


def _restore_best(phase: _Phase, config: TrainingConfig, cancelled: bool = False) -> None:
    """The best epoch's weights: always after a cancel (a half-done epoch was never validated),
    otherwise when `keep_best` asks for early stopping."""
    if phase.best_state is not None and (config.keep_best or cancelled):
        phase.model.load_state_dict(phase.best_state)


def _fit(run: _Run, phase: _Phase, x_tr: torch.Tensor, y_tr: torch.Tensor, x_val: torch.Tensor,
         y_val: torch.Tensor, history: list[dict[str, Any]], state: dict[str, Any], total: int,
         progress: Progress, cancel: CancelToken) -> None:
    """The epochs of one phase; appends to `history`, keeps the best state in `phase`."""
    c = run.config
    model = phase.model
    optimizer = _optimizer(c, model)
    batches = math.ceil(len(x_tr) / c.batch_size)
    shuffle = torch.Generator().manual_seed(c.seed + (3 if phase.name == "teacher" else 4))
    phase_steps = batches * c.epochs
    for epoch in range(1, c.epochs + 1):
        epoch_started = time.perf_counter()
        _set_mode(model, True)
        order = torch.randperm(len(x_tr), generator=shuffle).to(x_tr.device)
        loss_sum, correct, seen, eps, lr = 0.0, 0, 0, 0.0, c.lr
        for b in range(batches):
            if cancel.cancelled:
                state["cancelled"] = True
                return
            idx = order[b * c.batch_size:(b + 1) * c.batch_size]
            step = (epoch - 1) * batches + b
            eps = _eps_at(c, step, batches)
            lr = _lr_at(c, step, phase_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, out = _objective(run, model, x_tr[idx], y_tr[idx], eps, phase.name)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            hard = y_tr[idx].argmax(1) if y_tr.ndim == 2 else y_tr[idx]
            correct += int((out.detach().argmax(1) == hard).sum())
            seen += len(idx)
            state["step"] += 1
            _report(progress, state["step"], total, phase, epoch, c.epochs, b + 1, batches,
                    loss_sum / seen, history)
        record = {"phase": phase.name, "epoch": epoch, "eps": eps, "lr": lr, "loss": loss_sum / seen,
                  "train_accuracy": correct / seen, **_validate(run, model, x_val, y_val)}
        record["catastrophic_overfitting"] = c.adversarial and _catastrophic(history, record, c.co_drop)
        score = _score(c, record)
        record["best"] = phase.best_score is None or score > phase.best_score
        if record["best"]:
            for h in history:
                if h["phase"] == phase.name:
                    h["best"] = False
            phase.best_score, phase.best_epoch = score, epoch
            phase.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        record["seconds"] = time.perf_counter() - epoch_started
        history.append(record)
        progress(state["step"], total, _epoch_message(record, c.epochs),
                 _preview(phase, epoch, c.epochs, batches, batches, record["loss"], history)
                 if progress.wants_preview else None)


def _eps_at(config: TrainingConfig, step: int, batches: int) -> float:
    if config.eps_warmup_epochs <= 0:
        return config.eps
    return config.eps * min(1.0, (step + 1) / (config.eps_warmup_epochs * batches))


def _report(progress: Progress, step: int, total: int, phase: _Phase, epoch: int, epochs: int,
            batch: int, batches: int, loss: float, history: list[dict[str, Any]]) -> None:
    if not progress.active:
        return
    message = f"{phase.name} epoch {epoch}/{epochs}, batch {batch}/{batches}, loss {loss:.4f}"
    preview = _preview(phase, epoch, epochs, batch, batches, loss, history) if progress.wants_preview else None
    progress(step, total, message, preview)


def _preview(phase: _Phase, epoch: int, epochs: int, batch: int, batches: int, loss: float,
             history: list[dict[str, Any]]) -> dict[str, Any]:
    """Plain data for live curves: the history so far (copied: it crosses threads)."""
    return {"phase": phase.name, "epoch": epoch, "epochs": epochs, "batch": batch, "batches": batches,
            "loss": loss, "history": [dict(h) for h in history], "best_epoch": phase.best_epoch}


def _epoch_message(record: dict[str, Any], epochs: int) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    text = (f"{record['phase']} epoch {record['epoch']}/{epochs}: loss {record['loss']:.4f}, "
            f"val clean {pct(record['val_clean_accuracy'])}, PGD {pct(record['val_pgd_accuracy'])}, "
            f"FGSM {pct(record['val_fgsm_accuracy'])}")
    if record["catastrophic_overfitting"]:
        text += " — catastrophic overfitting"
    return text


# --- data and saving --------------------------------------------------------------------------
def demo_training_set(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test) of the demo digits in [0, 1], (N, 1, 32, 32)."""
    from advinspect.core.data.digits import digits_images, to_tensor

    x_tr, y_tr, x_te, y_te = digits_images(seed)
    return to_tensor(x_tr), torch.from_numpy(y_tr).long(), to_tensor(x_te), torch.from_numpy(y_te).long()


def folder_training_set(folder: str | Path, spec: ModelSpec, progress: Progress = NO_PROGRESS,
                        cancel: CancelToken = NEVER) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(x, y, errors) from a folder-per-class set fitted to `spec`; unreadable files are listed."""
    from advinspect.core.data import collect_images, load_images

    batch = load_images(collect_images([folder], spec), spec, progress=progress, cancel=cancel)
    if len(batch) == 0:
        raise AdvInspectError(f"no training images found in {folder}")
    if not batch.has_labels:
        raise AdvInspectError(f"{folder} must hold one sub-folder per class")
    return batch.x, batch.labels, batch.errors


def save_defended_model(result: TrainingResult, path: str | Path) -> Path:
    """Save as TorchScript (torch.jit.trace; a torch.export .pt2 archive if tracing fails) with
    the sidecar spec, and a `<path>.training.json` with the config and history. The file opens
    with `load_model` and gives the trained module's logits."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = copy.deepcopy(result.module).cpu()
    _set_mode(module, False)
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    assert result.spec.input_shape is not None
    lo, hi = result.spec.value_range
    example = torch.full((2, *result.spec.input_shape), (lo + hi) / 2)
    tmp = path.with_name(path.name + ".tmp")
    try:
        _save_torchscript(module, example, tmp)
    except Exception:  # untraceable (data-dependent control flow...): fall back to torch.export
        _save_export(module, example, tmp)
    tmp.replace(path)
    write_sidecar(path, result.spec)
    info = {"summary": result.summary(), "history": result.history}
    Path(str(path) + ".training.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    return path


def _save_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated in torch 2.x; it still works
        traced = torch.jit.trace(module, example, check_trace=False)
        probe = torch.rand(3, *example.shape[1:], generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            if not torch.allclose(traced(probe), module(probe), atol=1e-5, rtol=1e-4):
                raise AdvInspectError("traced model disagrees with the trained module")
        torch.jit.save(traced, str(path))


def _save_export(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=65_536)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
