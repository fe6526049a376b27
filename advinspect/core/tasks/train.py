"""train: train a model with a training-time defense (adversarial training, TRADES, ...).

The Config is the training defenses' own `TrainingConfig`; the adversaries inside come from
the attack engine's machinery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advinspect.core.defenses.training_config import TrainingConfig
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress

Config = TrainingConfig
DEMO_ARCH = "advinspect.zoo.digits:DigitsCNN"


@dataclass
class Inputs:
    start: Any  # a Classifier to fine-tune, a torch module, or an architecture name
    spec: Any = None  # ModelSpec; None: the start model's or the architecture's
    x: Any = None  # (N, C, H, W) training images in pixel space; None: the demo digits
    labels: Any = None
    limit: int | None = None  # train on the first `limit` images only (quick runs)


@dataclass
class Result:
    training: Any  # core TrainingResult

    @property
    def cancelled(self) -> bool:
        return bool(self.training.cancelled)

    def summary(self) -> dict[str, Any]:
        return self.training.summary()

    def summary_text(self) -> list[str]:
        lines = []
        for row in self.training.history:
            pgd = "-" if row.get("val_pgd_accuracy") is None else f"{row['val_pgd_accuracy']:.4f}"
            flag = "  catastrophic overfitting" if row.get("catastrophic_overfitting") else ""
            best = "  *best" if row.get("best") else ""
            lines.append(f"{row['phase']} epoch {row['epoch']:>3}: loss {row['loss']:.4f}, val clean "
                         f"{row['val_clean_accuracy']:.4f}, val PGD {pgd}{flag}{best}")
        lines += [note if note.startswith("warning: ") else f"note: {note}" for note in self.training.notes]
        if self.training.certificate is not None:
            c = self.training.certificate
            lines.append(f"DRO certificate (gamma {c.gamma:g}, {c.n} validation images): worst-case loss <= "
                         f"{c.phi:.4f} + {c.gamma:g}·rho; empirical worst case "
                         + ", ".join(f"{e:.4f} at rho {r:.3g}" for r, e in sorted(zip(c.rho, c.empirical_loss, strict=True)))
                         + ("" if c.holds else " — above the bound: the inner maximisation was not solved"))
        if self.cancelled:
            lines.append("cancelled: the best checkpoint so far is kept")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "history": self.training.history}

    def report_section(self) -> Any:
        """Summary lines and, for DRO, the certificate against the empirical worst case over rho."""
        from advinspect.core.report.sections import Section

        c = self.training.certificate
        return Section(f"Training ({self.training.config.defense})", lines=self.summary_text(),
                       figures=[c.figure()] if c is not None else [])


def run(inputs: Inputs, config: TrainingConfig, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.defenses.training import demo_training_set, train_defense

    x, y, spec, start = inputs.x, inputs.labels, inputs.spec, inputs.start
    if x is None:
        from advinspect.core.models.spec import ModelSpec

        x, y, _, _ = demo_training_set(config.seed)
        start = start or DEMO_ARCH
        spec = spec or ModelSpec(input_shape=(1, 32, 32), mean=(0.5,), std=(0.5,), labels=tuple("0123456789"))
    else:
        x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        y = torch.as_tensor(y).long()  # x: a tensor, numpy, or the GUI's lazily decoded pixels
    if inputs.limit is not None:
        x, y = x[: inputs.limit], y[: inputs.limit]
    if spec is None and hasattr(start, "spec"):
        spec = start.spec
    return Result(train_defense(config, x, y, spec, start, progress=progress, cancel=cancel))
