"""The training defenses' settings, apart from the training code so that forms and flags can be
built without importing torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from advinspect.core.errors import AdvInspectError
from advinspect.core.params import build_params, param

DEFENSES: dict[str, str] = {
    "standard": "plain cross-entropy training (the baseline)",
    "fgsm": "FGSM adversarial training with random init (Wong et al. 2020)",
    "pgd": "PGD adversarial training (Madry et al. 2018)",
    "trades": "TRADES: clean CE + beta * KL to the adversarial output (Zhang et al. 2019)",
    "label_smoothing": "cross-entropy with smoothed labels",
    "distillation": "defensive distillation at temperature T (Papernot et al. 2016)",
    "gradient_penalty": "input-gradient norm penalty by double backprop (Ross & Doshi-Velez 2018)",
    "spectral_norm": "spectral normalization of every conv/linear layer",
    "dro": "Wasserstein DRO, WRM: train on argmax loss(x') - gamma·||x'-x||²/2 (Sinha et al. 2018)",
}
ADVERSARIAL = frozenset({"fgsm", "pgd", "trades"})
@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs besides data and model; the GUI form and CLI flags come
    from the field metadata (same `param` helper as the attacks), `from_values` parses strings."""

    defense: str = param("standard", "training-time defense", choices=tuple(DEFENSES))
    epochs: int = param(10, "passes over the training split", min=1, max=10_000)
    lr: float = param(1e-3, "peak learning rate", min=0.0, max=10.0)
    optimizer: str = param("adam", "optimizer", choices=("adam", "sgd"))
    lr_schedule: str = param("constant", "learning-rate schedule over all batches",
                             choices=("constant", "cosine", "onecycle"))
    weight_decay: float = param(0.0, "L2 weight decay", min=0.0, max=1.0)
    batch_size: int = param(64, "training batch size", min=1, max=65_536)
    eps: float = param(8 / 255, "Linf budget in the model's value range (training and validation)",
                       min=0.0, max=1e3)
    eps_warmup_epochs: float = param(0.0, "epochs over which the training eps ramps linearly from 0",
                                     min=0.0, max=10_000)
    steps: int = param(7, "PGD/TRADES attack steps per training batch", min=1, max=1000)
    step_size: float | None = param(None, "attack step; empty: 2.5·eps/steps (PGD, TRADES), "
                                          "1.25·eps (FGSM)", min=0.0, max=1e3)
    val_fraction: float = param(0.1, "fraction of the training set held out for validation",
                                min=0.0, max=0.9)
    val_attack_size: int = param(200, "validation images attacked each epoch (keeps it cheap)",
                                 min=1, max=1_000_000)
    val_pgd_steps: int = param(10, "PGD steps of the per-epoch validation attack", min=1, max=1000)
    keep_best: bool = param(True, "return the best epoch (validation PGD accuracy for adversarial "
                                  "defenses, clean accuracy otherwise) rather than the last")
    seed: int = param(0, "seed: data order, attack noise, fresh weights", min=0, max=2**31 - 1)
    device: str = param("auto", "auto, cpu, cuda or cuda:N")
    trades_beta: float = param(6.0, "TRADES: weight of the robustness (KL) term", min=0.0, max=1e4)
    smoothing: float = param(0.1, "label smoothing: mass spread over the other classes",
                             min=0.0, max=0.99)
    temperature: float = param(20.0, "distillation temperature T", min=1.0, max=1e4)
    gp_lambda: float = param(1.0, "gradient penalty weight lambda", min=0.0, max=1e6)
    dro_gamma: float = param(1.0, "DRO: the penalty gamma of the Lagrangian (larger: closer to x, a smaller "
                                  "Wasserstein ball); must be > 0", min=0.0, max=1e6)
    dro_steps: int = param(15, "DRO: gradient-ascent steps of the inner maximisation", min=1, max=1000)
    dro_step_size: float | None = param(None, "DRO: inner ascent step; empty: 1/(2·gamma)", min=0.0, max=1e6)
    dro_clip: bool = param(False, "DRO: clip x' to the value range (outside the certificate's assumptions)")
    co_drop: float = param(0.2, "catastrophic overfitting: flagged when FGSM accuracy holds while "
                                "PGD accuracy falls this far below its best, or trails FGSM by twice it",
                           min=0.0, max=1.0)

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> TrainingConfig:
        """A config from CLI/GUI values (strings such as '8/255' are parsed), range-checked."""
        config = build_params(cls, values)
        config.check()
        return config

    def check(self) -> None:
        if self.defense not in DEFENSES:
            raise AdvInspectError(f"unknown defense {self.defense!r}; available: {', '.join(DEFENSES)}")
        if self.dro_gamma <= 0:
            raise AdvInspectError(f"dro_gamma must be > 0 (the Lagrangian penalty), got {self.dro_gamma:g}")

    @property
    def adversarial(self) -> bool:
        return self.defense in ADVERSARIAL

    def attack_step(self) -> float:
        if self.step_size is not None:
            return self.step_size
        return 1.25 * self.eps if self.defense == "fgsm" else 2.5 * self.eps / self.steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
