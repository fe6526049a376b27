"""core.tasks.train: a quick standard run on tiny data, cancel keeps the best checkpoint."""

from __future__ import annotations

import torch

from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import train
from tests.conftest import TinyCNN


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 8, 8, generator=g)
    y = (x.mean((1, 2, 3)) > 0.5).long()
    return x, y


def test_trains_and_summarises(tiny_spec):
    x, y = _data()
    result = train.run(train.Inputs(TinyCNN(classes=3), tiny_spec, x, y),
                       train.Config(epochs=2, batch_size=8, val_fraction=0.25, device="cpu"))
    assert len([h for h in result.training.history if h["phase"] == "train"]) == 2
    assert result.summary()["epochs_run"] == 2 and not result.cancelled
    assert result.summary_text()[0].startswith("train epoch   1: loss")


def test_cancel_returns_the_best_so_far(tiny_spec):
    x, y = _data()
    token = CancelToken()
    result = train.run(train.Inputs(TinyCNN(classes=3), tiny_spec, x, y, limit=32),
                       train.Config(epochs=50, batch_size=8, val_fraction=0.25, device="cpu"),
                       progress=Progress(lambda e: token.cancel() if e.step >= 5 else None), cancel=token)
    assert result.cancelled and result.training.n_train + result.training.n_val == 32
    assert len(result.training.history) < 50 and result.summary_text()[-1].startswith("cancelled")
