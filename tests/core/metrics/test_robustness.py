"""Robustness curves are monotone and start at clean accuracy; sanity checks fire when they should."""

from __future__ import annotations

import pytest
import torch

from advinspect.core.evaluate import EvaluationConfig, evaluate
from advinspect.core.metrics.robustness import robustness_curve, sanity_warnings
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier


def test_demo_curve_is_monotone_and_starts_at_clean_accuracy(demo_clf, demo_subset):
    x, y = demo_subset
    clean = (demo_clf.predict(x) == y).float().mean().item()
    curve, results = robustness_curve(demo_clf, x, y, "pgd", [0.1, 0, 0.05, 0.2], {"steps": 10})
    assert curve.eps == [0, 0.05, 0.1, 0.2]
    assert curve.robust_accuracy[0] == pytest.approx(clean)
    assert all(a >= b for a, b in zip(curve.robust_accuracy, curve.robust_accuracy[1:], strict=False))
    assert curve.robust_accuracy[-1] < 0.2 and set(results) == set(curve.eps)


def test_envelope_counts_samples_broken_at_a_smaller_eps():
    class Flaky(torch.nn.Module):  # unaffected by the attack: robust accuracy is exact
        def forward(self, x):
            return torch.stack([x.mean((1, 2, 3)), 1 - x.mean((1, 2, 3))], 1)

    clf = TorchClassifier(Flaky(), ModelSpec(input_shape=(1, 4, 4), labels=("a", "b")), torch.device("cpu"))
    x = torch.full((4, 1, 4, 4), 0.52)
    y = torch.zeros(4, dtype=torch.long)
    curve, _ = robustness_curve(clf, x, y, "fgsm", [0, 0.1])
    assert curve.robust_accuracy == [1.0, 0.0]


def test_masked_gradients_are_flagged():
    class Masked(torch.nn.Module):
        """Rounds its input: gradients are zero everywhere, yet a large enough change flips it."""

        def forward(self, x):
            hard = torch.round(x * 2) / 2
            return torch.stack([hard.mean((1, 2, 3)), 0.5 - hard.mean((1, 2, 3))], 1) * 10

    clf = TorchClassifier(Masked(), ModelSpec(input_shape=(1, 4, 4), labels=("a", "b")), torch.device("cpu"))
    x = torch.full((8, 1, 4, 4), 0.9)
    y = torch.zeros(8, dtype=torch.long)
    warnings = sanity_warnings(clf, x, y, 1.0, [], steps=5, check_black_box=False)
    assert any("all-zero input gradient" in w for w in warnings)
    assert any("unbounded" in w for w in warnings)


def test_random_outputs_are_flagged(tiny_spec):
    class Noisy(torch.nn.Module):
        def forward(self, x):
            return torch.randn(len(x), 3) + x.flatten(1)[:, :3]

    clf = TorchClassifier(Noisy(), tiny_spec, torch.device("cpu"))
    warnings = sanity_warnings(clf, torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), 1.0, [],
                               check_black_box=False)
    assert any("change between two identical calls" in w for w in warnings)


def test_healthy_demo_raises_no_gradient_warnings(demo_clf, demo_subset):
    x, y = demo_subset
    warnings = sanity_warnings(demo_clf, x[:32], y[:32], 1.0, [], check_black_box=False)
    assert warnings == []


def test_evaluation_has_every_number(demo_clf, demo_subset):
    x, y = demo_subset
    ev = evaluate(demo_clf, x, y, EvaluationConfig(eps=(0, 0.05, 0.1), params={"steps": 5}, sanity_checks=False))
    d = ev.data
    calib = d["calibration"]
    for key in ("ece", "mce", "nll", "brier", "temperature", "ece_after_temperature", "bins", "adversarial"):
        assert key in calib
    assert len(calib["bins"]) == 15 and sum(b["count"] for b in calib["bins"]) == len(x)
    assert {"count", "accuracy", "confidence"} <= set(calib["bins"][-1])
    assert d["curves"][0]["eps"] == [0, 0.05, 0.1]
    assert sum(map(sum, d["confusion"]["clean"])) == len(x) and "adversarial" in d["confusion"]
    assert sum(d["histograms"]["clean"]) == len(x)
    assert sum(d["histograms"]["correct"]) + sum(d["histograms"]["wrong"]) == len(x)
    assert len(d["per_class"]) == len(set(y.tolist())) and d["reference_attack"]["eps"] == 0.05
    assert calib["adversarial"]["accuracy"] < calib["accuracy"]
    assert ev.adv_pred.shape == (len(x),)


def test_shared_parameters_go_to_the_attacks_that_take_them(demo_clf, demo_subset):
    import pytest

    from advinspect.core.errors import AdvInspectError

    x, y = demo_subset[0][:20], demo_subset[1][:20]
    ev = evaluate(demo_clf, x, y, EvaluationConfig(attacks=("fgsm", "pgd"), eps=(0, 0.1), params={"steps": 3},
                                                   sanity_checks=False))
    assert [c["attack"] for c in ev.data["curves"]] == ["fgsm", "pgd"]
    assert ev.data["curves"][1]["params"] == {"steps": 3} and ev.data["curves"][0]["params"] == {}
    with pytest.raises(AdvInspectError, match="stepz"):
        evaluate(demo_clf, x, y, EvaluationConfig(attacks=("fgsm",), params={"stepz": 3}, sanity_checks=False))
