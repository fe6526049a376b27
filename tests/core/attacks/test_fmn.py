"""FMN: the norm-ball geometry, success and minimality on a linear model, targeted runs, every
norm on demo images, and oracle comparisons with foolbox's L0/L1/L2/LInf FMN attacks on the demo
CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.fmn import dual_norm, lp_norm, project
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on this shared 2-core machine, 2 threads made 6 demo images x 100
    steps take 21 s instead of 0.5 s (measured); foolbox runs under the same setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_projection_and_norms() -> None:
    d = torch.tensor([[[[3.0, -4.0]]], [[[0.1, 0.2]]]])
    eps = torch.tensor([1.0, 1.0])
    np.testing.assert_allclose(lp_norm(project(d, eps, "l2"), "l2").numpy(), [1.0, 0.2236], rtol=1e-4)
    assert project(d, eps, "linf").abs().max() == 1.0
    np.testing.assert_allclose(dual_norm(d, "linf").numpy(), [7.0, 0.3], rtol=1e-6)
    np.testing.assert_allclose(dual_norm(d, "l1").numpy(), [4.0, 0.2], rtol=1e-6)
    np.testing.assert_allclose(lp_norm(d, "l1").numpy(), [7.0, 0.3], rtol=1e-6)
    # L1: [3, -4] onto radius 1 soft-thresholds by θ = 3 -> [0, -1]; [0.1, 0.2] is inside
    np.testing.assert_allclose(project(d, eps, "l1").flatten(1).numpy(), [[0.0, -1.0], [0.1, 0.2]],
                               atol=1e-6)
    # L0: keep the ε largest |δ_i|
    d0 = torch.tensor([[0.1, -0.5, 0.3, 0.2], [0.4, 0.0, 0.0, -0.1]])
    kept = project(d0, torch.tensor([2.0, 3.0]), "l0")
    assert torch.equal(kept, torch.tensor([[0.0, -0.5, 0.3, 0.0], [0.4, 0.0, 0.0, -0.1]]))
    assert lp_norm(kept, "l0").tolist() == [2.0, 2.0]


def test_l1_projection_is_the_euclidean_one() -> None:
    """Random vectors: the projection lands on the sphere and is a soft threshold of v (the KKT
    conditions of min ||p - v||_2 s.t. ||p||_1 <= ε): |v_i| - |p_i| is one θ wherever p_i != 0,
    |v_i| <= θ wherever p_i = 0, and p_i keeps v_i's sign."""
    v = torch.randn(32, 3, 10, 10, generator=torch.Generator().manual_seed(1))  # |v|_1 ~ 240
    eps = torch.rand(32, generator=torch.Generator().manual_seed(2)) * 300
    inside = lp_norm(v, "l1") <= eps
    assert 0 < inside.sum() < 28  # some inside, and radii both below and above a top-128's reach
    p = project(v, eps, "l1")
    assert torch.equal(p[inside], v[inside])
    np.testing.assert_allclose(lp_norm(p[~inside], "l1").numpy(), eps[~inside].numpy(), rtol=1e-4)
    kept = (p.flatten(1) != 0).sum(1)[~inside]
    assert kept.min() < 128 < kept.max()  # the top-k path and its widening both ran
    v, p = v[~inside].flatten(1), p[~inside].flatten(1)
    for vi, pi in zip(v, p, strict=True):
        moved = vi.abs() - pi.abs()
        theta = moved[pi != 0]
        assert theta.max() - theta.min() < 1e-5
        assert (vi.abs()[pi == 0] <= theta.mean() + 1e-5).all()
        assert (pi * vi >= 0).all()


def _linear_clf() -> TorchClassifier:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    return TorchClassifier(module.eval(), ModelSpec(input_shape=(1, 8, 8), labels=("a", "b")),
                           torch.device("cpu"))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_linear_model_close_to_the_exact_distance(norm: str) -> None:
    """On a linear model the minimal perturbation is |gap| / ||w||_dual (inside the box)."""
    clf = _linear_clf()
    x = 0.5 + 0.01 * torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    result = get_attack("fmn").from_values({"norm": norm}).run(clf, x)
    w = clf.module[1].weight.detach()
    direction = w[1] - w[0]
    with torch.no_grad():
        gap = (clf.logits(x) @ torch.tensor([1.0, -1.0])).abs()
    exact = gap / (direction.norm() if norm == "l2" else direction.abs().sum())
    measured = torch.from_numpy(result.l2 if norm == "l2" else result.linf)
    assert result.success.all()
    assert (measured >= exact * 0.999).all()  # no perturbation beats the exact distance
    assert (measured <= exact * 1.05).all()  # and FMN gets within 5 % of it


def _box_minimal(clf: TorchClassifier, x: torch.Tensor, norm: str) -> torch.Tensor:
    """Exact minimal L1 size / L0 count that flips a 2-class linear model inside [0, 1]: a
    fractional knapsack; coordinates move towards the boundary, L1 takes the largest |w_i| first
    (cost 1/|w_i| per unit of margin), L0 the largest reach |w_i|·room_i first."""
    w = clf.module[1].weight.detach()
    with torch.no_grad():
        gaps = clf.logits(x) @ torch.tensor([1.0, -1.0])
    out = []
    for xi, gap in zip(x.flatten(1), gaps, strict=True):
        v = -w[0] + w[1] if gap > 0 else w[0] - w[1]  # the logit difference to raise
        room = torch.where(v > 0, 1 - xi, xi)
        reach = v.abs() * room
        if norm == "l0":
            out.append(float((reach.sort(descending=True).values.cumsum(0) < gap.abs()).sum() + 1))
            continue
        need, size = gap.abs().item(), 0.0
        for j in v.abs().argsort(descending=True):
            if reach[j] >= need:
                size += need / v[j].abs().item()
                break
            size, need = size + room[j].item(), need - reach[j].item()
        out.append(size)
    return torch.tensor(out)


@pytest.mark.parametrize("norm", ["l1", "l0"])
def test_linear_model_close_to_the_exact_l1_and_l0(norm: str) -> None:
    """A margin ~2, needing ~13 in L1 and ~24 changed pixels: the box binds, so the exact
    answer is the knapsack above. FMN lands within 2 % (L1) and 3 pixels (L0) of it."""
    clf = _linear_clf()
    with torch.no_grad():
        clf.module[1].bias += torch.tensor([1.0, -1.0])
    x = (0.5 + 0.2 * torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    result = get_attack("fmn").from_values({"norm": norm}).run(clf, x)
    delta = torch.from_numpy(result.x_adv) - x
    measured = lp_norm(delta, norm)
    exact = _box_minimal(clf, x, norm)
    assert result.success.all() and (clf.predict(torch.from_numpy(result.x_adv)) == 1).all()
    assert (exact > 10).all()  # the box binds: more than one coordinate is needed
    assert (measured >= exact * 0.999).all()
    if norm == "l1":
        assert (measured <= exact * 1.02).all()
    else:
        assert (measured <= exact + 3).all()
        assert (torch.from_numpy(result.l0) == measured).all()  # the engine counts the same


@pytest.mark.parametrize("norm", ["l0", "l1", "l2", "linf"])
def test_every_norm_breaks_demo_images(demo_clf, demo_subset, norm: str) -> None:
    """Each norm flips all of 6 demo digits; the sizes the result reports are those of the
    images it returns, re-predicted here."""
    x, y = demo_subset[0][:6], demo_subset[1][:6]
    assert (demo_clf.predict(x) == y).all()
    result = get_attack("fmn").from_values({"norm": norm}).run(demo_clf, x, y)
    x_adv = torch.from_numpy(result.x_adv)
    assert result.success.all() and (demo_clf.predict(x_adv) != y).all()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    delta = (x_adv - x).flatten(1)
    np.testing.assert_allclose(result.l2, delta.norm(dim=1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(result.linf, delta.abs().amax(1).numpy(), rtol=1e-5)
    size = {"l0": torch.from_numpy(result.l0).float(), "l1": delta.abs().sum(1),
            "l2": torch.from_numpy(result.l2), "linf": torch.from_numpy(result.linf)}[norm]
    # minimal, not merely successful: far inside the worst case (every pixel to its far limit)
    worst = lp_norm(torch.maximum(x, 1 - x), norm) if norm != "l0" else torch.full((6,), x[0].numel())
    assert (size < {"l0": 0.05, "l1": 0.05, "l2": 0.1, "linf": 0.25}[norm] * worst).all(), (norm, size)


@pytest.mark.parametrize("norm", ["l0", "l1", "l2"])
def test_targeted_and_flags(tiny_clf, tiny_batch, norm: str) -> None:
    cls = get_attack("fmn")
    assert cls.needs_gradients and cls.supports_targeted and cls().total_steps() == 100
    target = (tiny_clf.predict(tiny_batch) + 1) % 3
    result = cls.from_values({"norm": norm, "steps": 30}).run(tiny_clf, tiny_batch, target=target)
    assert (result.adv_pred == target.numpy()).all()
    assert result.x_adv.min() >= 0.0 and result.x_adv.max() <= 1.0


@pytest.mark.oracle
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_no_larger_than_foolbox_fmn(demo_clf, demo_subset, norm: str) -> None:
    """Same 100 steps and defaults as foolbox; re-predicted here. (Speed against foolbox is
    measured by benchmarks/minimal_attacks_speed.py, never in a test.)"""
    import foolbox as fb

    from tests.oracles import success_and_median_l2

    x, y = demo_subset
    fmodel = fb.PyTorchModel(demo_clf.as_module(), bounds=demo_clf.spec.value_range)
    theirs = fb.attacks.L2FMNAttack(steps=100) if norm == "l2" else fb.attacks.LInfFMNAttack(steps=100)
    ours = get_attack("fmn").from_values({"norm": norm})
    adv_theirs = theirs.run(fmodel, x, y)
    result = ours.run(demo_clf, x, y)

    def median_norm(adv) -> tuple[float, float]:
        adv = torch.as_tensor(np.asarray(adv))
        correct = demo_clf.predict(x) == y
        success = (demo_clf.predict(adv) != y) & correct
        delta = (adv - x).flatten(1)
        size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(1)
        return success.sum().item() / correct.sum().item(), float(size[success].median())

    ok_ours, size_ours = median_norm(result.x_adv)
    ok_theirs, size_theirs = median_norm(adv_theirs)
    assert ok_theirs == 1.0 and ok_ours == 1.0
    assert size_ours <= size_theirs * 1.001
    if norm == "l2":
        assert success_and_median_l2(demo_clf, x, y, result.x_adv)[1] == pytest.approx(size_ours)


@pytest.mark.oracle
@pytest.mark.parametrize("norm", ["l1", "l0"])
def test_l1_l0_no_larger_than_foolbox_fmn(demo_clf, demo_subset, norm: str) -> None:
    """foolbox's L1FMNAttack / L0FMNAttack, same 100 steps and defaults, 40 demo images,
    re-predicted here (speed is measured in benchmarks/, never in a test). Our median is over the successes (100 %);
    theirs counts a failure as an infinite norm (foolbox's L1 misses ~25 % of these images;
    ours without its masking of pixels pinned at a limit measured 87.5 % success). On the images
    both break, ours must be no larger either."""
    import foolbox as fb

    x, y = demo_subset[0][:40], demo_subset[1][:40]
    fmodel = fb.PyTorchModel(demo_clf.as_module(), bounds=demo_clf.spec.value_range)
    theirs = (fb.attacks.L1FMNAttack if norm == "l1" else fb.attacks.L0FMNAttack)(steps=100)
    ours = get_attack("fmn").from_values({"norm": norm})
    adv_theirs = theirs.run(fmodel, x, y)
    result = ours.run(demo_clf, x, y)
    correct = demo_clf.predict(x) == y

    def broken_and_size(adv) -> tuple[torch.Tensor, torch.Tensor]:
        adv = torch.as_tensor(np.asarray(adv))
        delta = adv - x
        size = lp_norm(delta, "l1") if norm == "l1" else (delta.flatten(1).abs() > 1e-6).sum(1).float()
        return (demo_clf.predict(adv) != y) & correct, size

    ok_ours, size_ours = broken_and_size(result.x_adv)
    ok_theirs, size_theirs = broken_and_size(adv_theirs)
    assert ok_ours.sum() == correct.sum() >= 35
    both = ok_ours & ok_theirs
    assert both.sum() >= 25
    median_theirs = torch.where(ok_theirs, size_theirs, float("inf"))[correct].median()
    assert size_ours[correct].median() <= median_theirs
    assert size_ours[both].median() <= size_theirs[both].median() * 1.001
    if norm == "l0":
        np.testing.assert_array_equal(result.l0, size_ours.numpy())  # the engine's count agrees
