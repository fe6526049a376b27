"""An attack over images decoded on demand (a large folder's LazyPixels) reads them batch by
batch and keeps the adversarials on disk: the same numbers as over the images in memory, every
file decoded once, the decoded images held bounded by the cache, and a cancel returns only the
batches it reached."""

from __future__ import annotations

import mmap

import numpy as np
import pytest
import torch

from advinspect.core.data import collect_images
from advinspect.core.data.images import save_png
from advinspect.core.data.lazy import LazyPixels
from advinspect.core.data.spill import DiskArray
from advinspect.core.errors import AdvInspectError, CancelledError
from advinspect.core.jobs import CancelToken
from advinspect.core.tasks import attack
from advinspect.core.tasks.base import Images, make_config

N, BATCH, CACHE = 64, 16, 8


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(N):
        save_png(rng.random((1, 8, 8), dtype=np.float32), tmp_path / "abc"[i % 3] / f"{i:03d}.png")
    return tmp_path


def lazy_images(folder, spec) -> Images:
    items = collect_images([str(folder)], spec)
    labels = np.array([item.label for item in items], np.int64)
    return Images(LazyPixels(items, spec, cache_size=CACHE), labels, [i.name for i in items],
                  [str(i.path) for i in items])


def on_disk(array: np.ndarray) -> bool:
    """Whether the array's memory is a file mapping (walking its chain of views)."""
    while array is not None:
        if isinstance(array, (np.memmap, mmap.mmap)):
            return True
        array = getattr(array, "base", None)
    return False


def config(**params):
    return make_config(attack.Config, {"attack": "pgd", "batch_size": BATCH, "seed": 5,
                                       "params": {"eps": "0.1", "steps": "5", **params}})


def test_same_result_as_in_memory_each_file_decoded_once(folder, tiny_clf):
    lazy = lazy_images(folder, tiny_clf.spec)
    assert lazy.on_demand
    eager = Images(np.asarray(lazy_images(folder, tiny_clf.spec).x), lazy.labels, lazy.names, lazy.paths)
    assert not eager.on_demand

    streamed = attack.run(attack.Inputs(tiny_clf, lazy), config())
    held = attack.run(attack.Inputs(tiny_clf, eager), config())

    pixels = lazy.x
    assert pixels.decoded == N and pixels.cached() <= CACHE  # no whole-set decode, no second pass
    a, b = streamed.attack, held.attack
    assert a.n == b.n == N and on_disk(a.x_adv) and not on_disk(b.x_adv)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    for name in ("adv_pred", "success", "clean_pred", "linf", "l2"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_allclose(streamed.adv_probs, held.adv_probs)
    assert streamed.statuses == held.statuses and 0 < a.success.sum() < N


def test_least_likely_targets_read_in_chunks(folder, tiny_clf):
    lazy = lazy_images(folder, tiny_clf.spec)
    result = attack.run(attack.Inputs(tiny_clf, lazy), make_config(
        attack.Config, {"attack": "pgd", "target": "least-likely", "batch_size": BATCH,
                        "params": {"eps": "0.1", "steps": "3"}}))
    expected = tiny_clf.logits_batched(torch.from_numpy(np.asarray(lazy_images(folder, tiny_clf.spec).x))).argmin(1)
    np.testing.assert_array_equal(result.attack.target, expected.numpy())
    assert lazy.x.cached() <= CACHE


def test_a_cancel_returns_the_batches_it_reached(folder, tiny_clf):
    cancel = CancelToken()

    class CancelWhenThirdBatchIsRead(LazyPixels):
        """Cancels when batch 3 is read ahead, i.e. as batch 2 starts: no timing involved."""

        def __getitem__(self, key):
            if isinstance(key, slice) and key.start == 2 * BATCH:
                cancel.cancel()
            return super().__getitem__(key)

    lazy = lazy_images(folder, tiny_clf.spec)
    lazy.x = CancelWhenThirdBatchIsRead(lazy.x.items, tiny_clf.spec, cache_size=CACHE)
    result = attack.run(attack.Inputs(tiny_clf, lazy), config(), cancel=cancel)
    # the batch the cancel interrupted is kept, marked not completed (as over images in memory);
    # the third batch was read ahead (decoding overlaps the attack), the fourth never
    assert result.cancelled and result.attack.n == 2 * BATCH == len(result.images) < N
    np.testing.assert_array_equal(result.attack.completed, np.arange(2 * BATCH) < BATCH)
    assert result.statuses[BATCH:] == ["not attacked"] * BATCH
    assert lazy.x.decoded == 3 * BATCH
    np.testing.assert_array_equal(result.images.index, np.arange(2 * BATCH))


def test_a_cancel_before_the_first_batch_is_a_cancel(folder, tiny_clf):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(CancelledError):
        attack.run(attack.Inputs(tiny_clf, lazy_images(folder, tiny_clf.spec)), config(), cancel=cancel)


def test_disk_array_rows_and_a_full_disk_is_one_line(tmp_path, monkeypatch):
    disk = DiskArray((3, 2, 2), folder=tmp_path)
    disk.write(1, np.full((2, 2, 2), 7, np.float32))
    assert isinstance(disk.array, np.memmap) and disk.array.sum() == 56 and not disk.array[0].any()
    assert list(tmp_path.iterdir()) == []  # an unnamed file: nothing to clean up
    with pytest.raises(AdvInspectError, match="do not fit"):
        disk.write(2, np.zeros((2, 2, 2), np.float32))

    def full(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.posix_fallocate", full, raising=False)
    monkeypatch.setattr("os.ftruncate", full)
    with pytest.raises(AdvInspectError, match="No space left"):
        DiskArray((1000, 3, 224, 224), folder=tmp_path)
