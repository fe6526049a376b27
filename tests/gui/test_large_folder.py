"""A folder larger than the eager limit opens as a file list: the Images dock lists every image
at once, thumbnails and full images are decoded only when shown, predictions follow in the
background one chunk at a time, and the decoded images held stay bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advinspect.core.data import load_image
from advinspect.core.data.images import save_png
from advinspect.core.data.lazy import CACHE_IMAGES, LazyPixels
from advinspect.gui import tasks
from tests.gui.conftest import LOAD_TIMEOUT_MS

N = 2000


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    for i in range(N):
        save_png(rng.random((1, 8, 8), dtype=np.float32), root / str(i % 10) / f"{i:05d}.png")
    return root


def test_a_broken_file_reads_as_zeros_and_is_named(tmp_path):
    from advinspect.core.data import collect_images
    from advinspect.core.models import ModelSpec

    spec = ModelSpec(input_shape=(1, 8, 8))
    save_png(np.ones((1, 8, 8), np.float32), tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    pixels = LazyPixels(collect_images([str(tmp_path)], spec), spec, cache_size=1)
    assert len(pixels) == 2 and pixels.decoded == 0
    whole = np.asarray(pixels)
    names = [item.name for item in pixels.items]
    assert whole[names.index("good.png")].min() > 0 and not whole[names.index("bad.png")].any()
    assert len(pixels.errors) == 1 and "bad.png" in pixels.errors[0]
    assert pixels.cached() == 1 and pixels.decoded == 2
    np.testing.assert_array_equal(pixels.subset([names.index("good.png")])[0], whole[names.index("good.png")])


def test_a_large_folder_lists_every_image_and_decodes_on_demand(qtbot, make_window, big_folder):
    assert N > tasks.EAGER_IMAGES
    window = make_window()
    s = window.session
    at_open: list[int] = []
    s.images_changed.connect(lambda: at_open.append(s.images.x.decoded if s.images is not None else -1))
    with qtbot.waitSignal(s.images_changed, timeout=LOAD_TIMEOUT_MS):
        s.open_images([str(big_folder)])
    pixels = s.images.x
    assert isinstance(pixels, LazyPixels) and s.count == N
    assert at_open and at_open[0] == 0  # listed without decoding a single image
    assert window.images_panel.model.rowCount() == N  # the list shows them all
    qtbot.wait(50)  # the list paints its visible thumbnails
    assert pixels.decoded < N // 4  # ... and only those (and the selected image) were decoded
    qtbot.waitUntil(lambda: s.probs is not None, timeout=LOAD_TIMEOUT_MS)  # predicted in the background
    assert s.probs.shape == (N, s.clf.num_classes) and window.errors == []
    assert pixels.cached() <= CACHE_IMAGES  # bounded, whatever the folder's size
    path = s.images.paths[1500]
    s.set_current(1500)
    expected = load_image(path, s.clf.spec).numpy()
    np.testing.assert_array_equal(s.image(1500), expected)
    assert s.prediction(1500) == int(s.clf.logits_batched(torch.from_numpy(expected[None])).argmax())


@pytest.fixture
def lazy_window(qtbot, make_window, tmp_path, monkeypatch):
    """The window with a 40-image folder opened as a lazy set (the eager limit lowered to 10)."""
    monkeypatch.setattr(tasks, "EAGER_IMAGES", 10)
    rng = np.random.default_rng(1)
    for i in range(40):
        save_png(rng.random((1, 8, 8), dtype=np.float32), tmp_path / str(i % 10) / f"{i:03d}.png")
    window = make_window()
    s = window.session
    with qtbot.waitSignal(s.images_changed, timeout=LOAD_TIMEOUT_MS):
        s.open_images([str(tmp_path)])
    qtbot.waitUntil(lambda: s.probs is not None, timeout=LOAD_TIMEOUT_MS)
    assert isinstance(s.images.x, LazyPixels) and s.count == 40
    return window


def test_attacking_a_whole_large_folder_keeps_the_adversarials_on_disk(qtbot, lazy_window):
    window, s = lazy_window, lazy_window.session
    pixels = s.images.x
    with qtbot.waitSignal(s.attack_finished, timeout=LOAD_TIMEOUT_MS) as blocker:
        s.run_attack("fgsm", {"eps": "0.2"}, list(range(s.count)))
    result = blocker.args[0]
    assert result is not None and result.attack.n == 40 and window.errors == []
    held = result.attack.x_adv
    while not isinstance(held, np.memmap) and getattr(held, "base", None) is not None:
        held = held.base
    assert isinstance(held, np.memmap)  # a disk-backed array, not 40 images in memory
    assert pixels.cached() <= CACHE_IMAGES
    shown = s.results[17].x_adv  # what the inspector shows for image 17
    clean = np.asarray(s.image(17))
    assert np.abs(shown - clean).max() == pytest.approx(0.2, abs=1e-6)
    assert result.statuses.count("flipped") == sum(s.results[i].status == "flipped" for i in s.results)


def test_a_whole_set_job_that_would_not_fit_in_memory_is_one_line(qtbot, lazy_window, monkeypatch):
    window, s = lazy_window, lazy_window.session
    monkeypatch.setattr("advinspect.core.data.lazy.available_memory", lambda: 1000)
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.tasks import evaluate
    from advinspect.core.tasks.base import make_config

    inputs = evaluate.Inputs(s.clf, s.images)  # the in-memory evaluation decodes the whole set
    with pytest.raises(AdvInspectError, match="holds all 40 images in memory at once"):
        evaluate.run(inputs, make_config(evaluate.Config, {"attacks": "fgsm", "eps": "0.1"}))
    # defend's predictions read the set a chunk at a time: no refusal, and the window stays up
    from advinspect.core.tasks import defend

    with qtbot.waitSignal(s.defense_changed, timeout=LOAD_TIMEOUT_MS):
        s.apply_defense(defend.Config(defense="bits:4"))
    assert window.errors == [] and s.probs is not None and s.probs.shape == (40, s.clf.num_classes)
