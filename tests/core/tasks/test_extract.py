"""core.tasks.extract against a black-box tiny victim: the thief learns to agree with it, only
`logits` is ever called, the budget is honoured exactly, bad input is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import extract
from advinspect.core.tasks.base import Images, make_config
from tests.core.privacy import fixtures

overfit_target, privacy_split = fixtures.overfit_target, fixtures.privacy_split  # shared session fixtures
pytestmark = pytest.mark.usefixtures("one_thread")
one_thread = fixtures.one_thread


def sets(privacy_split):
    members, non_members = privacy_split
    pool = Images(np.concatenate([members.x, non_members.x]), -np.ones(60))  # unlabelled
    return pool, non_members


def test_soft_and_hard_thieves_follow_a_black_box_victim(overfit_target, privacy_split):
    pool, test = sets(privacy_split)
    victim = fixtures.BlackBox(overfit_target)
    config = extract.Config(budget=150, checkpoints=(30,), epochs=20, lr=3e-3, batch_size=16, round_size=30,
                            thief_arch="mlp", transfer_eps=0.2, transfer_images=30)
    soft = extract.run(extract.Inputs(victim, pool, test), config)
    queried = victim.calls
    assert [r["queries"] for r in soft.rows] == [30, 150]
    assert soft.rows[-1]["fidelity"] >= 0.8 and soft.rows[-1]["fidelity"] >= soft.rows[0]["fidelity"]
    assert "queries beyond them are augmented copies" in soft.pool_text
    assert soft.transfer["attacked"] > 0 and 0.0 <= soft.transfer["victim_success"] <= 1.0
    assert soft.transfer["thief_success"] > 0.5  # white-box on the thief at eps 0.2
    hard = extract.run(extract.Inputs(victim, pool, test), extract.Config(**{**config.__dict__, "labels_only": True}))
    assert hard.rows[-1]["fidelity"] >= 0.7
    data = json.loads(json.dumps(soft.to_dict()))
    assert data["budgets"][1]["fidelity"] == soft.rows[1]["fidelity"] and "accuracy" in data["budgets"][1]
    assert queried - 2 * len(test) - 30 * 3 <= 150  # the queries, the test set twice, the transfer check
    assert len(soft.report_section().figures) == 1


def test_adaptive_sampling_pulls_arms_of_a_labelled_pool(overfit_target, privacy_split):
    members, test = privacy_split
    config = extract.Config(budget=60, checkpoints=(20,), sampling="adaptive", epochs=10, batch_size=16,
                            round_size=10, thief_arch="mlp", transfer_eps=0.0)
    result = extract.run(extract.Inputs(overfit_target, members, test), config)
    assert sum(result.arm_pulls) == 40  # the rounds after the first thief exists
    assert len(result.rows) == 2


def test_noise_pool(overfit_target, privacy_split):
    result = extract.run(extract.Inputs(overfit_target, None, privacy_split[1]),
                         extract.Config(budget=40, checkpoints=(), epochs=2, thief_arch="mlp", transfer_eps=0.0))
    assert result.pool_text == "pool: 40 uniform noise images" and result.rows[0]["queries"] == 40


def test_bad_input_is_one_line_before_any_query(overfit_target, privacy_split):
    pool, test = sets(privacy_split)
    victim = fixtures.BlackBox(overfit_target)
    with pytest.raises(AdvInspectError, match="budget must be at least 1, got 0"):
        make_config(extract.Config, {"budget": "0"})
    with pytest.raises(AdvInspectError, match=r"architecture torch.nn:Identity gives outputs \(1, 8, 8\)"):
        extract.run(extract.Inputs(victim, pool, test), extract.Config(thief_arch="torch.nn:Identity"))
    wrong = Images(torch.rand(4, 1, 6, 6).numpy(), -np.ones(4))
    with pytest.raises(AdvInspectError, match=r"pool images are \(1, 6, 6\) but the victim takes \(1, 8, 8\)"):
        extract.run(extract.Inputs(victim, wrong, test), extract.Config())
    assert victim.calls == 0


def test_cancel_keeps_the_finished_checkpoints(overfit_target, privacy_split):
    pool, test = sets(privacy_split)
    token = CancelToken()
    config = extract.Config(budget=200, checkpoints=(20,), epochs=2, round_size=10, thief_arch="mlp")
    result = extract.run(extract.Inputs(overfit_target, pool, test), config,
                         progress=Progress(lambda e: token.cancel() if e.message.startswith("thief") else None),
                         cancel=token)
    assert result.cancelled and [r["queries"] for r in result.rows] == [20] and result.transfer is None
    assert result.summary_text()[-1].startswith("cancelled")
