"""The engine's checks on every attack: gradient-masking warnings, medians over real adversarials
only, and NaN/Inf outputs marked per sample without crashing or reaching the JSON as NaN."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.models.torch_backend import TorchClassifier

GRADIENT_ATTACKS = [
    ("fgsm", {"eps": 0.1}),
    ("pgd", {"eps": 0.1, "steps": 5}),
    ("apgd", {"eps": 0.1, "steps": 5}),
    ("deepfool", {"max_iter": 5}),
    ("cw", {"binary_search_steps": 2, "steps": 10}),
    ("fmn", {"steps": 10}),
]


class Rounded(torch.nn.Module):
    """Input rounding and ×1000 logits: the gradient is zero almost everywhere."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 4) / 4) * 1000


class Reversed(torch.nn.Module):
    """The true logits forward, the opposite gradient backward: attacks descend the loss."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x)
        return 2 * z.detach() - z


class NaNs(torch.nn.Module):
    """NaN logits on the images whose mean is above 0.5, and on any image off the 1/4 grid (so
    also on most perturbed ones)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.inner(x)
        off_grid = ((x * 4 - torch.round(x * 4)).abs() > 1e-4).flatten(1).any(1)
        bad = (x.flatten(1).mean(1) > 0.5) | off_grid
        return torch.where(bad.view(-1, 1), torch.full_like(z, float("nan")), z)


def _wrap(module_cls, tiny_module, tiny_spec) -> TorchClassifier:
    return TorchClassifier(module_cls(tiny_module).eval(), tiny_spec, torch.device("cpu"))


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(4))


def _has(result, words: str) -> bool:
    return any(words in w for w in result.warnings)


@pytest.mark.parametrize("name, values", GRADIENT_ATTACKS)
def test_zero_gradients_are_reported_by_every_gradient_attack(tiny_module, tiny_spec, images,
                                                              name, values) -> None:
    clf = _wrap(Rounded, tiny_module, tiny_spec)
    result = get_attack(name).from_values(values).run(clf, images)
    assert _has(result, "all-zero gradient")
    assert result.summary()["warnings"] == result.warnings
    assert result.to_dict()["summary"]["warnings"] == result.warnings


@pytest.mark.parametrize("name, values", [a for a in GRADIENT_ATTACKS if a[0] in ("pgd", "apgd")])
def test_loss_not_rising_is_reported(tiny_module, tiny_spec, images, name, values) -> None:
    clf = _wrap(Reversed, tiny_module, tiny_spec)
    result = get_attack(name).from_values(values).run(clf, images)
    assert _has(result, "the loss did not rise")
    assert not _has(result, "all-zero gradient")


@pytest.mark.parametrize("name, values", GRADIENT_ATTACKS)
def test_no_warnings_on_a_plain_model(tiny_clf, images, name, values) -> None:
    result = get_attack(name).from_values(values).run(tiny_clf, images)
    assert result.warnings == []


def test_medians_only_over_adversarials_found(tiny_clf, images) -> None:
    y = tiny_clf.predict(images)
    y[:5] = (y[:5] + 1) % 3  # five images misclassified before the attack
    nothing = get_attack("fgsm").from_values({"eps": 0.0}).run(tiny_clf, images, y).summary()
    assert nothing["success_rate"] == 0.0
    assert nothing["median_l2"] is None and nothing["median_linf"] is None
    found = get_attack("deepfool")().run(tiny_clf, images, y)
    summary = found.summary()
    assert summary["success_rate"] == 1.0
    assert summary["median_l2"] == pytest.approx(float(np.median(found.l2[5:])))
    assert summary["median_l2"] > 0


@pytest.mark.parametrize("name, values", GRADIENT_ATTACKS + [("square", {"n_queries": 20})])
def test_nonfinite_outputs_are_marked_never_crash_never_json_nan(tiny_module, tiny_spec, name,
                                                                 values) -> None:
    clf = _wrap(NaNs, tiny_module, tiny_spec)
    x = torch.round(torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(6)) * 4) / 4
    x[:4] = 0.75  # mean above 0.5: NaN on the clean image
    with torch.no_grad():
        clean_nan = ~torch.isfinite(clf.logits(x)).all(1)
    assert 0 < int(clean_nan.sum()) < len(x)
    result = get_attack(name).from_values(values).run(clf, x)
    np.testing.assert_array_equal(result.nonfinite_clean, clean_nan.numpy())
    assert not result.success[result.nonfinite].any()
    assert not result.clean_correct[result.nonfinite_clean].any()
    assert np.isfinite(result.x_adv).all()
    summary = result.summary()
    assert summary["n_nonfinite"] == int(result.nonfinite.sum()) >= int(clean_nan.sum())
    assert _has(result, "NaN or Inf outputs")
    json.dumps(result.to_dict(), allow_nan=False)  # raises on NaN


def test_results_json_of_a_nan_model_is_written(tiny_module, tiny_spec, tmp_path) -> None:
    """Issue 11: results.json was lost to "Out of range float values are not JSON compliant"."""
    from advinspect.core.data.datasets import ImageItem
    from advinspect.core.report.results import write_attack_outputs

    clf = _wrap(NaNs, tiny_module, tiny_spec)
    x = torch.round(torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(6)) * 4) / 4
    x[:2] = 0.75
    result = get_attack("pgd").from_values({"eps": 0.1, "steps": 3}).run(clf, x)
    items = [ImageItem(tmp_path / f"{i}.png", f"{i}.png") for i in range(len(x))]
    path = write_attack_outputs(tmp_path / "out", result, items, clf, x=x)
    data = json.loads(path.read_text())
    assert data["summary"]["n_nonfinite"] >= 2
    assert data["samples"][0]["clean_confidence"] is None
