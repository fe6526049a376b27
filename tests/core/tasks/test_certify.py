"""core.tasks.certify: one summary (median and mean radius of the certified), partial on cancel."""

from __future__ import annotations

import numpy as np

from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import certify


def test_summary_is_over_correct_certified_images(tiny_clf, tiny_images):
    result = certify.run(certify.Inputs(tiny_clf, tiny_images), certify.Config(sigma=0.1, n0=10, n=100))
    c = result.certification
    radii = np.asarray(c.radii)[np.asarray(c.correct) & (np.asarray(c.radii) > 0)]
    s = result.summary()
    assert s["n_certified"] == len(radii)
    if len(radii):
        assert s["median_radius"] == float(np.median(radii)) and s["mean_radius"] == float(radii.mean())
        assert f"median radius of those {s['median_radius']:.4f}" in result.summary_text()[0]
    else:
        assert s["median_radius"] is None


def test_cancel_keeps_finished_certificates(tiny_clf, tiny_images):
    token = CancelToken()
    result = certify.run(certify.Inputs(tiny_clf, tiny_images), certify.Config(n0=5, n=20),
                         progress=Progress(lambda e: token.cancel() if e.step >= 2 else None), cancel=token)
    assert result.cancelled and len(result.certification.radii) == 2
    assert result.to_dict()["files"] == tiny_images.names[:2]
