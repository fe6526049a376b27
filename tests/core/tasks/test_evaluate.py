"""core.tasks.evaluate: what the plots link back to is in the result, consistent with the numbers."""

from __future__ import annotations

import numpy as np
import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import evaluate
from advinspect.core.tasks.base import Images, make_config


def test_result_links_samples_to_bins_and_split(tiny_clf, tiny_images):
    config = make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0,0.1,0.3", "bins": "5",
                                           "sanity_checks": False})
    result = evaluate.run(evaluate.Inputs(tiny_clf, tiny_images), config)
    data = result.data
    counts = np.bincount(result.calibration_bin, minlength=5)
    assert counts.tolist() == [b["count"] for b in data["calibration"]["bins"]]
    assert len(result.held_out) == data["calibration"]["split"]["held_out"]
    t = data["calibration"]["temperature"]
    logits = tiny_clf.logits(tiny_images.tensor()).double().detach()
    np.testing.assert_allclose(result.scaled_confidence, (logits / t).softmax(1).max(1).values.numpy(), rtol=1e-6)
    assert result.summary()["curves"]["fgsm"][0.0] == pytest.approx(data["clean_accuracy"])
    assert result.summary_text()[0].startswith("clean accuracy 0.6667 on 6 images")


def test_needs_labels_and_known_attacks(tiny_clf, tiny_batch, tiny_images):
    with pytest.raises(AdvInspectError, match="needs labels"):
        evaluate.run(evaluate.Inputs(tiny_clf, Images(tiny_batch.numpy(), -np.ones(6))), evaluate.Config())
    with pytest.raises(AdvInspectError, match="unknown attack"):
        evaluate.run(evaluate.Inputs(tiny_clf, tiny_images), make_config(evaluate.Config, {"attacks": "pgd,nope"}))


# --- the plots' arrays from JSON rows (an imported evaluation.json, a streamed run) -------------

PLOT_CONFIG = {"attacks": "fgsm,pgd", "eps": "0,0.1,0.3", "steps": "2", "bins": "5", "sanity_checks": False}


@pytest.fixture
def twenty(tiny_clf) -> Images:
    """Twenty 8x8 images labelled with the tiny model's predictions, a quarter of them wrong."""
    import torch

    x = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    labels = tiny_clf.predict(x).numpy()
    labels[::4] = (labels[::4] + 1) % 3
    return Images(x.numpy(), labels, [f"{c}/img{i:02d}.png" for i, c in enumerate(labels)],
                  index=np.arange(100, 120, dtype=np.int64))


def _same_plot_arrays(rebuilt: evaluate.Result, result: evaluate.Result) -> None:
    ev, ev2 = result.evaluation, rebuilt.evaluation
    assert rebuilt.index.tolist() == result.index.tolist() and rebuilt.names == result.names
    np.testing.assert_array_equal(ev2.labels, ev.labels)
    np.testing.assert_array_equal(ev2.clean_pred, ev.clean_pred)
    np.testing.assert_allclose(ev2.clean_confidence, ev.clean_confidence, atol=1e-6)
    np.testing.assert_array_equal(ev2.adv_pred, ev.adv_pred)
    np.testing.assert_allclose(ev2.adv_confidence, ev.adv_confidence, atol=1e-6)
    np.testing.assert_array_equal(rebuilt.held_out, result.held_out)
    np.testing.assert_array_equal(rebuilt.calibration_bin, result.calibration_bin)


def test_an_evaluation_json_rebuilds_what_the_plots_read(tiny_clf, twenty):
    import json

    from advinspect.core.evaluate import confidence_histogram, confusion_matrix

    config = make_config(evaluate.Config, PLOT_CONFIG)
    result = evaluate.run(evaluate.Inputs(tiny_clf, twenty), config)
    data = json.loads(json.dumps(result.to_dict()))  # what evaluation.json / a workspace holds
    assert [r["index"] for r in data["samples"]] == list(range(100, 120))
    assert [len(r["adv"]["fgsm"]) for r in data["samples"]] == [3] * 20
    rebuilt = evaluate.Result.from_data(data)
    _same_plot_arrays(rebuilt, result)
    assert rebuilt.images is None and rebuilt.scaled_confidence is None  # no logits in the JSON
    ev = rebuilt.evaluation
    # the arrays a click reads agree with the matrices, histograms and bins the plots draw
    assert confusion_matrix(ev.labels, ev.clean_pred, 3) == data["confusion"]["clean"]
    assert confusion_matrix(ev.labels, ev.adv_pred, 3) == data["confusion"]["adversarial"]
    assert confidence_histogram(ev.adv_confidence) == data["histograms"]["adversarial"]
    counts = np.bincount(rebuilt.calibration_bin, minlength=5).tolist()
    assert counts == [b["count"] for b in data["calibration"]["bins"]]
    assert len(rebuilt.held_out) == data["calibration"]["split"]["held_out"] == 10
    assert rebuilt.summary_text() == result.summary_text()
    with pytest.raises(AdvInspectError, match="no per-sample rows"):
        evaluate.Result.from_data({k: v for k, v in data.items() if k != "samples"})


def test_a_streamed_evaluation_gives_the_same_plot_arrays(tiny_clf, twenty):
    from advinspect.core.data.stream import ArrayStream

    config = make_config(evaluate.Config, PLOT_CONFIG)
    result = evaluate.run(evaluate.Inputs(tiny_clf, twenty), config)
    stream = ArrayStream(twenty.x, twenty.labels, twenty.names, twenty.index, batch_size=7)
    streamed = evaluate.run_stream(tiny_clf, stream, config)
    view = evaluate.plotted(streamed)
    assert view is streamed.plotted and evaluate.plotted(result) is result and evaluate.plotted(None) is None
    _same_plot_arrays(view, result)
    # the streamed rows keep their logits: the temperature-scaled confidences are rebuilt too
    np.testing.assert_allclose(view.scaled_confidence, result.scaled_confidence, atol=1e-5)
    assert streamed.data["confusion"] == result.data["confusion"]
    for a, b in zip(streamed.data["samples"], result.data["samples"], strict=True):
        assert (a["index"], a["file"], a["clean_pred"], a["clean_correct"]) == \
            (b["index"], b["file"], b["clean_pred"], b["clean_correct"])
        assert [[e["pred"] for e in a["adv"][k]] for k in ("fgsm", "pgd")] == \
            [[e["pred"] for e in b["adv"][k]] for k in ("fgsm", "pgd")]
