"""core.tasks.train_generator: a VAE decoder in the value range's unit space, partial on cancel."""

from __future__ import annotations

import json

import torch

from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import train_generator


def test_trains_on_any_value_range_and_reports(tmp_path):
    x = 255 * torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = train_generator.run(train_generator.Inputs(x, (0.0, 255.0)),
                                 train_generator.Config(latent_dim=3, epochs=2, batch_size=10))
    s = result.summary()
    assert s["epochs_run"] == 2 and s["n"] == 30 and s["latent_dim"] == 3 and not result.cancelled
    samples = result.samples(4)
    assert samples.shape == (4, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    json.dumps(result.to_dict())
    assert result.report_section().figures[0].png.startswith(b"\x89PNG")
    assert result.summary_text()[0].startswith("generator: VAE decoder, z of size 3, 2 epoch(s) on 30 images")


def test_cancel_keeps_the_partly_trained_generator():
    token = CancelToken()
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    result = train_generator.run(train_generator.Inputs(x), train_generator.Config(epochs=5, batch_size=10),
                                 progress=Progress(lambda e: token.cancel() if e.step >= 6 else None), cancel=token)
    assert result.cancelled and result.summary()["epochs_run"] == 1
    assert result.summary_text()[-1] == "cancelled: the generator is partly trained"
