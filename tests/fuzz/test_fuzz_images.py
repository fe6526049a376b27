"""A quick seeded fuzz of image loading: a few hundred mutated PNG/JPEG/BMP/TIFF/WebP/GIF files in
one folder load as one batch; every file either loads or is one line in the batch's errors.

The long run (>= 10,000 files, hangs and peak memory per file) is benchmarks/fuzz_images.py.
"""

from __future__ import annotations

import pytest

from advinspect.core.data import collect_images, load_images
from advinspect.core.models import ModelSpec
from tests.fuzz.image_mutations import SUFFIX, cases, seed_images

SPEC = ModelSpec(input_shape=(3, 16, 16))
CROP = ModelSpec(input_shape=(1, 24, 24), resize="center-crop")
CASES = 400


def test_every_seed_loads(tmp_path):
    """The unmutated seeds all load, so the fuzz below starts from files that work."""
    for index, (fmt, data) in enumerate(seed_images()):
        (tmp_path / f"{index:02d}{SUFFIX[fmt]}").write_bytes(data)
    batch = load_images(collect_images([tmp_path]), SPEC)
    assert batch.errors == [] and len(batch) == len(seed_images())


@pytest.mark.parametrize(
    ("seed", "spec"),
    [(5, SPEC), (6, CROP)],  # seed 5 reaches a TIFF whose tag types made Pillow raise TypeError
    ids=["rgb-resize", "gray-center-crop"],
)
def test_mutated_images_never_escape(tmp_path, seed, spec):
    for name, data in cases(CASES, seed):
        (tmp_path / name).write_bytes(data)
    items = collect_images([tmp_path])
    assert len(items) == CASES
    batch = load_images(items, spec)  # raises nothing, whatever the files hold
    assert len(batch) + len(batch.errors) == CASES
    loaded = {item.name for item in batch.items}
    failed = {line.split(": ", 1)[0] for line in batch.errors}
    assert loaded | failed == {item.name for item in items} and not loaded & failed
    assert all("\n" not in line and len(line) < 400 for line in batch.errors)
    assert batch.x.shape == (len(batch), *spec.input_shape) and bool(batch.x.isfinite().all())
    assert len(batch) > CASES // 10  # the mutations reach the decoders, not only the file signatures
