"""One-pixel attack: properties on the tiny CNN, a model one pixel can flip, and the demo digits
CNN checked against an exhaustive search and against torchattacks.OnePixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.pixel import distinct_partners
from advinspect.core.attacks.seeding import SampleRandom
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier


def _onepixel(**values):
    return get_attack("onepixel").from_values(values)


def test_partners_are_distinct_from_each_other_and_from_self():
    partners = distinct_partners(50, 5, SampleRandom(0, range(50)), torch.device("cpu"))
    own = torch.arange(5).view(1, 5, 1)
    assert (partners != own).all()
    r1, r2, r3 = partners.unbind(2)
    assert ((r1 != r2) & (r1 != r3) & (r2 != r3)).all()
    assert partners.min() >= 0 and partners.max() < 5


def test_properties_on_tiny_cnn(tiny_clf, tiny_batch):
    attack = _onepixel(pixels=2, popsize=12, max_iter=8)
    result = attack.run(tiny_clf, tiny_batch, seed=3)
    again = attack.run(tiny_clf, tiny_batch, seed=3)
    assert np.array_equal(result.x_adv, again.x_adv)  # deterministic under a seed
    assert np.array_equal(result.queries, again.queries)
    lo, hi = tiny_clf.spec.value_range
    assert result.x_adv.min() >= lo and result.x_adv.max() <= hi
    assert (result.l0 <= 2).all()  # at most k pixels change
    assert (result.queries <= 12 * (8 + 1)).all() and (result.queries % 12 == 0).all()
    assert (result.queries >= 12).all()
    # A sample that succeeded before the last generation stopped early.
    stopped = result.iterations < 8
    assert (result.queries[stopped] < 12 * 9).all()


def test_cancel_returns_partial_result_marked_cancelled(tiny_clf, tiny_batch):
    token = CancelToken()
    events = []

    def on_progress(event):
        events.append(event)
        token.cancel()

    result = _onepixel(pixels=1, popsize=8, max_iter=50).run(
        tiny_clf, tiny_batch, progress=Progress(on_progress), cancel=token, seed=0)
    assert result.cancelled
    assert len(events) >= 1
    assert (result.iterations <= 1).all()
    assert (result.queries <= 16).all()


class _OnePixelSwitch(torch.nn.Module):
    """Class 1 wins only when the pixel at CENTER is bright; the logit is a Gaussian-weighted
    sum of pixels around it, so nearby pixels give DE a slope but only the centre flips."""

    CENTER = (21, 9)

    def __init__(self) -> None:
        super().__init__()
        rows = torch.arange(32.0).view(-1, 1)
        cols = torch.arange(32.0).view(1, -1)
        d2 = (rows - self.CENTER[0]) ** 2 + (cols - self.CENTER[1]) ** 2
        self.register_buffer("weight", torch.exp(-d2 / (2 * 3.0**2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x[:, 0] * self.weight).flatten(1).sum(1)
        return torch.stack([torch.full_like(score, 0.97), score], dim=1) * 20


def test_finds_the_one_pixel_that_flips_a_hand_built_model():
    spec = ModelSpec(input_shape=(1, 32, 32), labels=("off", "on"))
    clf = TorchClassifier(_OnePixelSwitch().eval(), spec, torch.device("cpu"))
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 1e-4
    x[0] = 0
    assert (clf.predict(x) == 0).all()
    # Only the centre pixel at a value near 1 flips it: its neighbours weigh exp(-1/18) < 0.97.
    result = _onepixel(pixels=1, popsize=100, max_iter=100).run(clf, x, torch.zeros(4, dtype=torch.long),
                                                               seed=0)
    assert result.success.all()
    for image, clean in zip(result.x_adv, x.numpy(), strict=True):
        changed = np.argwhere(np.abs(image - clean) > 1e-6)
        assert [tuple(c[1:]) for c in changed] == [_OnePixelSwitch.CENTER]


def _exhaustive_one_pixel(clf, x: torch.Tensor, y: torch.Tensor) -> list[bool]:
    """For each image: does any single pixel set to lo or hi change the prediction?"""
    lo, hi = clf.spec.value_range
    _, c, h, w = x.shape
    flips = []
    for image, label in zip(x, y, strict=True):
        variants = []
        for value in (lo, hi):
            batch = image.expand(h * w, c, h, w).clone()
            batch[torch.arange(h * w), :, torch.arange(h * w) // w, torch.arange(h * w) % w] = value
            variants.append(batch)
        flips.append(bool((clf.predict(torch.cat(variants), batch_size=1024) != label).any()))
    return flips


@pytest.fixture(scope="module")
def least_confident(demo_clf, demo_batch):
    """The 12 correctly classified demo images the model is least sure of: where few pixels can
    matter at all (on confident digits even greedy search needs 14+ pixels)."""
    x, y = demo_batch.x, demo_batch.labels
    logp = demo_clf.logits_batched(x).log_softmax(1)
    correct = logp.argmax(1) == y
    order = torch.argsort(logp.gather(1, y.view(-1, 1)).squeeze(1))
    order = order[correct[order]][:12]
    return x[order], y[order]


@pytest.mark.slow  # a subprocess or an exhaustive search: runs in `make test`, not test-quick
def test_one_pixel_agrees_with_exhaustive_search_on_demo(demo_clf, least_confident):
    x, y = least_confident[0][:8], least_confident[1][:8]
    flippable = np.array(_exhaustive_one_pixel(demo_clf, x, y))
    # Both kinds must be present, or the comparison below proves nothing.
    assert flippable.any() and not flippable.all()
    result = _onepixel(pixels=1, popsize=100, max_iter=30).run(demo_clf, x, y, seed=0)
    # Where no pixel at lo/hi flips the image, DE (also trying values in between) finds nothing
    # either; where one does, DE finds a flip.
    assert np.array_equal(result.success, flippable)


@pytest.mark.oracle
def test_k_pixels_match_torchattacks_onepixel(demo_clf, least_confident):
    torchattacks = pytest.importorskip("torchattacks")

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.count += len(x)
            return demo_clf.logits(x)

    x, y = least_confident
    model = Wrapped().eval()
    np.random.seed(0)  # scipy's differential evolution draws from numpy's global state
    theirs = torchattacks.OnePixel(model, pixels=3, steps=20, popsize=45)(x, y)
    their_success = (demo_clf.predict(theirs) != y).float().mean().item()
    their_queries = model.count / len(x)
    result = _onepixel(pixels=3, popsize=45, max_iter=20).run(demo_clf, x, y, seed=0)
    ours = float(result.success.mean())
    print(f"3-pixel success: ours {ours:.3f} ({result.queries.mean():.0f} queries/image), "
          f"torchattacks {their_success:.3f} ({their_queries:.0f} queries/image)")
    assert their_success > 0  # the comparison needs images a 3-pixel change can flip
    assert ours >= their_success - 0.1
    assert result.queries.mean() <= their_queries * 1.25
