"""core.tasks.predict: rows, accuracy over labelled images, partial result on cancel."""

from __future__ import annotations

import numpy as np

from advinspect.core.jobs import CancelToken
from advinspect.core.tasks import predict
from advinspect.core.tasks.base import Images


def test_rows_topk_and_accuracy(tiny_clf, tiny_images):
    result = predict.run(predict.Inputs(tiny_clf, tiny_images), predict.Config(top_k=2))
    probs = tiny_clf.probabilities(tiny_images.tensor()).numpy()
    np.testing.assert_allclose(result.probs, probs, rtol=1e-5)
    assert [r["pred"] for r in result.rows] == probs.argmax(1).tolist()
    assert all(len(r["top_k"]) == 2 and r["top_k"][0]["probability"] >= r["top_k"][1]["probability"]
               for r in result.rows)
    assert result.summary()["accuracy"] == 4 / 6  # the first two labels are wrong on purpose
    assert result.summary_text() == ["accuracy: 0.6667 on 6 labelled images"]


def test_unlabelled_images_have_no_accuracy(tiny_clf, tiny_batch):
    images = Images(tiny_batch.numpy(), -np.ones(6))
    result = predict.run(predict.Inputs(tiny_clf, images), predict.Config())
    assert "accuracy" not in result.summary() and result.rows[0]["label"] is None


def test_cancel_keeps_the_predicted_rows(tiny_clf, tiny_images):
    token = CancelToken()

    def progress(event):
        token.cancel()

    from advinspect.core.jobs import Progress

    result = predict.run(predict.Inputs(tiny_clf, tiny_images), predict.Config(batch_size=2),
                         progress=Progress(progress), cancel=token)
    assert result.cancelled and len(result.rows) == 2 and result.summary()["n"] == 2
