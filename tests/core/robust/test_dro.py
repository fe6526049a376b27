"""WRM (Sinha et al. 2018): the inner maximiser, the certificate curve, and `train --defense dro`
(γ <= 0 refused, non-smooth activations and clipping flagged)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advinspect.core.defenses.training import TrainingConfig, train_defense
from advinspect.core.errors import AdvInspectError
from advinspect.core.models import ModelSpec
from advinspect.core.robust.dro import (
    certificate_curve,
    non_smooth_layers,
    transport_cost,
    wrm_adversary,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def smooth_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ELU(), nn.Linear(16, 3))


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = 0.2 * torch.rand(60, 1, 8, 8, generator=g)
    y = torch.arange(60) % 3
    for k in range(3):
        x[y == k, :, 3 * k:3 * k + 2] += 0.7
    return x, y


def test_the_inner_maximiser_is_stationary_and_moves_less_as_gamma_grows(data):
    x, y = data[0][:12], data[1][:12]
    model = smooth_net().eval()
    costs = []
    for gamma in (2.0, 8.0):
        x_adv = wrm_adversary(model, x, y, gamma=gamma, steps=100, step_size=0.5 / gamma)
        x_var = x_adv.clone().requires_grad_(True)
        objective = nn.functional.cross_entropy(model(x_var), y, reduction="sum") \
            - gamma * transport_cost(x_var, x).sum()
        (grad,) = torch.autograd.grad(objective, x_var)
        assert grad.flatten(1).norm(dim=1).max() < 1e-3  # the Lagrangian's maximum (strongly concave here)
        costs.append(float(transport_cost(x_adv, x).mean()))
    assert costs[0] > costs[1] > 0


def test_certificate_bounds_the_empirical_worst_case_on_a_smooth_model(data):
    model = smooth_net().eval()
    curve = certificate_curve(model, *data, gamma=2.0, steps=20)
    assert curve.holds and curve.n == 60
    assert curve.rho == sorted(curve.rho)  # gamma' = 8 ... 0.5 × gamma: a larger budget as gamma' falls
    assert all(e >= curve.clean_loss for e in curve.empirical_loss)
    at = curve.gammas.index(2.0)
    assert curve.certificate[at] == pytest.approx(curve.empirical_loss[at], rel=1e-4)  # tight at the training gamma
    assert curve.empirical_loss[-1] < curve.certificate[-1] - 1e-3  # strictly below it elsewhere
    assert curve.figure().png.startswith(b"\x89PNG")


def test_gamma_must_be_positive():
    with pytest.raises(AdvInspectError, match="dro_gamma must be > 0"):
        TrainingConfig.from_values({"defense": "dro", "dro_gamma": "0"})


@pytest.mark.parametrize("relu", [False, True])
def test_train_dro_reports_the_certificate_and_flags_non_smooth_models(data, relu):
    net = smooth_net()
    if relu:
        net[2] = nn.ReLU()
    assert non_smooth_layers(net) == (["ReLU"] if relu else [])
    config = TrainingConfig.from_values({"defense": "dro", "epochs": 2, "batch_size": 20, "lr": 0.01,
                                         "dro_gamma": 2.0, "dro_steps": 5, "val_fraction": 0.25, "device": "cpu",
                                         "eps": 0.1, "val_attack_size": 10})
    result = train_defense(config, *data, ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c")), net)
    summary = result.summary()
    assert summary["dro_certificate"]["n"] == 15 and len(summary["dro_certificate"]["rho"]) == 7
    warned = [n for n in result.notes if "assumes a smooth loss" in n]
    assert bool(warned) == relu and (not warned or "ReLU" in warned[0])
