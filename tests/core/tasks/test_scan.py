"""core.tasks.scan: Neural Cleanse's anomaly index (MAD arithmetic, the backdoor's target has the
smallest reversed mask), STRIP's threshold at a false-rejection rate and its flags."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.backdoor.neural_cleanse import anomaly_index, flagged_classes
from advinspect.core.backdoor.strip import threshold_at_frr
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import scan
from advinspect.core.tasks.base import Images
from tests.backdoor_data import badnets_run, bars


def test_anomaly_index_is_the_deviation_over_scaled_mad():
    l1 = np.array([10.0, 11.0, 9.0, 10.5, 2.0])
    index = anomaly_index(l1)
    mad = 1.4826 * np.median(np.abs(l1 - 10.0))
    assert index[4] == pytest.approx(8.0 / mad) and flagged_classes(l1) == [4]
    assert flagged_classes(np.array([10.0, 11.0, 10.2, 10.5, 30.0])) == []  # large masks are not backdoors
    assert anomaly_index(np.ones(4)).tolist() == [0.0] * 4


def test_threshold_rejects_the_chosen_share_of_clean_inputs():
    entropy = np.linspace(0.0, 1.0, 101)
    t = threshold_at_frr(entropy, 0.05)
    assert (entropy < t).mean() == pytest.approx(0.05, abs=0.011)


def _clean_images(n: int = 10) -> Images:
    x, y = bars(n, 3)
    return Images(x, y)


def test_neural_cleanse_finds_the_smallest_trigger_for_the_target():
    r = badnets_run()
    result = scan.run(scan.Inputs(r.training.classifier("cpu"), _clean_images()),
                      scan.Config(steps=30, lr=0.2, max_images=12))
    assert int(np.argmin(result.l1)) == r.config.target
    assert result.masks.shape == (3, 8, 8) and result.trigger_images().shape == (3, 1, 8, 8)
    rows = result.rows()
    assert [row["class"] for row in rows] == [0, 1, 2] and rows[0]["mask_l1"] == pytest.approx(result.l1[0])
    assert result.report_section().tables[0].columns[:3] == ["class", "mask L1", "anomaly index"]


def test_strip_gives_triggered_inputs_lower_entropy():
    r = badnets_run()
    clf = r.training.classifier("cpu")
    clean = _clean_images(20)
    x, y = bars(10, 4)
    keep = y != r.config.target
    triggered = Images(r.trigger.apply(x[keep]), y[keep])
    result = scan.run(scan.Inputs(clf, clean, triggered), scan.Config(method="strip", overlays=8, frr=0.1))
    assert (result.clean_entropy < result.entropy_threshold).mean() <= 0.12
    assert np.median(result.check_entropy) < np.median(result.clean_entropy)
    assert result.summary()["n_checked"] == 20 and len(result.rows()) == 20


def test_scan_cancel_keeps_finished_classes():
    r = badnets_run()
    token = CancelToken()
    result = scan.run(scan.Inputs(r.training.classifier("cpu"), _clean_images()), scan.Config(steps=5),
                      progress=Progress(lambda e: token.cancel() if e.step >= 1 else None), cancel=token)
    assert result.cancelled and len(result.l1) == 1 and result.summary_text()[-1].startswith("cancelled")


def test_scan_needs_two_images():
    with pytest.raises(AdvInspectError, match="at least two"):
        scan.run(scan.Inputs(badnets_run().training.classifier("cpu"), Images(bars(1, 0)[0][:1], [0])),
                 scan.Config())


def test_strip_runs_on_an_onnx_model_and_results_are_json():
    import json

    from advinspect.core.data.demo import DEMO_ONNX
    from advinspect.core.models import load_model

    clf = load_model(DEMO_ONNX, device="cpu")
    x, y = bars(4, 0)
    import torch

    images = Images(torch.nn.functional.interpolate(x, size=32), y)
    result = scan.run(scan.Inputs(clf, images, images), scan.Config(method="strip", overlays=4))
    assert np.isfinite(result.clean_entropy).all() and result.check_flags.shape == (12,)
    assert json.loads(json.dumps(result.to_dict()))["summary"]["n_checked"] == 12
    assert clf.format == "onnx"  # STRIP reads only probabilities: no gradients, no layers needed
