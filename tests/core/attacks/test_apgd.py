"""APGD (Croce & Hein 2020): the step-size schedule, the DLR loss, strength against our PGD and
against torchattacks' APGD/APGD-T on the same images, budgets, determinism and cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.apgd import checkpoints, dlr_loss, targeted_dlr_loss
from advinspect.core.jobs import CancelToken, Progress

EPS = 0.1
STEPS = 40


def robust_accuracy(result) -> float:
    return float(result.summary()["robust_accuracy"])


@pytest.fixture(scope="module")
def pgd40(demo_clf, demo_subset):
    x, y = demo_subset
    return get_attack("pgd").from_values({"eps": EPS, "steps": STEPS}).run(demo_clf, x, y, seed=0)


@pytest.fixture(scope="module")
def apgd_ce(demo_clf, demo_subset):
    x, y = demo_subset
    return get_attack("apgd").from_values({"eps": EPS, "steps": STEPS}).run(demo_clf, x, y, seed=0)


# --- the schedule and the loss ----------------------------------------------------------

def test_checkpoints_follow_the_paper():
    # p = 0, .22, .41, .57, .70, .80, .87, .93, .99 (p_{j+1} = p_j + max(p_j - p_{j-1} - .03, .06))
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1) == [1]
    marks = checkpoints(37)
    assert marks == sorted(set(marks)) and 0 < marks[0] and marks[-1] <= 37


def test_dlr_is_invariant_to_shift_and_scale_of_the_logits():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(32, 10, generator=g) * 3
    y = torch.randint(0, 10, (32,), generator=g)
    t = (y + 1 + torch.randint(0, 9, (32,), generator=g)) % 10
    for loss in (lambda v: dlr_loss(v, y), lambda v: targeted_dlr_loss(v, y, t)):
        base = loss(z)
        torch.testing.assert_close(loss(2.5 * z + 7.0), base, rtol=1e-4, atol=1e-5)
    # misclassified points have positive untargeted DLR, correctly classified ones negative
    correct = z.argmax(1) == y
    assert bool((dlr_loss(z, y)[correct] < 0).all()) and bool((dlr_loss(z, y)[~correct] > 0).all())


# --- strength --------------------------------------------------------------------------

def test_apgd_ce_at_least_as_strong_as_pgd(pgd40, apgd_ce):
    ours, pgd = robust_accuracy(apgd_ce), robust_accuracy(pgd40)
    print(f"robust accuracy at eps={EPS}: APGD-CE-{STEPS} {ours:.2f}, PGD-{STEPS} {pgd:.2f}")
    assert pgd < 0.9  # the comparison means something only if PGD breaks points
    assert ours <= pgd + 0.01


def test_apgd_dlr_and_apgd_t_break_points(demo_clf, demo_subset, pgd40):
    x, y = demo_subset
    dlr = get_attack("apgd").from_values({"eps": EPS, "steps": STEPS, "loss": "dlr"}).run(
        demo_clf, x, y, seed=0)
    apgdt = get_attack("apgd-t").from_values({"eps": EPS, "steps": 20, "n_target_classes": 3}).run(
        demo_clf, x, y, seed=0)
    print(f"APGD-DLR {robust_accuracy(dlr):.2f}, APGD-T {robust_accuracy(apgdt):.2f}")
    assert robust_accuracy(dlr) <= robust_accuracy(pgd40) + 0.03
    assert robust_accuracy(apgdt) <= robust_accuracy(pgd40) + 0.01


def test_targeted_apgd_reaches_targets_like_pgd(demo_clf, demo_subset):
    x, y = demo_subset
    target = (y + 1) % 10
    pgd = get_attack("pgd").from_values({"eps": 0.15, "steps": STEPS}).run(
        demo_clf, x, y, target=target, seed=0)
    ours = get_attack("apgd").from_values({"eps": 0.15, "steps": STEPS}).run(
        demo_clf, x, y, target=target, seed=0)
    assert ours.target is not None and (ours.target == target.numpy()).all()
    assert pgd.success.mean() > 0.2
    assert ours.success.mean() >= pgd.success.mean() - 0.01
    # success means the target class, re-predicted by the engine
    assert (ours.adv_pred[ours.success] == target.numpy()[ours.success]).all()


def test_apgd_l2_at_least_as_strong_as_pgd_l2(demo_clf, demo_subset):
    x, y = demo_subset
    values = {"eps": 1.5, "steps": STEPS, "norm": "l2"}
    pgd = get_attack("pgd").from_values(values).run(demo_clf, x, y, seed=0)
    ours = get_attack("apgd").from_values(values).run(demo_clf, x, y, seed=0)
    assert robust_accuracy(pgd) < 0.9
    assert robust_accuracy(ours) <= robust_accuracy(pgd) + 0.01
    assert ours.l2.max() <= 1.5 + 1e-4


# --- budgets, determinism, cancel --------------------------------------------------------

@pytest.mark.parametrize("name, values", [
    ("apgd", {"eps": 0.05, "steps": 15}),
    ("apgd", {"eps": 0.05, "steps": 15, "loss": "dlr", "restarts": 2}),
    ("apgd", {"eps": 0.5, "steps": 15, "norm": "l2"}),
    ("apgd-t", {"eps": 0.05, "steps": 10, "n_target_classes": 2}),
    ("apgd", {"eps": 0.05, "steps": 10, "early_stop": False}),
])
def test_stays_in_budget_and_value_range(tiny_clf, tiny_batch, name, values):
    r = get_attack(name).from_values(values).run(tiny_clf, tiny_batch, seed=1)
    assert r.x_adv.min() >= 0.0 and r.x_adv.max() <= 1.0
    size = r.l2 if values.get("norm") == "l2" else r.linf
    assert size.max() <= values["eps"] + 1e-5


def test_early_stop_off_keeps_adversarials(demo_clf, demo_subset):
    x, y = demo_subset[0][:40], demo_subset[1][:40]
    on = get_attack("apgd").from_values({"eps": EPS, "steps": 20}).run(demo_clf, x, y, seed=0)
    off = get_attack("apgd").from_values({"eps": EPS, "steps": 20, "early_stop": False}).run(
        demo_clf, x, y, seed=0)
    # climbing on after success must not lose it: at least as many points broken
    assert off.success.sum() >= on.success.sum() - 1
    assert on.success.sum() > 0


def test_deterministic_under_seed(demo_clf, demo_subset):
    x, y = demo_subset[0][:30], demo_subset[1][:30]
    attack = get_attack("apgd").from_values({"eps": 0.05, "steps": 10, "loss": "dlr"})
    a, b = attack.run(demo_clf, x, y, seed=7), attack.run(demo_clf, x, y, seed=7)
    c = attack.run(demo_clf, x, y, seed=8)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    assert not np.array_equal(a.x_adv, c.x_adv)  # the random start does depend on the seed


def test_cancel_returns_partial_result_marked_cancelled(demo_clf, demo_subset):
    x, y = demo_subset
    cancel = CancelToken()
    events = []

    def on_progress(event):
        events.append(event)
        if len(events) == 1:
            cancel.cancel()

    r = get_attack("apgd").from_values({"eps": EPS, "steps": 50}).run(
        demo_clf, x, y, seed=0, progress=Progress(on_progress), cancel=cancel)
    assert r.cancelled
    assert r.completed is not None and not r.completed.all()
    assert len(r.trace) <= 2  # stopped after the first step, not after 50
    assert r.linf.max() <= EPS + 1e-5


def test_progress_reaches_the_end(tiny_clf, tiny_batch):
    events = []
    get_attack("apgd").from_values({"eps": 0.3, "steps": 12}).run(
        tiny_clf, tiny_batch, seed=0, progress=Progress(events.append))
    assert events and events[-1].step == events[-1].total


# --- oracles -----------------------------------------------------------------------------


def _oracle_accuracy(clf, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    return float((clf.predict(x_adv.detach()).cpu() == y).float().mean())


@pytest.mark.oracle
@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_no_weaker_than_torchattacks(demo_clf, demo_subset, loss):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = demo_subset
    oracle = torchattacks.APGD(demo_clf.as_module(), norm="Linf", eps=EPS, steps=STEPS,
                               n_restarts=1, loss=loss, seed=0)
    theirs = _oracle_accuracy(demo_clf, oracle(x, y), y)
    ours = robust_accuracy(get_attack("apgd").from_values(
        {"eps": EPS, "steps": STEPS, "loss": loss}).run(demo_clf, x, y, seed=0))
    print(f"APGD-{loss.upper()} eps={EPS} steps={STEPS}: ours {ours:.2f}, torchattacks {theirs:.2f}")
    assert theirs < 0.9
    assert ours <= theirs + 0.01


@pytest.mark.oracle
def test_apgd_t_no_weaker_than_torchattacks(demo_clf, demo_subset):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = demo_subset
    oracle = torchattacks.APGDT(demo_clf.as_module(), norm="Linf", eps=EPS, steps=20,
                                n_restarts=1, n_classes=10, seed=0)
    oracle.n_target_classes = 3  # torchattacks takes n_classes - 1 unless told
    theirs = _oracle_accuracy(demo_clf, oracle(x, y), y)
    ours = robust_accuracy(get_attack("apgd-t").from_values(
        {"eps": EPS, "steps": 20, "n_target_classes": 3}).run(demo_clf, x, y, seed=0))
    print(f"APGD-T eps={EPS} steps=20 targets=3: ours {ours:.2f}, torchattacks {theirs:.2f}")
    assert theirs < 0.9
    assert ours <= theirs + 0.01
