"""FGSM, BIM, PGD and least-likely: budgets hold, runs are deterministic, cancel returns partial
results, and the attacks match or beat torchattacks and ART on the demo model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.base import build_params, parse_number
from advinspect.core.errors import AdvInspectError, GradientsUnavailableError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier
from tests.conftest import TinyCNN
from tests.oracles import art_classifier

TOL = 1e-5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["fgsm", "bim", "pgd", "ill"]),
    eps=st.floats(0.0, 0.5),
    norm=st.sampled_from(["linf", "l2"]),
    channels=st.sampled_from([1, 3]),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
    lo_hi=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)]),
)
def test_adversarials_stay_in_the_ball_and_range(name, eps, norm, channels, n, seed, lo_hi):
    torch.manual_seed(seed)
    lo, hi = lo_hi
    clf = TorchClassifier(TinyCNN(channels).eval(), ModelSpec(input_shape=(channels, 8, 8), value_range=lo_hi,
                                                             labels=("a", "b", "c")), torch.device("cpu"))
    x = torch.rand(n, channels, 8, 8) * (hi - lo) + lo
    scale = (hi - lo)
    values = {"eps": eps * scale, "steps": 3} if name != "fgsm" else {"eps": eps * scale}
    if name == "pgd":
        values["norm"] = norm
    result = get_attack(name).from_values(values).run(clf, x, seed=seed)
    assert result.x_adv.min() >= lo - TOL * scale and result.x_adv.max() <= hi + TOL * scale
    bound = result.l2 if (name == "pgd" and norm == "l2") else result.linf
    assert (bound <= eps * scale * (1 + 1e-5) + TOL * scale).all()


def test_eps_zero_gives_clean_accuracy(demo_clf, demo_subset):
    x, y = demo_subset
    result = get_attack("pgd").from_values({"eps": 0, "steps": 3}).run(demo_clf, x, y)
    summary = result.summary()
    assert summary["robust_accuracy"] == summary["clean_accuracy"]
    assert not result.success[result.clean_correct].any()


def test_robust_accuracy_never_rises_with_eps(demo_clf, demo_subset):
    x, y = demo_subset
    accuracies = [
        get_attack("pgd").from_values({"eps": eps, "steps": 10}).run(demo_clf, x, y).summary()["robust_accuracy"]
        for eps in (0.0, 0.02, 0.05, 0.1, 0.2)
    ]
    assert accuracies == sorted(accuracies, reverse=True)
    assert accuracies[-1] < accuracies[0] - 0.5  # the attack does real damage on the demo


def test_deterministic_under_seed(demo_clf, demo_subset):
    x, y = demo_subset[0][:20], demo_subset[1][:20]
    attack = get_attack("pgd").from_values({"eps": 0.05, "steps": 5})
    a, b = attack.run(demo_clf, x, y, seed=7), attack.run(demo_clf, x, y, seed=7)
    c = attack.run(demo_clf, x, y, seed=8)
    assert np.array_equal(a.x_adv, b.x_adv)
    assert not np.array_equal(a.x_adv, c.x_adv)


def test_batching_does_not_change_results(demo_clf, demo_subset):
    x, y = demo_subset[0][:30], demo_subset[1][:30]
    attack = get_attack("bim").from_values({"eps": 0.08, "steps": 5})
    whole, split = attack.run(demo_clf, x, y, batch_size=64), attack.run(demo_clf, x, y, batch_size=7)
    assert np.allclose(whole.x_adv, split.x_adv, atol=1e-6)


def test_targeted_pgd_hits_the_target(demo_clf, demo_subset):
    x, y = demo_subset[0][:30], demo_subset[1][:30]
    target = torch.full((30,), 3)
    result = get_attack("pgd").from_values({"eps": 0.3, "steps": 30}).run(demo_clf, x, y, target=target)
    assert result.success.mean() > 0.9
    assert (result.adv_pred[result.success] == 3).all()


def test_least_likely_targets_the_least_likely_class(demo_clf, demo_subset):
    x, y = demo_subset[0][:20], demo_subset[1][:20]
    result = get_attack("ill").from_values({"eps": 0.3, "steps": 20}).run(demo_clf, x, y)
    least = demo_clf.logits_batched(x).argmin(1).numpy()
    assert np.array_equal(result.target, least)
    assert (result.adv_pred[result.success] == least[result.success]).all() and result.success.mean() > 0.5


def test_early_stop_saves_iterations_and_keeps_success(demo_clf, demo_subset):
    x, y = demo_subset
    fast = get_attack("pgd").from_values({"eps": 0.1, "steps": 20}).run(demo_clf, x, y)
    full = get_attack("pgd").from_values({"eps": 0.1, "steps": 20, "early_stop": False}).run(demo_clf, x, y)
    assert fast.iterations.mean() < full.iterations.mean()
    assert abs(fast.summary()["robust_accuracy"] - full.summary()["robust_accuracy"]) <= 0.05


def test_l2_pgd_respects_l2_budget(demo_clf, demo_subset):
    x, y = demo_subset
    result = get_attack("pgd").from_values({"eps": 1.0, "norm": "l2", "steps": 10}).run(demo_clf, x, y)
    assert result.l2.max() <= 1.0 + 1e-4 and result.success.any()


def test_restarts_never_hurt(demo_clf, demo_subset):
    x, y = demo_subset
    one = get_attack("pgd").from_values({"eps": 0.06, "steps": 5}).run(demo_clf, x, y, seed=1)
    three = get_attack("pgd").from_values({"eps": 0.06, "steps": 5, "restarts": 3}).run(demo_clf, x, y, seed=1)
    assert three.summary()["robust_accuracy"] <= one.summary()["robust_accuracy"]


def test_cancel_returns_partial_results_marked_cancelled(demo_clf, demo_batch):
    token = CancelToken()
    seen = []

    def on_progress(event):
        seen.append(event)
        if event.step >= 3 * 64:
            token.cancel()

    attack = get_attack("pgd").from_values({"eps": 0.1, "steps": 50})
    result = attack.run(demo_clf, demo_batch.x, demo_batch.labels, progress=Progress(on_progress),
                        cancel=token, batch_size=64)
    assert result.cancelled and result.summary()["cancelled"]
    assert result.x_adv.shape == tuple(demo_batch.x.shape)
    assert not result.completed.all()
    assert seen and seen[-1].step < seen[-1].total


def test_previews_carry_the_current_adversarials(demo_clf, demo_subset):
    previews = []
    progress = Progress(lambda e: previews.append(e.preview) if e.preview else None, previews=True)
    get_attack("bim").from_values({"eps": 0.1, "steps": 5}).run(demo_clf, *demo_subset, progress=progress)
    assert previews and previews[-1]["x_adv"].shape[1:] == (1, 32, 32)
    assert "loss" in previews[-1] and "success" in previews[-1]


def test_trace_records_loss_and_confidence_per_step(demo_clf, demo_subset):
    result = get_attack("bim").from_values({"eps": 0.1, "steps": 5, "early_stop": False}).run(demo_clf, *demo_subset)
    assert [row["step"] for row in result.trace] == [1, 2, 3, 4, 5]
    confidences = [row["confidence"] for row in result.trace]
    assert confidences[-1] < confidences[0]  # the true class loses confidence as the attack climbs


def test_gradient_attack_refused_on_model_without_gradients(demo_subset):
    from advinspect.core.data.demo import DEMO_ONNX
    from advinspect.core.models import load_model

    clf = load_model(DEMO_ONNX, device="cpu")
    clf.torch_module = None  # as if the ONNX graph could not be converted
    with pytest.raises(GradientsUnavailableError, match="black-box"):
        get_attack("pgd")().run(clf, *demo_subset)


def test_params_parse_fractions_and_reject_bad_values():
    assert parse_number("8/255") == pytest.approx(8 / 255)
    params = build_params(get_attack("pgd").params_type, {"eps": "8/255", "steps": "20", "norm": "l2"})
    assert params.eps == pytest.approx(8 / 255) and params.steps == 20 and params.norm == "l2"
    with pytest.raises(AdvInspectError, match="norm"):
        build_params(get_attack("pgd").params_type, {"norm": "l3"})
    with pytest.raises(AdvInspectError, match="at least"):
        build_params(get_attack("pgd").params_type, {"steps": "0"})
    with pytest.raises(AdvInspectError, match="unknown parameter"):
        build_params(get_attack("fgsm").params_type, {"steps": "3"})
    with pytest.raises(AdvInspectError, match="unknown attack"):
        get_attack("nope")


def test_quantization_check_and_unknown_labels(demo_clf, demo_subset):
    x = demo_subset[0][:20]
    result = get_attack("fgsm").from_values({"eps": 0.2}).run(demo_clf, x)  # no labels: flips count
    assert not result.labels_known
    assert np.array_equal(result.success, result.adv_pred != result.clean_pred)
    assert result.success_after_quantization.dtype == bool


# --- oracles ------------------------------------------------------------------------------


def _accuracy(clf, x_adv, y, x):
    """Robust accuracy as the engine counts it: correct before and after the attack."""
    clean = clf.predict(x) == y
    return (clean & (clf.predict(torch.as_tensor(x_adv)) == y)).float().mean().item()


@pytest.mark.oracle
def test_fgsm_matches_torchattacks_and_art(demo_clf, demo_subset):
    import torchattacks
    from art.attacks.evasion import FastGradientMethod

    x, y = demo_subset
    ours = get_attack("fgsm").from_values({"eps": 0.1}).run(demo_clf, x, y)
    ta = torchattacks.FGSM(demo_clf.as_module(), eps=0.1)(x, y)
    art_clf = art_classifier(demo_clf)
    art = FastGradientMethod(art_clf, eps=0.1).generate(x.numpy(), y=y.numpy())
    ta_pred = demo_clf.predict(ta).numpy()
    art_pred = demo_clf.predict(torch.as_tensor(art)).numpy()
    assert (ours.adv_pred == ta_pred).mean() >= 0.99
    assert (ours.adv_pred == art_pred).mean() >= 0.99


@pytest.mark.oracle
def test_pgd_at_least_as_strong_as_torchattacks_and_art(demo_clf, demo_subset):
    import torchattacks
    from art.attacks.evasion import ProjectedGradientDescent

    x, y = demo_subset
    eps, steps, alpha = 0.1, 20, 2.5 * 0.1 / 20
    ours = get_attack("pgd").from_values({"eps": eps, "steps": steps}).run(demo_clf, x, y, seed=0)
    torch.manual_seed(0)
    ta = torchattacks.PGD(demo_clf.as_module(), eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)
    art_clf = art_classifier(demo_clf)
    np.random.seed(0)  # ART draws its random start from numpy's global generator
    art = ProjectedGradientDescent(art_clf, eps=eps, eps_step=alpha, max_iter=steps, num_random_init=1,
                                   verbose=False).generate(x.numpy(), y=y.numpy())
    ours_acc = ours.summary()["robust_accuracy"]
    assert ours_acc <= _accuracy(demo_clf, ta, y, x) + 0.01 + 1e-6
    assert ours_acc <= _accuracy(demo_clf, art, y, x) + 0.01 + 1e-6
