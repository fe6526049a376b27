"""core.tasks.membership on a tiny overfit target: the attacks find its members, reference models
are cached, bad input is refused in one line, a cancel keeps what was finished."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import membership
from advinspect.core.tasks.base import Images
from tests.core.privacy import fixtures

overfit_target, privacy_split = fixtures.overfit_target, fixtures.privacy_split  # shared session fixtures
pytestmark = pytest.mark.usefixtures("one_thread")
one_thread = fixtures.one_thread


def config(tmp_path, **values) -> membership.Config:
    base = {"reference_models": 2, "reference_arch": "mlp", "epochs": 60, "lr": 3e-3, "batch_size": 16,
            "bootstrap": 50, "cache_dir": str(tmp_path / "cache")}
    return membership.Config(**{**base, **values})


def test_attacks_find_the_members_and_the_cache_is_reused(overfit_target, privacy_split, tmp_path):
    members, non_members = privacy_split
    inputs = membership.Inputs(overfit_target, members, non_members)
    first = membership.run(inputs, config(tmp_path))
    assert list(first.metrics) == ["threshold", "lira", "rmia", "shadow"]
    assert first.train_accuracy == 1.0
    assert all(first.metrics[a].auc > 0.6 for a in ("threshold", "lira", "rmia"))
    assert first.references["trained"] == 2 and first.references["cached"] == 0
    assert first.references["out_models_per_image"] == 1.0  # complementary halves: each image out of one
    data = json.loads(json.dumps(first.to_dict()))
    assert set(data["attacks"]["lira"]) >= {"auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr", "ci95", "roc"}
    assert data["rows"][0]["member"] is True and data["rows"][-1]["member"] is False
    assert "members positive" in first.summary_text()[0]
    section = first.report_section()
    assert len(section.figures) == 2 and section.tables[0].rows[1][0] == "lira"
    second = membership.run(inputs, config(tmp_path))
    assert second.references["cached"] == 2 and second.references["trained"] == 0
    assert np.array_equal(second.scores["lira"], first.scores["lira"])


def test_unbalanced_sets_are_balanced_and_say_so(overfit_target, privacy_split, tmp_path):
    members, non_members = privacy_split
    extra = Images(np.concatenate([members.x, members.x[:3] * 0.5]), np.r_[members.labels, members.labels[:3]])
    result = membership.run(membership.Inputs(overfit_target, extra, non_members),
                            config(tmp_path, attack="threshold"))
    assert len(result.members) == len(result.non_members) == 30
    assert any("balanced: 33 members" in line for line in result.summary_text())


def test_overlapping_sets_name_the_files(overfit_target, privacy_split, tmp_path):
    members, non_members = privacy_split
    leaky = Images(np.concatenate([non_members.x[:29], members.x[4:5]]), np.r_[non_members.labels[:29], 1],
                   [*non_members.names[:29], "copy_of_m4.png"])
    with pytest.raises(AdvInspectError, match=r"1 member image\(s\) are also in the non-members set: m4.png = "
                                              r"copy_of_m4.png"):
        membership.run(membership.Inputs(overfit_target, members, leaky), config(tmp_path))


def test_fewer_than_ten_per_class_is_refused(overfit_target, privacy_split, tmp_path):
    members, non_members = privacy_split
    with pytest.raises(AdvInspectError, match=r"non-members set has fewer than 10 images of a class \(class 2: 9\)"):
        membership.run(membership.Inputs(overfit_target, members, non_members.subset(range(29))), config(tmp_path))


def test_an_architecture_that_does_not_fit_is_refused_before_training(overfit_target, privacy_split, tmp_path):
    members, non_members = privacy_split
    with pytest.raises(AdvInspectError, match="architecture torch.nn:Identity"):
        membership.run(membership.Inputs(overfit_target, members, non_members),
                       config(tmp_path, reference_arch="torch.nn:Identity"))


def test_cancel_during_reference_training_keeps_the_threshold_attack(overfit_target, privacy_split, tmp_path):
    members, non_members = privacy_split
    token = CancelToken()
    result = membership.run(membership.Inputs(overfit_target, members, non_members),
                            config(tmp_path, cache_dir=str(tmp_path / "other")),
                            progress=Progress(lambda e: token.cancel() if e.step >= 3 else None), cancel=token)
    assert result.cancelled and list(result.metrics) == ["threshold"]
    assert result.summary_text()[-1].startswith("cancelled")
