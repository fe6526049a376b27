"""DeepFool: closed-form steps on a linear model, success and minimality on the demo CNN, the
Linf variant, determinism, cancel, and an oracle comparison with torchattacks and ART."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier
from tests.oracles import art_classifier, success_and_median_l2


def _linear_clf(seed: int = 0) -> TorchClassifier:
    """A 2-class linear model on 1x8x8: DeepFool's linearisation is exact here."""
    torch.manual_seed(seed)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    with torch.no_grad():
        module[1].bias.zero_()
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b"))
    return TorchClassifier(module.eval(), spec, torch.device("cpu"))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_model_one_step_of_exact_size(norm: str) -> None:
    clf = _linear_clf()
    noise = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    x = torch.full((4, 1, 8, 8), 0.5) + 0.01 * noise
    overshoot = 0.02
    result = get_attack("deepfool").from_values({"norm": norm, "overshoot": overshoot}).run(clf, x)
    weight = clf.module[1].weight.detach()
    w = weight[1] - weight[0]
    with torch.no_grad():
        gap = (clf.logits(x) @ torch.tensor([1.0, -1.0])).abs()
    dual = w.norm() if norm == "l2" else w.abs().sum()
    expected = (1 + overshoot) * (gap + 1e-4) / dual  # distance to the hyperplane, overshot
    measured = result.l2 if norm == "l2" else result.linf
    assert result.success.all()
    assert (result.iterations == 1).all()
    np.testing.assert_allclose(measured, expected.numpy(), rtol=1e-3)


def test_untargeted_only_and_flags(tiny_clf, tiny_batch) -> None:
    cls = get_attack("deepfool")
    assert cls.needs_gradients and not cls.supports_targeted
    with pytest.raises(AdvInspectError):
        cls().run(tiny_clf, tiny_batch, target=torch.zeros(len(tiny_batch), dtype=torch.long))


def test_tiny_model_success_in_range_deterministic(tiny_clf, tiny_batch) -> None:
    attack = get_attack("deepfool")()
    first = attack.run(tiny_clf, tiny_batch)
    second = attack.run(tiny_clf, tiny_batch)
    assert first.success.all()
    assert first.x_adv.min() >= 0.0 and first.x_adv.max() <= 1.0
    np.testing.assert_array_equal(first.x_adv, second.x_adv)
    np.testing.assert_array_equal(first.iterations, second.iterations)
    # the trace plots the logit margin (DeepFool has no loss); it falls as samples near the boundary
    margins = [row["margin"] for row in first.trace if row.get("margin") is not None]
    assert margins and all(np.isfinite(margins))
    assert margins[-1] < 0 or margins[-1] < margins[0]


def test_demo_near_total_success_and_iterations(demo_clf, demo_subset) -> None:
    x, y = demo_subset
    result = get_attack("deepfool")().run(demo_clf, x, y)
    correct = result.clean_correct
    assert result.summary()["success_rate"] >= 0.99
    assert result.x_adv.min() >= 0.0 and result.x_adv.max() <= 1.0
    assert (result.iterations[correct & result.success] >= 1).all()
    assert (result.iterations[~correct] == 0).all()  # already misclassified: nothing to do
    # the paper's robustness measure rho = E||r||/||x|| lands in the same decade as its MNIST figure
    rho = float(np.mean(result.l2[correct] / x[correct].flatten(1).norm(dim=1).numpy()))
    assert 0.02 < rho < 0.5


def test_linf_variant_finds_smaller_linf(demo_clf, demo_subset) -> None:
    x, y = demo_subset[0][:40], demo_subset[1][:40]
    l2 = get_attack("deepfool").from_values({"norm": "l2"}).run(demo_clf, x, y)
    linf = get_attack("deepfool").from_values({"norm": "linf"}).run(demo_clf, x, y)
    assert linf.summary()["success_rate"] >= 0.95
    assert linf.summary()["median_linf"] < l2.summary()["median_linf"]
    assert linf.summary()["median_l2"] > l2.summary()["median_l2"]


def test_cancel_returns_partial_result(demo_clf, demo_subset) -> None:
    x, y = demo_subset[0][:12], demo_subset[1][:12]
    cancel = CancelToken()
    events = []

    def on_progress(event) -> None:
        events.append(event)
        cancel.cancel()

    result = get_attack("deepfool")().run(demo_clf, x, y, progress=Progress(on_progress),
                                          cancel=cancel, batch_size=4)
    assert result.cancelled
    assert len(events) == 1
    assert not result.completed.any()  # the first batch was cut short, the others never ran
    assert result.x_adv.shape == x.shape
    assert result.iterations.max() <= 1





@pytest.mark.oracle
def test_matches_or_beats_torchattacks_and_art(demo_clf, demo_subset) -> None:
    import torchattacks
    from art.attacks.evasion import DeepFool as ArtDeepFool

    x, y = demo_subset[0][:48], demo_subset[1][:48]
    module = demo_clf.as_module()
    attack = get_attack("deepfool").from_values({"overshoot": 0.02, "max_iter": 50})
    ours = attack.run(demo_clf, x, y)
    ours_rate, ours_l2 = success_and_median_l2(demo_clf, x, y, ours.x_adv)

    ta_adv = torchattacks.DeepFool(module, steps=50, overshoot=0.02)(x, y).detach()
    art_clf = art_classifier(demo_clf)
    art_adv = ArtDeepFool(art_clf, max_iter=50, epsilon=0.02, nb_grads=10, batch_size=48,
                          verbose=False).generate(x.numpy())
    oracles = [success_and_median_l2(demo_clf, x, y, adv) for adv in (ta_adv, art_adv)]
    assert ours_rate >= max(rate for rate, _ in oracles)
    assert ours_l2 <= 1.10 * min(l2 for _, l2 in oracles)


class _Times1000(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 1000


def test_large_logits_do_not_stall_on_the_boundary(demo_clf, demo_subset) -> None:
    """×1000 logits: a fixed 1e-4 step margin left 41 % of the demo images exactly on a tie."""
    x, y = demo_subset[0][:40], demo_subset[1][:40]
    big = TorchClassifier(_Times1000(demo_clf.as_module()).eval(), demo_clf.spec.merged(),
                          torch.device("cpu"))
    big._mean = big._std = None  # the pixel-space module normalizes already
    scaled = get_attack("deepfool")().run(big, x, y).summary()
    plain = get_attack("deepfool")().run(demo_clf, x, y).summary()
    assert scaled["success_rate"] >= 0.99
    assert scaled["median_l2"] == pytest.approx(plain["median_l2"], rel=0.01)
