"""FAB-T and AutoAttack: the hyperplane projection, FAB-T against torchattacks' FAB-T, and the
AutoAttack sequence (no weaker than any of its parts, per-stage bookkeeping, Square lookup,
sanity warnings, budgets, determinism, cancel)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.base import Attack, BatchOutput, param, project_linf
from advinspect.core.attacks.fab import project_hyperplane
from advinspect.core.attacks.registry import ATTACKS, all_attacks
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier

EPS = 0.1
SMALL = {"eps": EPS, "steps": 10, "n_target_classes": 3, "n_queries": 50}


def robust_accuracy(result) -> float:
    return float(result.summary()["robust_accuracy"])


# --- FAB's projection ----------------------------------------------------------------------

def _bisect(z, w, r, norm, lo=0.0, hi=1.0):
    """Reference by bisection on the KKT multiplier: slow, but obviously right."""
    s = r.sign().unsqueeze(1)
    k = torch.ones_like(w) if norm == "linf" else w.abs()
    a, b = torch.zeros(len(z)), torch.full((len(z),), 1e4)
    for _ in range(200):
        m = (a + b) / 2
        d = torch.clamp(m.unsqueeze(1) * k * w.sign() * s, lo - z, hi - z)
        big = (w * d).sum(1) * s.squeeze(1) >= r.abs()
        a, b = torch.where(big, a, m), torch.where(big, m, b)
    return torch.clamp(b.unsqueeze(1) * k * w.sign() * s, lo - z, hi - z)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_hyperplane_projection_is_exact(norm):
    g = torch.Generator().manual_seed(0)
    z, w = torch.rand(64, 40, generator=g), torch.randn(64, 40, generator=g)
    r = torch.randn(64, generator=g) * 12  # large enough that some hyperplanes lie outside the box
    free = project_hyperplane(z, w, r, -1e9, 1e9, norm)
    closed = (r.unsqueeze(1) * w / (w * w).sum(1, keepdim=True) if norm == "l2"
              else (r / w.abs().sum(1)).unsqueeze(1) * w.sign())
    torch.testing.assert_close(free, closed, rtol=1e-4, atol=1e-5)
    boxed = project_hyperplane(z, w, r, 0.0, 1.0, norm)
    assert bool(((z + boxed) >= -1e-6).all()) and bool(((z + boxed) <= 1 + 1e-6).all())
    reachable = (w * _bisect(z, w, r * 1e6, norm)).sum(1).abs() >= r.abs()
    assert 5 < int(reachable.sum()) < 64  # both cases occur
    torch.testing.assert_close((w * boxed).sum(1)[reachable], r[reachable], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(boxed[reachable], _bisect(z, w, r, norm)[reachable],
                               rtol=1e-4, atol=1e-4)


# --- FAB-T ---------------------------------------------------------------------------------

def test_fab_minimal_norm_finds_small_adversarials(demo_clf, demo_subset):
    x, y = demo_subset[0][:40], demo_subset[1][:40]
    fab = get_attack("fab").from_values({"steps": 20, "n_target_classes": 3}).run(demo_clf, x, y)
    correct = fab.clean_correct
    assert fab.success[correct].mean() > 0.9
    # minimal norm: well below what a fixed-budget attack uses to break the same points
    pgd = get_attack("pgd").from_values({"eps": 0.3, "steps": 20}).run(demo_clf, x, y)
    both = fab.success & pgd.success
    assert np.median(fab.linf[both]) < np.median(pgd.linf[both])
    # and FAB's own budget mode agrees with its minimal-norm mode at that budget
    budget = float(np.median(fab.linf[fab.success]))
    at = get_attack("fab").from_values({"steps": 20, "n_target_classes": 3, "eps": budget}).run(
        demo_clf, x, y)
    assert at.linf.max() <= budget + 1e-6
    assert abs(at.success.mean() - (fab.success & (fab.linf <= budget)).mean()) <= 0.1


def test_fab_targeted_reaches_the_given_target(demo_clf, demo_subset):
    x, y = demo_subset[0][:20], demo_subset[1][:20]
    target = (y + 3) % 10
    r = get_attack("fab").from_values({"steps": 30, "norm": "l2"}).run(demo_clf, x, y, target=target)
    assert r.success.mean() > 0.8
    assert (r.adv_pred[r.success] == target.numpy()[r.success]).all()



@pytest.mark.oracle
@pytest.mark.parametrize("norm, eps", [("linf", EPS), ("l2", 1.5)])
def test_fab_t_no_weaker_than_torchattacks(demo_clf, demo_subset, norm, eps):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = demo_subset[0][:60], demo_subset[1][:60]
    # torchattacks' multi-targeted FAB attacks classes 2..n_classes of the ranking: 3 targets
    oracle = torchattacks.FAB(demo_clf.as_module(), norm="Linf" if norm == "linf" else "L2",
                              eps=eps, steps=20, n_restarts=1, multi_targeted=True, n_classes=4, seed=0)
    x_o = oracle(x, y).detach()
    size = (x_o - x).flatten(1).abs().amax(1) if norm == "linf" else (x_o - x).flatten(1).norm(dim=1)
    theirs = float(((demo_clf.predict(x_o).cpu() == y) | (size > eps + 1e-5)).float().mean())
    ours = robust_accuracy(get_attack("fab").from_values(
        {"norm": norm, "eps": eps, "steps": 20, "n_target_classes": 3}).run(demo_clf, x, y, seed=0))
    print(f"FAB-T {norm} eps={eps} steps=20 targets=3: ours {ours:.3f}, torchattacks {theirs:.3f}")
    assert theirs < 0.9
    assert ours <= theirs + 0.01


# --- AutoAttack ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aa_fast(demo_clf, demo_subset):
    x, y = demo_subset
    return get_attack("autoattack").from_values({**SMALL, "version": "fast"}).run(demo_clf, x, y, seed=0)


def test_autoattack_no_weaker_than_each_part(demo_clf, demo_subset, aa_fast):
    x, y = demo_subset
    aa = robust_accuracy(aa_fast)
    singles = {
        "pgd-40": get_attack("pgd").from_values({"eps": EPS, "steps": 40}),
        "apgd-ce": get_attack("apgd").from_values({"eps": EPS, "steps": 10}),
        "apgd-t": get_attack("apgd-t").from_values({"eps": EPS, "steps": 10, "n_target_classes": 3}),
        "fab-t": get_attack("fab").from_values({"eps": EPS, "steps": 10, "n_target_classes": 3}),
    }
    accs = {name: robust_accuracy(a.run(demo_clf, x, y, seed=0)) for name, a in singles.items()}
    print(f"AutoAttack (fast) {aa:.2f} vs " + ", ".join(f"{k} {v:.2f}" for k, v in accs.items()))
    assert aa < aa_fast.summary()["clean_accuracy"]
    for acc in accs.values():
        assert aa <= acc


def test_standard_autoattack_adds_fab_and_square_stages(demo_clf, demo_subset, aa_fast):
    x, y = demo_subset
    r = get_attack("autoattack").from_values(SMALL).run(demo_clf, x, y, seed=0)
    stages = [row["stage"] for row in r.trace if "stage" in row and isinstance(row["stage"], str)]
    assert stages == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert robust_accuracy(r) <= robust_accuracy(aa_fast)
    if "square" not in all_attacks():  # skipped with a warning, never silently
        assert any("Square skipped" in row.get("warning", "") for row in r.trace)


def test_trace_records_which_stage_broke_each_sample(aa_fast):
    r = aa_fast
    rows = [row for row in r.trace if "stage_robust_accuracy" in row]
    assert [row["stage"] for row in rows] == ["apgd-ce", "apgd-t"]
    accs = [row["stage_robust_accuracy"] for row in rows]
    assert accs == sorted(accs, reverse=True)  # never increases along the sequence
    assert accs[-1] == pytest.approx(robust_accuracy(r))
    assert accs[0] <= r.summary()["clean_accuracy"]
    broken = np.array(next(row["broken_by"] for row in r.trace if "broken_by" in row))
    assert len(broken) == r.n
    assert set(broken) <= {"", "clean", "apgd-ce", "apgd-t"}
    np.testing.assert_array_equal(broken == "clean", ~r.clean_correct)
    np.testing.assert_array_equal(np.isin(broken, ["apgd-ce", "apgd-t"]), r.success & r.clean_correct)
    for row in rows:
        assert row["stage_broken"] == int((broken == row["stage"]).sum())


def test_autoattack_in_budget_and_range_l2(demo_clf, demo_subset):
    x, y = demo_subset[0][:30], demo_subset[1][:30]
    r = get_attack("autoattack").from_values(
        {**SMALL, "eps": 1.0, "norm": "l2", "version": "fast"}).run(demo_clf, x, y, seed=0)
    assert r.l2.max() <= 1.0 + 1e-4 and r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    assert r.success.any()


def test_autoattack_in_budget_range_and_unbroken_points_untouched(aa_fast, demo_subset):
    r = aa_fast
    x = demo_subset[0].numpy()
    assert r.linf.max() <= EPS + 1e-5 and r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    robust = ~r.success
    np.testing.assert_array_equal(r.x_adv[robust], x[robust])  # AutoAttack keeps the clean image


def test_autoattack_deterministic_under_seed(demo_clf, demo_subset):
    x, y = demo_subset[0][:30], demo_subset[1][:30]
    attack = get_attack("autoattack").from_values({**SMALL, "eps": 0.06, "version": "fast"})
    a, b = attack.run(demo_clf, x, y, seed=3), attack.run(demo_clf, x, y, seed=3)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    assert [row for row in a.trace if "broken_by" in row] == [row for row in b.trace if "broken_by" in row]


def test_autoattack_cancel_returns_partial_marked_cancelled(demo_clf, demo_subset):
    x, y = demo_subset
    cancel = CancelToken()
    events = []

    def on_progress(event):
        events.append(event)
        if len(events) == 2:
            cancel.cancel()

    attack = get_attack("autoattack").from_values(SMALL)
    r = attack.run(demo_clf, x, y, seed=0, progress=Progress(on_progress), cancel=cancel)
    assert r.cancelled and r.completed is not None and not r.completed.any()
    assert events[-1].step < events[-1].total
    assert r.linf.max() <= EPS + 1e-5


def test_progress_runs_once_through_all_stages(tiny_clf, tiny_batch):
    events = []
    attack = get_attack("autoattack").from_values({**SMALL, "eps": 0.3, "version": "fast"})
    attack.run(tiny_clf, tiny_batch, seed=0, progress=Progress(events.append, previews=True))
    steps = [e.step for e in events]
    assert steps == sorted(steps) and events[-1].step == events[-1].total
    assert events[-1].total == attack.total_steps() * len(tiny_batch)
    previews = [e.preview for e in events if e.preview is not None]
    assert previews  # stages preview only the points still robust: widened to the whole batch
    for preview in previews:
        assert preview["x_adv"].shape == tuple(tiny_batch.shape)
        assert preview["success"].shape == (len(tiny_batch),)


# --- the Square stage and the sanity checks --------------------------------------------------

@dataclass(frozen=True)
class _StubSquareParams:
    eps: float = param(0.1, "budget", min=0.0, max=1.0)
    norm: str = param("linf", "norm", choices=("linf", "l2"))
    n_queries: int = param(10, "queries", min=1, max=10_000)


class _StubSquare(Attack):
    """Stands in for blackbox.py's Square: random sign corners, and a deliberate budget overrun
    (3·eps) that AutoAttack must project back."""

    name = "square"
    title = "stub Square"
    params_type = _StubSquareParams
    needs_gradients = False
    seen: list[int] = []

    def total_steps(self) -> int:
        return self.params.n_queries

    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        _StubSquare.seen.append(len(x))
        best = x.clone()
        for q in range(1, self.params.n_queries + 1):
            noise = torch.rand(x.shape, generator=ctx.generator) * 2 - 1
            cand = (x + 3 * self.params.eps * noise.sign()).clamp(0, 1)
            hit = clf.logits(project_linf(cand, x, self.params.eps, 0, 1)).argmax(1) != y
            best[hit] = cand[hit]
            if ctx.step(q, success=hit, queries=float(q)):
                break
        return BatchOutput(best)


@pytest.fixture
def masked_clf(tiny_module, tiny_spec):
    """A model behind a rounding layer: zero gradients everywhere (gradient masking)."""

    class Rounded(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(torch.round(x * 4) / 4) * 5

    return TorchClassifier(Rounded(tiny_module).eval(), tiny_spec, torch.device("cpu"))


def test_square_stage_runs_on_the_still_robust_points(masked_clf, tiny_batch, monkeypatch):
    all_attacks()  # load the real families first, so the stub is what the lookup finds
    monkeypatch.setitem(ATTACKS, "square", _StubSquare)
    _StubSquare.seen = []
    x = torch.cat([tiny_batch, torch.rand(26, 1, 8, 8, generator=torch.Generator().manual_seed(5))])
    r = get_attack("autoattack").from_values(
        {"eps": 0.3, "steps": 5, "n_target_classes": 2, "n_queries": 30}).run(masked_clf, x, seed=0)
    rows = {row["stage"]: row for row in r.trace if "stage_robust_accuracy" in row}
    assert list(rows) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    robust_before_square = round(rows["fab-t"]["stage_robust_accuracy"] * r.n)
    assert _StubSquare.seen == [robust_before_square]  # only the points still robust
    assert r.linf.max() <= 0.3 + 1e-5  # the stub's 3·eps overrun was projected back
    warnings = [row["warning"] for row in r.trace if "warning" in row]
    assert any("zero gradient" in w for w in warnings)
    broken = np.array(next(row["broken_by"] for row in r.trace if "broken_by" in row))
    assert (broken == "square").sum() == rows["square"]["stage_broken"]
    assert (rows["square"]["stage_broken"] > 0) == any("Square (black-box)" in w for w in warnings)


def test_no_false_alarms_on_a_plain_model(aa_fast):
    assert not [row for row in aa_fast.trace if "warning" in row and row.get("stage") is None]


def test_probability_outputs_are_flagged(tiny_module):
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))
    soft = TorchClassifier(torch.nn.Sequential(tiny_module, torch.nn.Softmax(dim=1)).eval(), spec,
                           torch.device("cpu"))
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    r = get_attack("autoattack").from_values({"eps": 0.1, "steps": 3, "version": "fast",
                                              "n_target_classes": 2}).run(soft, x, seed=0)
    assert any("probabilities" in row.get("warning", "") for row in r.trace)


@pytest.mark.oracle
def test_autoattack_no_weaker_than_torchattacks_sequence(demo_clf, demo_subset):
    """torchattacks' AutoAttack is a MultiAttack of the same four attacks; built here with the
    same small budgets (its own class fixes 100 steps and 5000 queries: ~30 s here)."""
    torchattacks = pytest.importorskip("torchattacks")
    x, y = demo_subset
    model = demo_clf.as_module()
    apgdt = torchattacks.APGDT(model, eps=EPS, steps=10, n_classes=10, seed=0)
    apgdt.n_target_classes = 3
    oracle = torchattacks.MultiAttack([
        torchattacks.APGD(model, eps=EPS, steps=10, loss="ce", seed=0),
        apgdt,
        torchattacks.FAB(model, eps=EPS, steps=10, multi_targeted=True, n_classes=4, seed=0),
        torchattacks.Square(model, eps=EPS, n_queries=50, seed=0),
    ])
    x_o = oracle(x, y).detach()
    inside = (x_o - x).flatten(1).abs().amax(1) <= EPS + 1e-5
    theirs = float(((demo_clf.predict(x_o).cpu() == y) | ~inside).float().mean())
    ours = robust_accuracy(get_attack("autoattack").from_values(SMALL).run(demo_clf, x, y, seed=0))
    print(f"AutoAttack eps={EPS} (10 steps, 3 targets, 50 queries): ours {ours:.2f}, "
          f"torchattacks {theirs:.2f}")
    assert theirs < 0.9
    assert ours <= theirs + 0.01
