"""Calibration metrics against torchmetrics, and temperature scaling that recovers a known T."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.metrics.calibration import (
    calibration,
    fit_temperature,
    reliability_bins,
    split_indices,
)


@pytest.mark.oracle
def test_ece_matches_torchmetrics_on_the_demo(demo_clf, demo_batch):
    from torchmetrics.classification import MulticlassCalibrationError

    logits = demo_clf.logits_batched(demo_batch.x)
    ours = calibration(logits, demo_batch.labels, n_bins=15)
    for norm, value in (("l1", ours.ece), ("max", ours.mce)):
        metric = MulticlassCalibrationError(num_classes=10, n_bins=15, norm=norm)
        reference = metric(logits.softmax(1), demo_batch.labels).item()
        assert value == pytest.approx(reference, abs=1e-6)


def test_ece_on_random_predictions_matches_torchmetrics():
    from torchmetrics.classification import MulticlassCalibrationError

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 5, generator=g) * 2
    labels = torch.randint(0, 5, (500,), generator=g)
    reference = MulticlassCalibrationError(num_classes=5, n_bins=15, norm="l1")(logits.softmax(1), labels).item()
    assert calibration(logits, labels).ece == pytest.approx(reference, abs=1e-6)


def test_metrics_of_a_perfect_confident_model():
    labels = torch.arange(10) % 3
    logits = torch.nn.functional.one_hot(labels, 3).float() * 50
    c = calibration(logits, labels)
    assert c.accuracy == 1 and c.ece < 1e-6 and c.nll < 1e-6 and c.brier < 1e-6
    assert sum(b.count for b in c.bins) == 10 and c.bins[-1].count == 10


def test_temperature_scaling_recovers_t_and_lowers_held_out_nll():
    g = torch.Generator().manual_seed(1)
    n, k = 4000, 10
    labels = torch.randint(0, k, (n,), generator=g)
    calibrated = torch.randn(n, k, generator=g)
    calibrated[torch.arange(n), labels] += 2.0  # a calibrated model: labels drawn from its softmax
    labels = torch.multinomial(calibrated.softmax(1), 1, generator=g).flatten()
    overconfident = calibrated * 3
    fit, held = split_indices(n, 0.5, seed=0)
    t = fit_temperature(overconfident[fit], labels[fit])
    assert t == pytest.approx(3.0, rel=0.1)
    before = calibration(overconfident[held], labels[held])
    after = calibration(overconfident[held], labels[held], temperature=t)
    assert after.nll < before.nll and after.ece < before.ece


def test_bins_are_equal_width_and_count_everything():
    conf = np.array([0.0, 0.05, 0.5, 0.51, 1.0])
    bins = reliability_bins(conf, np.array([1, 0, 1, 1, 0], bool), n_bins=10)
    assert [b.count for b in bins] == [2, 0, 0, 0, 1, 1, 0, 0, 0, 1]
    assert bins[4].upper == pytest.approx(0.5) and bins[4].accuracy == 1.0


def test_split_is_disjoint_and_seeded():
    a, b = split_indices(101, 0.3, seed=4)
    assert len(set(a) & set(b)) == 0 and len(a) + len(b) == 101 and len(b) == 30
    assert np.array_equal(split_indices(101, 0.3, seed=4)[1], b)
