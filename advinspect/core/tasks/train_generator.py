"""train_generator: train the small generator (a VAE's decoder) that `--defense purify:GENERATOR`
projects inputs onto (Defense-GAN style purification, `core/defenses/purify.py`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param


@dataclass(frozen=True)
class Config:
    latent_dim: int = param(16, "size of z", min=1, max=4096)
    epochs: int = param(30, "passes over the images", min=1, max=10_000)
    batch_size: int = param(64, "images per step", min=1, max=65_536)
    lr: float = param(1e-3, "Adam learning rate", min=0.0, max=10.0)
    seed: int = param(0, "seed of the weights, the data order and the VAE noise", min=0)


@dataclass
class Inputs:
    x: Any = None  # (N, C, H, W) in the value range; None: the demo digits' training split
    value_range: tuple[float, float] = (0.0, 1.0)


@dataclass
class Result:
    generator: Any  # core.defenses.purify.GeneratorResult
    config: Config
    n: int

    @property
    def cancelled(self) -> bool:
        return bool(self.generator.cancelled)

    def summary(self) -> dict[str, Any]:
        g = self.generator
        return {"latent_dim": g.latent_dim, "epochs_run": len(g.history), "n": self.n,
                "final_loss": g.history[-1] if g.history else None, "seconds": round(g.seconds, 2),
                "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        loss = "-" if s["final_loss"] is None else f"{s['final_loss']:.2f}"
        lines = [f"generator: VAE decoder, z of size {s['latent_dim']}, {s['epochs_run']} epoch(s) on {s['n']} "
                 f"images, final loss {loss} (reconstruction + KL per image), {s['seconds']:.1f} s"]
        if self.cancelled:
            lines.append("cancelled: the generator is partly trained")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "config": asdict(self.config), "history": list(self.generator.history)}

    def samples(self, n: int = 32, seed: int = 0) -> Any:
        """G(z) for z ~ N(0, I): (n, C, H, W) in [0, 1]."""
        import torch

        z = torch.randn(n, self.generator.latent_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            return self.generator.decoder(z).numpy()

    def report_section(self) -> Any:
        from advinspect.core.report.sections import Section, figure_from_array, image_grid

        return Section("Generator for purification", lines=self.summary_text(),
                       figures=[figure_from_array(image_grid(self.samples(), 8), "G(z), z ~ N(0, I)", scale=2)])


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.defenses.purify import train_generator

    if inputs.x is None:
        from advinspect.core.defenses.training import demo_training_set

        x, *_ = demo_training_set(config.seed)
        lo, hi = 0.0, 1.0
    else:
        x = torch.as_tensor(inputs.x).float()
        lo, hi = inputs.value_range
    unit = ((x - lo) / (hi - lo)).clamp(0, 1)
    result = train_generator(unit, latent_dim=config.latent_dim, epochs=config.epochs, batch_size=config.batch_size,
                             lr=config.lr, seed=config.seed, progress=progress, cancel=cancel)
    return Result(result, config, len(unit))
