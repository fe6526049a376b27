"""core.tasks.saliency: maps for images and their adversarials, targets recorded."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

from advinspect.core.data.stream import ArrayStream
from advinspect.core.tasks import saliency
from advinspect.core.tasks.base import Images
from tests.streaming import count_alive


def test_maps_for_clean_and_adversarial(tiny_clf, tiny_images):
    x_adv = np.clip(tiny_images.x + 0.1, 0, 1).astype(np.float32)
    result = saliency.run(saliency.Inputs(tiny_clf, tiny_images, x_adv),
                          saliency.Config(method="gradient", batch_size=4))
    assert result.maps.shape == result.adv_maps.shape == (6, 8, 8)
    assert np.allclose(result.maps.max(axis=(1, 2)), 1.0)
    assert result.targets.tolist() == tiny_clf.predict(tiny_images.tensor()).tolist()
    assert not np.allclose(result.maps, result.adv_maps)


def test_a_fixed_target_class(tiny_clf, tiny_images):
    result = saliency.run(saliency.Inputs(tiny_clf, tiny_images), saliency.Config(method="gradcam", target="b"))
    assert (result.targets == 1).all() and result.adv_maps is None and result.layer is None


# --- streaming: the in-memory maps batch by batch, one batch of images and maps alive -----------

@pytest.fixture
def set30(tiny_clf):
    x = torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    return Images(x.numpy(), tiny_clf.predict(x).numpy(), [f"img{i:02d}.png" for i in range(30)])


def _streamed_maps(clf, stream, config):
    maps: list[np.ndarray] = []
    result = saliency.run_stream(clf, stream, config, on_maps=lambda batch, m, rows: maps.append(m.copy()))
    return result, np.concatenate(maps)


@pytest.mark.parametrize("method", ["gradient", "smoothgrad"])
@pytest.mark.parametrize("batch_size", [7, 64])
def test_streamed_maps_equal_the_in_memory_maps(tiny_clf, set30, method, batch_size):
    images = set30 if method == "gradient" else set30.subset(range(12))  # SmoothGrad goes image by image
    config = saliency.Config(method=method, batch_size=32, seed=2)
    whole = saliency.run(saliency.Inputs(tiny_clf, images), config)
    streamed, maps = _streamed_maps(tiny_clf, ArrayStream.of(images, batch_size), config)
    assert np.array_equal(maps, whole.maps) and maps.shape == (len(images), 8, 8)
    assert [r["target"] for r in streamed.rows] == whole.targets.tolist()
    assert [r["index"] for r in streamed.rows] == list(range(len(images)))
    assert streamed.to_dict()["samples"] == streamed.rows and streamed.summary()["n"] == len(images)


def test_smoothgrad_noise_follows_the_global_index(tiny_clf, set30):
    config = saliency.Config(method="smoothgrad", seed=2)
    images = set30.subset(range(12))
    _, whole = _streamed_maps(tiny_clf, ArrayStream.of(images, 8), config)
    _, part = _streamed_maps(tiny_clf, ArrayStream.of(images, 3).window(4, 10), config)
    assert np.array_equal(part, whole[4:10])
    _, other = _streamed_maps(tiny_clf, ArrayStream.of(images, 3).window(4, 10), saliency.Config(method="smoothgrad"))
    assert not np.array_equal(other, part)  # the seed matters


def test_neither_the_images_nor_the_maps_are_held_whole(tiny_clf, set30, monkeypatch):
    counter = count_alive(monkeypatch, ArrayStream)
    maps_alive: list[weakref.ref] = []
    peak = [0]

    def receive(batch, maps, rows):
        if any(r() is not None for r in maps_alive):
            gc.collect()  # (slow) only in case a reference cycle still holds an earlier batch's maps
        maps_alive[:] = [r for r in maps_alive if r() is not None] + [weakref.ref(maps)]
        peak[0] = max(peak[0], sum(len(r()) for r in maps_alive if r() is not None))

    result = saliency.run_stream(tiny_clf, ArrayStream.of(set30, 5), saliency.Config(method="gradient"),
                                 on_maps=receive)
    assert len(result.rows) == 30 and counter.batches == 6
    assert counter.peak <= 10 and peak[0] <= 10  # two batches of 5 at the most, never the 30
    section = result.report_section()
    assert len(result.preview) == saliency.PREVIEW and section.figures[0].png.startswith(b"\x89PNG")
