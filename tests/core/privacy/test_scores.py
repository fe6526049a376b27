"""The membership score and the low-FPR metrics: conventions that must never flip."""

from __future__ import annotations

import numpy as np
import torch

from advinspect.core.privacy.membership import lira_offline
from advinspect.core.privacy.scores import logit_confidence, roc_metrics, tpr_at


def test_logit_confidence_is_float64_and_finite_where_float32_saturates():
    z = torch.tensor([[2.0, 0.0, -1.0], [200.0, 0.0, 0.0], [-200.0, 0.0, 0.0]])
    s = logit_confidence(z, [0, 0, 0])
    p = torch.softmax(z.double(), 1).numpy()
    assert s.dtype == np.float64
    assert np.isclose(s[0], np.log(p[0, 0]) - np.log(p[0, 1] + p[0, 2]))
    assert np.isfinite(s).all() and np.isclose(s[1], 200 - np.log(2)) and np.isclose(s[2], -200 - np.log(2))


def test_members_are_positive_and_tpr_at_low_fpr_reads_the_curve():
    member = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    score = np.r_[np.linspace(1, 2, 100), np.linspace(0, 1.5, 100)]  # members higher: AUC > 0.5
    m = roc_metrics(member, score, bootstrap=50, seed=1)
    assert m.auc > 0.8 and roc_metrics(member, -score, bootstrap=0).auc < 0.2
    # 100 non-members: FPR 1% allows one false positive; non-member max is 1.5, the next 1.4848
    assert m.tpr_at_1 == np.mean(np.linspace(1, 2, 100) > 1.4849)
    assert m.tpr_at_0_1 == np.mean(np.linspace(1, 2, 100) > 1.5)
    lo, hi = m.ci["auc"]
    assert lo <= m.auc <= hi and m.ci["tpr_at_1%_fpr"][0] <= m.tpr_at_1
    assert tpr_at(np.array([0.0, 0.5, 1.0]), np.array([0.2, 0.6, 1.0]), 0.001) == 0.2


def test_lira_compares_each_image_with_the_models_that_did_not_train_on_it():
    refs = np.array([[0.0, 5.0], [1.0, 50.0], [2.0, 7.0]])  # image 1 is IN model 1: its 50 must be ignored
    out = np.array([[True, True], [True, False], [True, True]])
    z = lira_offline(np.array([3.0, 9.0]), refs, out)
    sigma = np.std([0 - 1, 1 - 1, 2 - 1, 5 - 6, 7 - 6])
    assert np.allclose(z, [(3 - 1) / sigma, (9 - 6) / sigma])


def test_rmia_divides_by_the_prior_of_the_out_models():
    from advinspect.core.privacy.membership import RMIA_A, rmia_offline

    ref_p = np.array([[0.2, 0.9], [0.4, 0.1]])
    out = np.array([[True, True], [True, False]])  # image 1: only model 0 is OUT
    score = rmia_offline(np.array([0.6, 0.9]), ref_p, out)
    prior = 0.5 * ((1 + RMIA_A) * np.array([0.3, 0.9]) + (1 - RMIA_A))
    assert np.allclose(score, np.log(np.array([0.6, 0.9]) / prior))
