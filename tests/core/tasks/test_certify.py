"""core.tasks.certify: one summary (median and mean radius of the certified), partial on cancel,
and the streamed run giving the in-memory rows batch by batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.data.stream import ArrayStream
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.tasks import certify
from advinspect.core.tasks.base import Images
from tests.streaming import count_alive


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


# --- streaming: the same rows batch by batch, one batch of images alive at a time -------------

CONFIG = certify.Config(sigma=0.25, n0=8, n=32, batch_size=16, seed=3)


@pytest.fixture
def set30(tiny_clf):
    x = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    labels = tiny_clf.predict(x).numpy()
    labels[::4] = (labels[::4] + 1) % 3  # some wrong
    return Images(x.numpy(), labels, [f"img{i:02d}.png" for i in range(30)])


@pytest.mark.parametrize("batch_size", [7, 64])
def test_streamed_rows_equal_the_in_memory_rows(tiny_clf, set30, batch_size):
    whole = certify.run(certify.Inputs(tiny_clf, set30), CONFIG)
    streamed = certify.run_stream(tiny_clf, ArrayStream.of(set30, batch_size), CONFIG)
    assert streamed.rows == whole.rows and len(whole.rows) == 30
    assert streamed.certification == whole.certification and streamed.summary() == whole.summary()
    assert [r["index"] for r in whole.rows] == list(range(30))
    assert whole.to_dict()["samples"] == whole.rows and whole.to_dict()["radii"] == [r["radius"] for r in whole.rows]


def test_a_window_certifies_each_image_as_the_whole_set_does(tiny_clf, set30):
    """Noise from (seed, global index): images 10..19 alone get the rows they get in the set."""
    whole = certify.run(certify.Inputs(tiny_clf, set30), CONFIG)
    part = certify.run_stream(tiny_clf, ArrayStream.of(set30, 4).window(10, 20), CONFIG)
    assert part.rows == whole.rows[10:20]
    other_seed = certify.run_stream(tiny_clf, ArrayStream.of(set30, 4).window(10, 20),
                                    certify.Config(**{**CONFIG.__dict__, "seed": 4}))
    assert [r["radius"] for r in other_seed.rows] != [r["radius"] for r in part.rows]


def test_the_stream_is_never_held_whole(tiny_clf, set30, monkeypatch):
    counter = count_alive(monkeypatch, ArrayStream)
    result = certify.run_stream(tiny_clf, ArrayStream.of(set30, 5), CONFIG, on_rows=lambda rows: None)
    assert len(result.rows) == 30 and counter.batches == 6
    assert counter.peak <= 10  # at most two batches of 5 alive at once, never the 30


def test_rows_are_handed_out_batch_by_batch_and_the_report_has_the_curve(tiny_clf, set30):
    seen: list[int] = []
    result = certify.run_stream(tiny_clf, ArrayStream.of(set30, 8), CONFIG, on_rows=lambda rows: seen.append(len(rows)))
    assert seen == [8, 8, 8, 6]
    section = result.report_section()
    assert section.lines == result.summary_text() and len(section.figures) == 1
    assert section.figures[0].png.startswith(b"\x89PNG")
    assert [row[1] for row in section.tables[0].rows] == [round(a, 6) for a in
                                                          result.certification.curve_certified_accuracy]


def test_unlabelled_images_are_refused(tiny_clf, set30):
    stream = ArrayStream(set30.x, -np.ones(30, np.int64), set30.names, set30.index)
    with pytest.raises(AdvInspectError, match="needs labels"):
        certify.run_stream(tiny_clf, stream, CONFIG)
