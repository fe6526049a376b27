"""Square and HopSkipJump: budgets, ranges, determinism, cancel, a gradient-free ONNX model, and
oracle comparisons with torchattacks / ART on the demo digits CNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.blackbox import margin_loss, pseudo_gaussian, square_fraction
from advinspect.core.jobs import CancelToken, Progress


def _square(**values):
    return get_attack("square").from_values(values)


def _hsj(**values):
    return get_attack("hopskipjump").from_values(values)


def test_black_box_attacks_need_no_gradients():
    for name in ("square", "hopskipjump", "onepixel"):
        assert not get_attack(name).needs_gradients


def test_margin_loss_sign_means_success():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    y = torch.tensor([0, 0])
    assert margin_loss(logits, y, None).tolist() == [2.0, -2.0]
    assert margin_loss(logits, y, torch.tensor([1, 1])).tolist() == [2.0, -1.0]


def test_schedule_and_bump():
    assert square_fraction(0.8, 0, 1000) == 0.8
    assert square_fraction(0.8, 999, 1000) == pytest.approx(0.8 / 2**9)
    bump = pseudo_gaussian(5, 5, torch.device("cpu"))
    assert bump[2, 2] == bump.max() and bump[0, 0] == bump.min() > 0


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
def test_square_properties(tiny_clf, tiny_batch, norm, eps):
    attack = _square(eps=eps, n_queries=60, norm=norm)
    result = attack.run(tiny_clf, tiny_batch, seed=1)
    again = attack.run(tiny_clf, tiny_batch, seed=1)
    assert np.array_equal(result.x_adv, again.x_adv)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    bound = result.linf if norm == "linf" else result.l2
    assert (bound <= eps + 1e-5).all()
    assert (result.queries >= 1).all() and (result.queries <= 60).all()
    # Samples that succeeded stopped querying; the others used the whole budget.
    assert (result.queries[~result.success] == 60).all()
    assert result.success.any()
    assert (result.queries[result.success] < 60).all()


def test_square_targeted(tiny_clf, tiny_batch):
    target = (tiny_clf.predict(tiny_batch) + 1) % 3
    result = _square(eps=0.5, n_queries=200).run(tiny_clf, tiny_batch, target=target, seed=0)
    assert result.success.any()
    assert np.array_equal(result.success, result.adv_pred == target.numpy())


@pytest.mark.parametrize("name", ["square", "hopskipjump"])
def test_cancel_returns_partial_result_marked_cancelled(tiny_clf, tiny_batch, name):
    token = CancelToken()

    def on_progress(event):
        token.cancel()

    values = {"eps": 0.01, "n_queries": 500} if name == "square" else {"max_queries": 5000}
    result = get_attack(name).from_values(values).run(
        tiny_clf, tiny_batch, progress=Progress(on_progress), cancel=token, seed=0)
    assert result.cancelled
    assert (result.iterations <= 1).all()


def test_hopskipjump_properties(tiny_clf, tiny_batch):
    attack = _hsj(max_queries=400, init_evals=20, max_evals=50)
    result = attack.run(tiny_clf, tiny_batch, seed=2)
    again = attack.run(tiny_clf, tiny_batch, seed=2)
    assert np.array_equal(result.x_adv, again.x_adv)
    assert (result.queries <= 400).all()
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    # Decision-based: every point it returns is on the adversarial side of the boundary.
    assert result.success.all()
    # More queries shrink the distance (the point of the walk along the boundary).
    longer = _hsj(max_queries=2000, init_evals=20, max_evals=50).run(tiny_clf, tiny_batch, seed=2)
    assert longer.success.all()
    assert np.median(longer.l2) < np.median(result.l2)


def test_hopskipjump_linf_and_misclassified_input(tiny_clf, tiny_batch):
    pred = tiny_clf.predict(tiny_batch)
    y = pred.clone()
    y[0] = (pred[0] + 1) % 3  # already misclassified: nothing to do, distance 0
    result = _hsj(max_queries=300, norm="linf", init_evals=20).run(tiny_clf, tiny_batch, y, seed=0)
    assert result.success.all()
    assert result.linf[0] == 0 and result.queries[0] == 1
    assert (result.linf[1:] > 0).all() and (result.queries <= 300).all()


def test_square_runs_on_onnx_without_gradients():
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.data.demo import DEMO_ONNX, DEMO_SAMPLES
    from advinspect.core.models import load_model

    clf = load_model(DEMO_ONNX, device="cpu")
    clf.torch_module = None  # force the gradient-free path: onnxruntime only
    assert not clf.has_gradients
    with pytest.raises(Exception, match="gradients"):
        get_attack("pgd")().run(clf, torch.rand(1, 1, 32, 32))
    batch = load_images(collect_images([DEMO_SAMPLES], clf.spec), clf.spec)
    x, y = batch.x[::90], batch.labels[::90]
    result = _square(eps=0.2, n_queries=200).run(clf, x, y, seed=0)
    assert result.success[result.clean_correct].any()
    assert (result.linf <= 0.2 + 1e-5).all() and (result.queries <= 200).all()


class _Counting(torch.nn.Module):
    """Wraps our Classifier for the oracles (pixel-space input, normalization inside)."""

    def __init__(self, clf) -> None:
        super().__init__()
        self.clf = clf
        self.count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count += len(x)
        return self.clf.logits(x)


@pytest.mark.oracle
@pytest.mark.parametrize("norm,eps,p_init", [("linf", 0.1, 0.8), ("l2", 2.5, 0.3)])
def test_square_success_matches_torchattacks(demo_clf, demo_subset, norm, eps, p_init):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = demo_subset[0][:50], demo_subset[1][:50]
    correct = demo_clf.predict(x) == y
    theirs = torchattacks.Square(_Counting(demo_clf).eval(), norm="Linf" if norm == "linf" else "L2",
                                 eps=eps, n_queries=300, p_init=p_init, seed=0)(x, y)
    their_rate = (demo_clf.predict(theirs) != y)[correct].float().mean().item()
    result = _square(eps=eps, n_queries=300, p_init=p_init, norm=norm).run(demo_clf, x, y, seed=0)
    ours = result.summary()["success_rate"]
    print(f"Square {norm} eps={eps} 300 queries: ours {ours:.3f} "
          f"(mean {result.queries.mean():.0f} queries), torchattacks {their_rate:.3f}")
    assert 0.05 < their_rate < 0.95  # a budget where the rate says something
    assert abs(ours - their_rate) <= 0.05


@pytest.mark.oracle
def test_hopskipjump_l2_comparable_to_art(demo_clf, demo_subset):
    pytest.importorskip("art")
    from art.attacks.evasion import HopSkipJump as ArtHopSkipJump
    from art.estimators.classification import PyTorchClassifier

    x, y = demo_subset[0][::10][:8], demo_subset[1][::10][:8]
    model = _Counting(demo_clf).eval()
    estimator = PyTorchClassifier(model, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 32, 32),
                                  nb_classes=10, clip_values=(0.0, 1.0))
    np.random.seed(0)
    theirs = torch.from_numpy(ArtHopSkipJump(estimator, max_iter=5, max_eval=1000, init_eval=100,
                                             verbose=False).generate(x.numpy()))
    budget = model.count // len(x)  # their queries per image, predictions included
    their_hit = demo_clf.predict(theirs) != y
    their_l2 = float((theirs - x).flatten(1).norm(dim=1)[their_hit].median())
    result = _hsj(max_queries=budget).run(demo_clf, x, y, seed=0)
    ours = result.summary()["median_l2"]
    print(f"HopSkipJump L2 at {budget} queries/image: ours median {ours:.3f} "
          f"(success {result.success.mean():.2f}), ART median {their_l2:.3f} "
          f"(success {their_hit.float().mean():.2f})")
    assert result.success.all() and (result.queries <= budget).all()
    assert ours <= 1.2 * their_l2
