"""core.data.stream: batches carry global indices and per-file errors; shards are contiguous."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from advinspect.core.data import collect_images
from advinspect.core.data.stream import ArrayStream, ImageStream, slice_bounds
from advinspect.core.errors import AdvInspectError
from advinspect.core.models import ModelSpec


@pytest.mark.parametrize("n", [0, 1, 7, 10])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_slices_cover_the_set_once_in_order(n, world):
    bounds = [slice_bounds(n, r, world) for r in range(world)]
    covered = [i for a, b in bounds for i in range(a, b)]
    assert covered == list(range(n))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(AdvInspectError):
        slice_bounds(n, world, world)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / label / f"{i}.png")
    (root / "b" / "2.png").write_bytes(b"not a png")  # one broken file among ten
    return root


@pytest.mark.parametrize("workers", [0, 1])
def test_files_stream_in_batches_with_global_index_and_errors(folder, workers):
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b"))
    items = collect_images([folder], spec)
    stream = ImageStream(items, spec, batch_size=3, workers=workers)
    batches = list(stream)
    assert [len(b) + len(b.errors) for b in batches] == [3, 3, 3, 1]
    index = np.concatenate([b.index for b in batches]).tolist()
    errors = [e for b in batches for e in b.errors]
    assert index == [0, 1, 2, 3, 4, 5, 6, 8, 9] and [e[:2] for e in errors] == [(7, "b/2.png")]
    assert "2.png" in errors[0][2]
    assert np.concatenate([b.labels for b in batches]).tolist() == [0] * 5 + [1] * 4
    # the shards of the stream are contiguous slices whose batches give the same images
    parts = [np.concatenate([b.index for b in stream.shard(r, 3)] or [np.zeros(0, int)]).tolist() for r in range(3)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [8, 9]]
    whole = np.concatenate([b.x.numpy() for b in batches])
    again = np.concatenate([b.x.numpy() for r in range(3) for b in stream.shard(r, 3)])
    assert np.array_equal(whole, again)


def test_array_stream_window_and_shard():
    x = np.arange(7 * 4, dtype=np.float32).reshape(7, 1, 2, 2)
    stream = ArrayStream(x, np.zeros(7), [str(i) for i in range(7)], np.arange(7), batch_size=2)
    assert [b.index.tolist() for b in stream.shard(1, 2)] == [[4, 5], [6]]
    assert [b.index.tolist() for b in stream.window(3, 6)] == [[3, 4], [5]]
    assert len(stream.shard(0, 2)) == 4
