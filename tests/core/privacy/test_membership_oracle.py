"""Oracle: ART's MembershipInferenceBlackBox on the same split as our attacks (tiny overfit target).

ART's attack is given the *true* membership of half the images to learn from and is scored on the
other half; our threshold attack learns nothing. On a target that memorises its members both must
find them (AUC clearly above chance), and ART's supervised attack must not beat the threshold by
much: the threshold score carries the signal."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.privacy.scores import model_scores, roc
from tests.core.privacy import fixtures
from tests.oracles import art_classifier

overfit_target, privacy_split = fixtures.overfit_target, fixtures.privacy_split  # shared session fixtures
one_thread = fixtures.one_thread


@pytest.mark.oracle
@pytest.mark.usefixtures("one_thread")
def test_threshold_attack_agrees_with_art_black_box(overfit_target, privacy_split):
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    members, non_members = privacy_split
    fit, held = np.arange(30) % 2 == 0, np.arange(30) % 2 == 1  # both halves keep 10 classes' mix
    attack = MembershipInferenceBlackBox(art_classifier(overfit_target), attack_model_type="rf")
    attack.fit(members.x[fit], members.labels[fit], non_members.x[fit], non_members.labels[fit])
    p_in = attack.infer(members.x[held], members.labels[held], probabilities=True)[:, -1]
    p_out = attack.infer(non_members.x[held], non_members.labels[held], probabilities=True)[:, -1]
    member = np.r_[np.ones(15, bool), np.zeros(15, bool)]
    _, _, art_auc = roc(member, np.r_[p_in, p_out])
    ours = np.r_[model_scores(overfit_target, members.tensor()[held], members.labels[held]),
                 model_scores(overfit_target, non_members.tensor()[held], non_members.labels[held])]
    _, _, our_auc = roc(member, ours)
    assert our_auc > 0.6 and art_auc > 0.55
    print(f"AUC: ART {art_auc:.3f}, threshold {our_auc:.3f}")
    assert art_auc <= our_auc + 0.2, (art_auc, our_auc)
