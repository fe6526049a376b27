"""FMN: the norm-ball geometry, success and minimality on a linear model, targeted runs, and an
oracle comparison with foolbox's L2FMNAttack / LInfFMNAttack on the demo CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.fmn import dual_norm, lp_norm, project
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier


def test_projection_and_norms() -> None:
    d = torch.tensor([[[[3.0, -4.0]]], [[[0.1, 0.2]]]])
    eps = torch.tensor([1.0, 1.0])
    np.testing.assert_allclose(lp_norm(project(d, eps, "l2"), "l2").numpy(), [1.0, 0.2236], rtol=1e-4)
    assert project(d, eps, "linf").abs().max() == 1.0
    np.testing.assert_allclose(dual_norm(d, "linf").numpy(), [7.0, 0.3], rtol=1e-6)


def _linear_clf() -> TorchClassifier:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    return TorchClassifier(module.eval(), ModelSpec(input_shape=(1, 8, 8), labels=("a", "b")),
                           torch.device("cpu"))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_model_close_to_the_exact_distance(norm: str) -> None:
    """On a linear model the minimal perturbation is |gap| / ||w||_dual (inside the box)."""
    clf = _linear_clf()
    x = 0.5 + 0.01 * torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    result = get_attack("fmn").from_values({"norm": norm}).run(clf, x)
    w = clf.module[1].weight.detach()
    direction = w[1] - w[0]
    with torch.no_grad():
        gap = (clf.logits(x) @ torch.tensor([1.0, -1.0])).abs()
    exact = gap / (direction.norm() if norm == "l2" else direction.abs().sum())
    measured = torch.from_numpy(result.l2 if norm == "l2" else result.linf)
    assert result.success.all()
    assert (measured >= exact * 0.999).all()  # no perturbation beats the exact distance
    assert (measured <= exact * 1.05).all()  # and FMN gets within 5 % of it


def test_targeted_and_flags(tiny_clf, tiny_batch) -> None:
    cls = get_attack("fmn")
    assert cls.needs_gradients and cls.supports_targeted and cls().total_steps() == 100
    target = (tiny_clf.predict(tiny_batch) + 1) % 3
    result = cls.from_values({"steps": 30}).run(tiny_clf, tiny_batch, target=target)
    assert (result.adv_pred == target.numpy()).all()
    assert result.x_adv.min() >= 0.0 and result.x_adv.max() <= 1.0


@pytest.mark.oracle
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_no_larger_than_foolbox_fmn(demo_clf, demo_subset, norm: str) -> None:
    """Same 100 steps and defaults as foolbox; re-predicted here. (Speed against foolbox is
    measured by benchmarks/minimal_attacks_speed.py, never in a test.)"""
    import foolbox as fb

    from tests.oracles import success_and_median_l2

    x, y = demo_subset
    fmodel = fb.PyTorchModel(demo_clf.as_module(), bounds=demo_clf.spec.value_range)
    theirs = fb.attacks.L2FMNAttack(steps=100) if norm == "l2" else fb.attacks.LInfFMNAttack(steps=100)
    ours = get_attack("fmn").from_values({"norm": norm})
    adv_theirs = theirs.run(fmodel, x, y)
    result = ours.run(demo_clf, x, y)

    def median_norm(adv) -> tuple[float, float]:
        adv = torch.as_tensor(np.asarray(adv))
        correct = demo_clf.predict(x) == y
        success = (demo_clf.predict(adv) != y) & correct
        delta = (adv - x).flatten(1)
        size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(1)
        return success.sum().item() / correct.sum().item(), float(size[success].median())

    ok_ours, size_ours = median_norm(result.x_adv)
    ok_theirs, size_theirs = median_norm(adv_theirs)
    assert ok_theirs == 1.0 and ok_ours == 1.0
    assert size_ours <= size_theirs * 1.001
    if norm == "l2":
        assert success_and_median_l2(demo_clf, x, y, result.x_adv)[1] == pytest.approx(size_ours)
