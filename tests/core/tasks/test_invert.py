"""core.tasks.invert (MIFace): the stopping rule stops (by gamma, or after `window` steps without
improvement — never silently running every step), gradients are required, classes are checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advinspect.core.errors import AdvInspectError, GradientsUnavailableError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import invert
from tests.core.privacy import fixtures

overfit_target, privacy_split = fixtures.overfit_target, fixtures.privacy_split  # shared session fixtures
one_thread = fixtures.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")


def test_reconstructions_reach_gamma_and_a_second_model_checks_them(overfit_target):
    result = invert.run(invert.Inputs(overfit_target, overfit_target), invert.Config(gamma=0.05, max_steps=3000))
    inv = result.inversion
    assert result.classes == [0, 1, 2] and inv.images.shape == (3, 1, 8, 8)
    assert inv.stopped == ["gamma"] * 3 and (inv.confidence >= 0.95).all()
    assert (inv.iterations < 3000).all()
    assert inv.images.min() >= 0.0 and inv.images.max() <= 1.0
    assert result.check_rate == 1.0  # the attacked model itself as the "second" model: the plumbing
    data = json.loads(json.dumps(result.to_dict()))
    assert data["rows"][2]["stopped"] == "gamma" and data["summary"]["check_rate"] == 1.0
    assert len(result.report_section().figures) == 1


def test_no_improvement_over_the_window_stops_it(overfit_target):
    config = invert.Config(classes=(1,), gamma=0.0, tolerance=1.0, window=7, max_steps=500)
    inv = invert.run(invert.Inputs(overfit_target), config).inversion
    assert inv.stopped == ["no improvement"] and inv.iterations[0] == 7  # step 0 set the best; 7 more without


def test_tv_prior_gives_smoother_images(overfit_target):
    plain = invert.run(invert.Inputs(overfit_target), invert.Config(classes=(0,), gamma=0.0, max_steps=150))
    smooth = invert.run(invert.Inputs(overfit_target), invert.Config(classes=(0,), gamma=0.0, max_steps=150,
                                                                     tv_weight=1.0))

    def tv(x):
        return np.abs(np.diff(x, axis=-1)).mean() + np.abs(np.diff(x, axis=-2)).mean()

    assert tv(smooth.inversion.images) < tv(plain.inversion.images)


def test_bad_input(overfit_target):
    with pytest.raises(GradientsUnavailableError, match="invert needs the model's gradients"):
        invert.run(invert.Inputs(fixtures.BlackBox(overfit_target)), invert.Config())
    with pytest.raises(AdvInspectError, match=r"no class 5: the model has classes 0..2"):
        invert.run(invert.Inputs(overfit_target), invert.Config(classes=(0, 5)))


def test_cancel_returns_the_best_so_far(overfit_target):
    token = CancelToken()
    result = invert.run(invert.Inputs(overfit_target), invert.Config(gamma=0.0, tolerance=0.0, max_steps=1000),
                        progress=Progress(lambda e: token.cancel() if e.step >= 5 else None), cancel=token)
    assert result.cancelled and set(result.inversion.stopped) == {"cancelled"}
    assert result.summary_text()[-1].startswith("cancelled")
