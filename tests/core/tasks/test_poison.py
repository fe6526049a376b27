"""core.tasks.poison: BadNets on tiny data backdoors the model (ASR high, C-Acc kept), bad input
fails before any training, a cancel keeps the poisoned set, the report section carries it all."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import poison
from tests.backdoor_data import ARCH, BarNet, badnets_run, bars


def test_badnets_backdoors_the_model_and_clean_training_does_not():
    r = badnets_run()
    assert r.metrics.asr >= 0.9 and r.baseline.asr <= 0.1
    assert r.metrics.c_acc >= r.baseline.c_acc - 0.05
    assert r.metrics.ra <= 0.1 < r.baseline.ra
    s = r.summary()
    assert s["n_poisoned"] == 18 and s["c_acc_drop"] == pytest.approx(r.baseline.c_acc - r.metrics.c_acc)
    import json

    d = json.loads(json.dumps(r.to_dict()))
    assert len(d["poisoned_indices"]) == 18 and d["trigger"]["shape"] == [1, 2, 2]
    section = r.report_section()
    assert section.tables[0].columns == ["model", "ratio", "C-Acc", "ASR", "RA"]
    assert section.figures and section.figures[-1].caption == "original | poisoned"
    assert r.summary_text()[1].startswith("trained on the poisoned set: C-Acc")


@pytest.mark.parametrize("config, message", [
    (poison.Config(ratio=1.0), r"ratio must lie in \(0, 1\)"),
    (poison.Config(target=5), "target class 5 does not exist"),
    (poison.Config(trigger_size=8), "does not fit 8x8"),
    (poison.Config(sweep=(0.5, 0.95)), "eligible"),
])
def test_bad_input_fails_before_training(config, message):
    x, y = bars(5, 0)
    calls = []
    with pytest.raises(AdvInspectError, match=message):
        poison.run(poison.Inputs(x, y, spec=BarNet.default_spec(), arch=ARCH), config,
                   progress=Progress(calls.append))
    assert calls == []


def test_without_training_only_the_set_is_poisoned():
    x, y = bars(5, 0)
    r = poison.run(poison.Inputs(x, y, spec=BarNet.default_spec()),
                   poison.Config(attack="blend", ratio=0.4, alpha=0.3, train=False, preview=2))
    assert r.metrics is None and r.poisoned.n_poisoned == 6
    assert r.preview_original.shape == (2, 1, 8, 8) and not np.allclose(r.preview_original, r.preview_poisoned)
    assert r.summary_text() == ["blend: 6/15 training images poisoned (ratio 0.4), target class 0"]


def test_cancel_keeps_the_poisoned_set():
    x, y = bars(10, 0)
    token = CancelToken()
    r = poison.run(poison.Inputs(x, y, spec=BarNet.default_spec(), arch=ARCH),
                   poison.Config(epochs=50, batch_size=4, baseline=False),
                   progress=Progress(lambda e: token.cancel() if e.step >= 3 else None), cancel=token)
    assert r.cancelled and r.poisoned.n_poisoned == 3
    assert r.summary_text()[-1].startswith("cancelled")


def test_clean_label_perturbs_on_the_proxy_within_eps_and_keeps_labels():
    x, y = bars(10, 0)
    config = poison.Config(attack="clean-label", ratio=0.2, target=1, trigger_size=2, eps=0.1, pgd_steps=3,
                           epochs=2, batch_size=8, baseline=False)
    r = poison.run(poison.Inputs(x, y, *bars(4, 1), BarNet.default_spec(), ARCH), config)
    chosen = np.flatnonzero(r.poisoned.poisoned)
    assert len(chosen) == 6 and (y[chosen] == 1).all() and (r.poisoned.labels == y).all()
    outside = r.trigger.mask((1, 8, 8)) == 0
    delta = (r.poisoned.x[chosen] - x[chosen]).numpy()[:, 0][:, outside]
    assert 0 < np.abs(delta).max() <= 0.1 + 1e-6
    assert r.baseline is not None and r.metrics is not None  # the proxy is the clean model
