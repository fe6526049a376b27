"""Input-transform defenses, adaptive attacks (BPDA/EOT), feature-squeezing detection, randomized
smoothing: each checked in the direction the literature predicts, on the demo model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.defenses.detection import evaluate_detector, roc_curve
from advinspect.core.defenses.smoothing import (
    ABSTAIN,
    certify,
    certify_set,
    lower_confidence_bound,
    predict,
)
from advinspect.core.defenses.transforms import (
    JPEG,
    BitDepth,
    DefendedClassifier,
    GaussianNoise,
    MedianSmoothing,
    parse_defense,
)
from advinspect.core.errors import AdvInspectError


def test_parse_defense():
    assert parse_defense("jpeg:60,bits:3") == [JPEG(60), BitDepth(3)]
    assert parse_defense("median") == [MedianSmoothing(3)]
    assert parse_defense("noise:0.2") == [GaussianNoise(0.2)]
    for bad in ("blur:3", "jpeg:abc", "jpeg:0", "bits:40", ""):
        with pytest.raises(AdvInspectError):
            parse_defense(bad)


def test_transforms_keep_shape_and_range():
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for t in (JPEG(50), BitDepth(2), MedianSmoothing(3), MedianSmoothing(2), GaussianNoise(0.3)):
        out = t.apply(x, torch.Generator().manual_seed(1))
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert set(BitDepth(1).apply(x).unique().tolist()) <= {0.0, 1.0}
    constant = torch.full((1, 1, 8, 8), 0.4)
    assert torch.allclose(MedianSmoothing(3).apply(constant), constant)


def test_defended_model_keeps_clean_accuracy(demo_clf, demo_subset):
    x, y = demo_subset
    for defense in ("jpeg:75", "bits:4", "median:2"):
        defended = DefendedClassifier(demo_clf, parse_defense(defense))
        assert (defended.predict(x) == y).float().mean() >= 0.9


@pytest.mark.parametrize("defense", ["jpeg:60", "bits:2"])
def test_bpda_breaks_what_naive_attacks_cannot(demo_clf, demo_subset, defense):
    x, y = demo_subset[0][:50], demo_subset[1][:50]
    attack = get_attack("pgd").from_values({"eps": 0.1, "steps": 20})
    naive = attack.run(DefendedClassifier(demo_clf, parse_defense(defense)), x, y).summary()["robust_accuracy"]
    adaptive = attack.run(DefendedClassifier(demo_clf, parse_defense(defense), adaptive=True), x, y)
    assert adaptive.summary()["robust_accuracy"] < naive - 0.4


def test_eot_beats_a_single_noisy_gradient(demo_clf, demo_subset):
    x, y = demo_subset[0][:50], demo_subset[1][:50]
    attack = get_attack("pgd").from_values({"eps": 0.1, "steps": 10})
    naive = attack.run(DefendedClassifier(demo_clf, [GaussianNoise(0.3)], eot_samples=1, seed=1), x, y, seed=1)
    eot = attack.run(DefendedClassifier(demo_clf, [GaussianNoise(0.3)], adaptive=True, eot_samples=8, seed=1),
                     x, y, seed=1)
    assert eot.success.mean() >= naive.success.mean()


def test_defended_classifier_describes_its_defense(demo_clf):
    defended = DefendedClassifier(demo_clf, parse_defense("jpeg:75,bits:4"), adaptive=True)
    info = defended.describe()
    assert info["defense"] == ["JPEG quality 75", "bit depth 4"] and info["adaptive"]
    assert "JPEG" in defended.format and defended.sha256 == demo_clf.sha256


def test_feature_squeezing_detects_adversarials(demo_clf, demo_subset):
    x, y = demo_subset
    result = get_attack("pgd").from_values({"eps": 0.1, "steps": 20}).run(demo_clf, x, y)
    adversarial = torch.as_tensor(result.x_adv[result.success])
    report = evaluate_detector(demo_clf, x, adversarial, target_fpr=0.05)
    assert report.clean_fpr <= 0.1
    assert report.auc > 0.8 and report.detection_rate > 0.5
    assert report.roc_fpr[0] == 0 and report.roc_tpr[-1] == 1


def test_roc_auc_extremes():
    assert roc_curve(np.array([0.1, 0.2]), np.array([0.8, 0.9]))[2] == pytest.approx(1.0)
    assert roc_curve(np.array([0.8, 0.9]), np.array([0.1, 0.2]))[2] == pytest.approx(0.0)


def test_clopper_pearson_bound():
    assert lower_confidence_bound(0, 100, 0.001) == 0
    assert 0.9 < lower_confidence_bound(100, 100, 0.001) < 1
    assert lower_confidence_bound(60, 100, 0.05) < 0.6


def test_randomized_smoothing_certifies_most_correct_images(demo_clf, demo_subset):
    x, y = demo_subset[0][:20], demo_subset[1][:20]
    result = certify_set(demo_clf, x, y, sigma=0.25, n0=50, n=300, alpha=0.001)
    correct = np.array(result.correct)
    radii = np.array(result.radii)
    assert correct.mean() > 0.8
    assert (radii[correct] > 0).mean() > 0.8  # a non-zero radius for most correct images
    assert result.curve_certified_accuracy[0] == pytest.approx(correct.mean())
    assert result.curve_certified_accuracy == sorted(result.curve_certified_accuracy, reverse=True)


def test_smoothing_abstains_on_a_coin_flip_model(tiny_spec):
    from advinspect.core.models.torch_backend import TorchClassifier

    class Coin(torch.nn.Module):
        """Class 0 or 1 depending on the sign of one (noisy) pixel: 50/50 under noise."""

        def forward(self, x):
            v = x[:, 0, 0, 0] - 0.5
            return torch.stack([v, -v, torch.full_like(v, -10)], 1)

    clf = TorchClassifier(Coin(), tiny_spec, torch.device("cpu"))
    x = torch.full((1, 8, 8), 0.5)
    assert certify(clf, x, sigma=0.5, n0=50, n=500).prediction == ABSTAIN
    assert predict(clf, x, sigma=0.5, n=500) == ABSTAIN
