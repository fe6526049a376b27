"""core.tasks.compare: one row per model, the same numbers a single evaluation gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.data.stream import ArrayStream
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.tasks import compare
from advinspect.core.tasks.base import Images, make_config
from tests.conftest import TinyCNN
from tests.streaming import count_alive


def test_rows_per_model_and_saliency(tiny_clf, tiny_spec, tiny_images):
    torch.manual_seed(5)
    other = TorchClassifier(TinyCNN().eval(), tiny_spec, torch.device("cpu"))
    config = make_config(compare.Config, {"attack": "fgsm", "eps": "0,0.2"})
    result = compare.run(compare.Inputs({"a": tiny_clf, "b": other}, tiny_images), config)
    rows = {r["model"]: r for r in result.data["models"]}
    assert set(rows) == {"a", "b"} and set(result.saliency) == {"a", "b"}
    assert rows["a"]["clean_accuracy"] == 4 / 6  # the tiny set's labels make two images wrong
    assert rows["a"]["curve"]["robust_accuracy"][0] == rows["a"]["clean_accuracy"]
    assert result.image.shape == (1, 8, 8)
    assert len(result.summary_text()) == 3 and result.summary()["models"]["a"]["clean_accuracy"] == 4 / 6


# --- streaming: per-image rows batch by batch, the table from all rows ---------------------------

@pytest.fixture(scope="module")
def two_models():
    from advinspect.core.models import ModelSpec

    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))
    models = {}
    for name, seed in (("a", 0), ("b", 5)):
        torch.manual_seed(seed)
        models[name] = TorchClassifier(TinyCNN().eval(), spec, torch.device("cpu"))
    return models


@pytest.fixture(scope="module")
def set30(two_models):
    x = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    labels = two_models["a"].predict(x).numpy()
    labels[::4] = (labels[::4] + 1) % 3
    return Images(x.numpy(), labels, [f"img{i:02d}.png" for i in range(30)])


CONFIG = {"attack": "pgd", "eps": "0,0.2", "steps": "2", "seed": "1"}  # PGD's random start is seeded per image


@pytest.fixture(scope="module")
def whole(two_models, set30):
    return compare.run(compare.Inputs(two_models, set30), make_config(compare.Config, CONFIG))


@pytest.mark.parametrize("batch_size", [7, 64])
def test_streamed_rows_equal_the_in_memory_rows(two_models, set30, whole, batch_size):
    streamed = compare.run_stream(two_models, ArrayStream.of(set30, batch_size), make_config(compare.Config, CONFIG))
    assert streamed.rows == whole.rows and len(whole.rows) == 30
    assert streamed.data["models"] == whole.data["models"]
    assert all(np.array_equal(streamed.saliency[k], whole.saliency[k]) for k in two_models)
    row = whole.rows[3]["models"]["b"]
    assert set(row) == {"pred", "confidence", "correct", "nll", "brier", "adv"} and len(row["adv"]) == 2


def test_the_table_is_the_in_memory_metrics_of_the_rows(two_models, set30):
    from advinspect.core.metrics.calibration import calibration
    from advinspect.core.metrics.robustness import robustness_curve

    config = make_config(compare.Config, {"attack": "fgsm", "eps": "0,0.1"})
    result = compare.run(compare.Inputs(two_models, set30), config)
    for row in result.data["models"]:
        clf = two_models[row["model"]]
        calib = calibration(clf.logits(set30.tensor()), set30.labels)
        assert row["clean_accuracy"] == calib.accuracy and abs(row["ece"] - calib.ece) < 1e-12
        curve, _ = robustness_curve(clf, set30.tensor(), set30.labels_tensor(), "fgsm", [0, 0.1])
        assert row["curve"]["robust_accuracy"] == curve.robust_accuracy


def test_the_stream_is_never_held_whole(two_models, set30, monkeypatch):
    counter = count_alive(monkeypatch, ArrayStream)
    config = make_config(compare.Config, {"attack": "fgsm", "eps": "0.1"})
    result = compare.run_stream(two_models, ArrayStream.of(set30, 5), config, on_rows=lambda rows: None)
    assert len(result.rows) == 30 and counter.batches == 6
    assert counter.peak <= 10  # at most two batches of 5 alive at once, never the 30
    section = result.report_section()
    assert section.lines == result.summary_text() and len(section.figures) == 2
    assert [r[0] for r in section.tables[0].rows] == ["a", "b"]


def test_a_cancel_keeps_the_finished_batches(two_models, set30):
    token = CancelToken()
    config = make_config(compare.Config, {"attack": "fgsm", "eps": "0.1", "batch_size": "8"})
    result = compare.run(compare.Inputs(two_models, set30), config,
                         progress=Progress(lambda e: token.cancel() if e.step >= 16 else None), cancel=token)
    assert result.cancelled and len(result.rows) == 16
    assert "cancelled" in result.summary_text()[-1]
