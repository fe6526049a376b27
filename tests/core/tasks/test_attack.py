"""core.tasks.attack: statuses, probabilities carried, partial results on cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken
from advinspect.core.status import FLIPPED, HELD, MISCLASSIFIED, NOT_ATTACKED
from advinspect.core.tasks import attack
from advinspect.core.tasks.base import make_config
from tests.core.tasks.conftest import misclassified_mask


def test_statuses_name_images_wrong_before_the_attack(tiny_clf, tiny_images):
    config = make_config(attack.Config, {"attack": "pgd", "params": {"eps": "0.5", "steps": "10"}})
    result = attack.run(attack.Inputs(tiny_clf, tiny_images), config)
    wrong = misclassified_mask(tiny_images, tiny_clf)
    assert wrong[:2].all()
    for i, status in enumerate(result.statuses):
        if wrong[i]:
            assert status == MISCLASSIFIED
        else:
            assert status == (FLIPPED if result.attack.success[i] else HELD)
    s = result.summary()
    assert s["misclassified"] == int(wrong.sum()) and s["flipped"] == sum(st == FLIPPED for st in result.statuses)
    assert "misclassified before the attack" in result.summary_text()[0]


def test_result_carries_probabilities_of_both_images(tiny_clf, tiny_images):
    config = make_config(attack.Config, {"attack": "fgsm", "params": {"eps": "0.3"}})
    result = attack.run(attack.Inputs(tiny_clf, tiny_images), config)
    assert result.clean_probs.shape == result.adv_probs.shape == (6, 3)
    np.testing.assert_array_equal(result.adv_probs.argmax(1), result.attack.adv_pred)
    np.testing.assert_allclose(result.adv_probs.max(1), result.attack.adv_confidence, rtol=1e-5)
    np.testing.assert_array_equal(result.clean_probs.argmax(1), result.attack.clean_pred)


def test_cancel_returns_the_attacked_samples_marked(tiny_clf, tiny_images):
    token = CancelToken()
    calls = []

    def progress(event):
        calls.append(event.step)
        if event.step >= event.total // 3:
            token.cancel()

    from advinspect.core.jobs import Progress

    config = make_config(attack.Config, {"attack": "pgd", "batch_size": 2, "params": {"eps": "0.01", "steps": "5"}})
    result = attack.run(attack.Inputs(tiny_clf, tiny_images), config, progress=Progress(progress), cancel=token)
    assert result.cancelled
    done = result.attack.completed
    assert 0 < done.sum() < 6
    assert [s == NOT_ATTACKED for s in result.statuses] == list(~done)
    written = attack.completed_only(result)
    assert written.attack.n == done.sum() and NOT_ATTACKED not in written.statuses
    assert written.images.names == [n for n, d in zip(tiny_images.names, done, strict=True) if d]
    assert written.clean_probs.shape == (done.sum(), 3)


def test_targets_and_bad_configs(tiny_clf, tiny_images):
    config = make_config(attack.Config, {"attack": "bim", "target": "c", "params": {"eps": "1", "steps": "30"}})
    result = attack.run(attack.Inputs(tiny_clf, tiny_images), config)
    assert (result.attack.target == 2).all()
    with pytest.raises(AdvInspectError, match="unknown attack"):
        attack.run(attack.Inputs(tiny_clf, tiny_images), make_config(attack.Config, {"attack": "nope"}))
    with pytest.raises(AdvInspectError, match="eps"):
        make_config(attack.Config, {"attack": "pgd", "params": {"eps": "-1"}}) and attack.build_attack(
            make_config(attack.Config, {"attack": "pgd", "params": {"eps": "-1"}}))


def test_l0_runs_report_their_median_l0(tiny_clf, tiny_images):
    config = make_config(attack.Config, {"attack": "fmn", "params": {"norm": "l0", "steps": "30"}})
    result = attack.run(attack.Inputs(tiny_clf, tiny_images), config)
    s = result.summary()
    flipped = result.attack.success & (result.attack.clean_pred == result.attack.labels)
    expected = float(np.median(result.attack.l0[flipped])) if flipped.any() else None
    assert s["median_l0"] == expected
    assert expected is not None and f"median L0 {expected:.0f}" in result.summary_text()[0]


def test_l1_runs_record_per_sample_l1_and_its_median(tiny_clf, tiny_images):
    config = make_config(attack.Config, {"attack": "fmn", "params": {"norm": "l1", "steps": "30"}})
    result = attack.run(attack.Inputs(tiny_clf, tiny_images), config)
    a = result.attack
    delta = (np.asarray(a.x_adv) - np.asarray(tiny_images.x)).reshape(len(a.l1), -1)
    np.testing.assert_allclose(a.l1, np.abs(delta).sum(1), rtol=1e-5, atol=1e-6)
    flipped = a.success & (a.clean_pred == a.labels)
    assert flipped.any()
    assert result.summary()["median_l1"] == float(np.median(a.l1[flipped]))
    assert f"median L1 {float(np.median(a.l1[flipped])):.4f}" in result.summary_text()[0]
    assert len(a.to_dict()["samples"]["l1"]) == len(a.l1)


def test_streamed_attack_rows_do_not_depend_on_the_batch_size(tiny_clf):
    """PGD's random start comes from (seed, global index): batches of 3 and of 64 give the same
    per-sample outcome; the result keeps numbers, and each batch's adversarials reach on_batch."""
    from advinspect.core.data.stream import ArrayStream

    x = torch.rand(11, 1, 8, 8, generator=torch.Generator().manual_seed(2)).numpy()
    labels = tiny_clf.predict(torch.as_tensor(x)).numpy()
    config = make_config(attack.Config, {"attack": "pgd", "seed": "5", "params": {"eps": "0.1", "steps": "3"}})
    runs, seen = [], []
    for size in (3, 64):
        stream = ArrayStream(x, labels, [f"{i}.png" for i in range(11)], np.arange(11), batch_size=size)
        runs.append(attack.run_stream(tiny_clf, stream, config,
                                      on_batch=lambda b, r: seen.append((len(b), r.x_adv.shape[0]))))
    small, big = runs
    for name in ("adv_pred", "success", "linf", "l2", "clean_pred"):
        assert np.array_equal(getattr(small.attack, name), getattr(big.attack, name)), name
    assert small.statuses == big.statuses and small.index.tolist() == list(range(11))
    assert small.attack.x_adv.shape[0] == 0 and seen[:4] == [(3, 3), (3, 3), (3, 3), (2, 2)]
    assert {k: v for k, v in small.summary().items() if k != "seconds"} == \
        {k: v for k, v in big.summary().items() if k != "seconds"}
