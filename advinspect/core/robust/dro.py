"""Wasserstein distributionally robust training, WRM (Sinha, Namkoong & Duchi 2018, "Certifying
some distributional robustness with principled adversarial training").

The inner problem is the Lagrangian relaxation of the Wasserstein ball: for each training image
    phi_gamma(x) = sup_x'  loss(x') - gamma · c(x', x),   c(x', x) = ||x' - x||² / 2,
solved by `steps` gradient-ascent steps from x (no sign, no projection: the penalty keeps x'
close). Training minimises E[loss(x'*)]. For gamma above the loss's smoothness constant the inner
problem is strongly concave, the ascent finds its maximum, and the duality bound

    sup_{P: W_c(P, P0) <= rho} E_P[loss]  <=  gamma·rho + E_P0[phi_gamma]      (the certificate)

holds for every rho. That needs a smooth network: ReLU and max-pooling break the smoothness
(the reference uses ELU), and clipping x' to the value range leaves the relaxation too; both are
flagged, not refused. `certificate_curve` sets the bound against the empirical worst case: the
inner maximum at other gammas gives distributions at transport cost rho(gamma') with their loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NON_SMOOTH = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
              nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)
_NON_SMOOTH_OPS = ("relu", "max_pool", "hardtanh", "leaky_relu", "hardswish")


def non_smooth_layers(module: nn.Module) -> list[str]:
    """The kinds of non-smooth activation or pooling a model has (modules, or ops of a graph)."""
    found = {type(m).__name__ for m in module.modules() if isinstance(m, NON_SMOOTH)}
    graph = getattr(module, "graph", None)
    if graph is not None and hasattr(graph, "nodes"):
        for node in graph.nodes:
            if node.op == "call_function":
                name = str(getattr(node.target, "__name__", node.target))
                found.update(op for op in _NON_SMOOTH_OPS if op in name)
    return sorted(found)


def transport_cost(x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """c(x', x) = ||x' - x||²₂ / 2 per sample."""
    return 0.5 * (x_adv - x).flatten(1).pow(2).sum(1)


def wrm_adversary(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, gamma: float,
                  steps: int, step_size: float, bounds: tuple[float, float] | None = None) -> torch.Tensor:
    """x'* ≈ argmax loss(x') − gamma·c(x', x) by `steps` plain gradient-ascent steps from x;
    `bounds` clips to the value range after each step (outside the certificate's assumptions)."""
    x = x.detach()
    x_adv = x.clone()
    for _ in range(steps):
        x_var = x_adv.requires_grad_(True)
        with torch.enable_grad():
            objective = F.cross_entropy(model(x_var), y, reduction="sum") - gamma * transport_cost(x_var, x).sum()
            (grad,) = torch.autograd.grad(objective, x_var)
        x_adv = (x_adv.detach() + step_size * grad)
        if bounds is not None:
            x_adv = x_adv.clamp(*bounds)
    return x_adv.detach()


def default_step(gamma: float) -> float:
    """1/(2·gamma): a safe ascent step while gamma exceeds the loss's smoothness constant."""
    return 0.5 / gamma


@dataclass
class CertificateCurve:
    """The certificate gamma·rho + E[phi_gamma] and the empirical worst-case loss over rho."""

    gamma: float
    phi: float  # E[phi_gamma] on the evaluation images
    clean_loss: float
    rho: list[float]  # transport budgets of the empirical points
    empirical_loss: list[float]  # E[loss] of the inner maximisers at those budgets
    certificate: list[float]  # gamma·rho + phi at the same budgets
    gammas: list[float]  # the penalties that produced each point
    n: int

    @property
    def holds(self) -> bool:
        """Whether every empirical point lies under the bound (a violation means the inner problem
        was not solved: a non-smooth model, or gamma below the smoothness constant)."""
        return all(e <= c + 1e-6 for e, c in zip(self.empirical_loss, self.certificate, strict=True))

    def to_dict(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "phi": self.phi, "clean_loss": self.clean_loss, "rho": self.rho,
                "empirical_loss": self.empirical_loss, "certificate": self.certificate, "gammas": self.gammas,
                "n": self.n, "holds": self.holds}

    def figure(self) -> Any:
        """The curve as a report Figure (matplotlib)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        from advinspect.core.report.sections import figure_from_matplotlib

        fig, ax = plt.subplots(figsize=(5, 3.4))
        top = max(self.rho + [1e-9]) * 1.1
        ax.plot([0, top], [self.phi, self.phi + self.gamma * top], label=f"certificate γρ + E[φ_γ] (γ = {self.gamma:g})")
        order = sorted(range(len(self.rho)), key=lambda i: self.rho[i])
        ax.plot([0] + [self.rho[i] for i in order], [self.clean_loss] + [self.empirical_loss[i] for i in order],
                "o-", label="empirical worst-case loss")
        ax.set_xlabel("ρ (mean transport cost ‖x′−x‖²/2)")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        return figure_from_matplotlib(fig, "WRM certificate against the empirical worst-case loss over ρ")


def certificate_curve(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, gamma: float,
                      steps: int, step_size: float | None = None, bounds: tuple[float, float] | None = None,
                      factors: tuple[float, ...] = (8.0, 4.0, 2.0, 1.5, 1.0, 0.75, 0.5),
                      batch: int = 256) -> CertificateCurve:
    """E[phi_gamma] at the training gamma, and for gamma' = factor·gamma the inner maximisers'
    mean transport cost rho(gamma') and loss. Each point is a distribution at that transport cost,
    so the bound must lie above all of them, also below gamma (there the ascent may find less than
    the worst case, which only makes the point lower). Inner problems get twice the training steps."""
    def inner(g: float) -> tuple[float, float, float]:
        costs, losses = [], []
        for i in range(0, len(x), batch):
            xb, yb = x[i:i + batch], y[i:i + batch]
            x_adv = wrm_adversary(model, xb, yb, gamma=g, steps=2 * steps,
                                  step_size=step_size if step_size is not None else default_step(g), bounds=bounds)
            with torch.no_grad():
                losses.append(F.cross_entropy(model(x_adv), yb, reduction="none"))
            costs.append(transport_cost(x_adv, xb))
        cost, loss = torch.cat(costs), torch.cat(losses)
        return float(cost.mean()), float(loss.mean()), float((loss - g * cost).mean())

    with torch.no_grad():
        clean = float(torch.cat([F.cross_entropy(model(x[i:i + batch]), y[i:i + batch], reduction="none")
                                 for i in range(0, len(x), batch)]).mean())
    _, _, phi = inner(gamma)
    rho, emp, gammas = [], [], []
    for f in factors:
        r, loss, _ = inner(f * gamma)
        rho.append(r)
        emp.append(loss)
        gammas.append(f * gamma)
    return CertificateCurve(gamma, phi, clean, rho, emp, [gamma * r + phi for r in rho], gammas, len(x))
