"""Hostile and broken image files (issue 11): each fails alone as one line, bombs are refused
from their header, NaN pixels are refused, large images are reduced."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advinspect.core.data import collect_images, images, load_images, read_image
from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.models import ModelSpec
from tests.fuzz.image_mutations import (
    animated_webp_declaring,
    float_tiff,
    png_declaring,
    tiff_ifdrational,
    webp_declaring,
)

GRAY = ModelSpec(input_shape=(1, 8, 8))
REPO = Path(__file__).resolve().parents[3]


def _folder_of_valid(folder: Path, count: int) -> None:
    for i in range(count):
        Image.new("L", (8, 8), 10 * i).save(folder / f"{i:02d}.png")


def test_ifdrational_tiff_fails_alone(tmp_path):
    data = tiff_ifdrational()
    with pytest.raises(TypeError, match="IFDRational"):  # what Pillow does with it, unguarded
        Image.open(io.BytesIO(data)).load()
    _folder_of_valid(tmp_path, 20)
    (tmp_path / "bad.tif").write_bytes(data)
    batch = load_images(collect_images([tmp_path]), GRAY)
    assert len(batch) == 20 and batch.x.shape == (20, 1, 8, 8)
    assert len(batch.errors) == 1
    assert batch.errors[0].startswith("bad.tif: ") and "TypeError" in batch.errors[0]


def _noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.png", b""),
        ("text.png", b"just some notes"),
        ("truncated.png", _noise_png()[:300]),
        ("header_only.png", png_declaring(64, 64, rows=0)),
        ("declares_zero.bmp", b"BM" + bytes(52)),
    ],
)
def test_broken_files_are_one_line_each(tmp_path, name, content):
    _folder_of_valid(tmp_path, 3)
    (tmp_path / name).write_bytes(content)
    batch = load_images(collect_images([tmp_path]), GRAY)
    assert len(batch) == 3
    assert len(batch.errors) == 1 and batch.errors[0].startswith(f"{name}: ") and "\n" not in batch.errors[0]


def test_wrong_extension_is_read_by_content(tmp_path):
    Image.new("L", (8, 8), 255).save(tmp_path / "really_a_png.jpg", format="PNG")
    assert read_image(tmp_path / "really_a_png.jpg").min() == 1.0


@pytest.mark.parametrize("fmt", ["PCX", "ICO", "TGA"])
def test_formats_we_do_not_promise_are_not_decoded(tmp_path, fmt):
    """Only our six decoders run, whatever the name (no EPS through Ghostscript, no PSD ...)."""
    path = tmp_path / "other.png"
    Image.new("RGB", (16, 16)).save(path, format=fmt)
    with pytest.raises(ImageLoadError, match="not a PNG, JPEG"):
        read_image(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_tiff_with_nan_or_inf_is_refused(tmp_path, bad):
    values = np.full((6, 6), 0.5, np.float32)
    values[2, 3] = bad
    (tmp_path / "float.tif").write_bytes(float_tiff(values))
    with pytest.raises(ImageLoadError, match="NaN or infinity"):
        read_image(tmp_path / "float.tif")
    with pytest.raises(ImageLoadError, match="NaN or infinity"):  # also when it would be reduced
        read_image(tmp_path / "float.tif", max_side=1)


def test_finite_float_tiff_loads(tmp_path):
    (tmp_path / "float.tif").write_bytes(float_tiff(np.linspace(0, 1, 36).reshape(6, 6)))
    array = read_image(tmp_path / "float.tif")
    assert array.shape == (6, 6, 1) and array.max() == pytest.approx(1.0) and array.min() == 0.0


BOMBS = {
    "rgba_20000.png": lambda: png_declaring(20000, 20000),
    "still_16383.webp": lambda: webp_declaring(16383, 16383),
    "anim_4194336x32.webp": lambda: animated_webp_declaring(4194336, 32),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_from_the_header(tmp_path, name):
    (tmp_path / name).write_bytes(BOMBS[name]())
    limit = r"(is [\d.]+ megapixels, more than the (100 an|50 a WEBP) image may have|has a side longer than 65535 pixels)"
    with pytest.raises(ImageLoadError, match=rf"^{name}: refused, \d+x\d+ {limit}$"):
        read_image(tmp_path / name, max_side=32)


def test_bombs_never_allocate(tmp_path):
    """Peak memory of a fresh process refusing the three bombs stays near its baseline (each of
    them, decoded, takes 1.5 to 4 GB)."""
    for name, build in BOMBS.items():
        (tmp_path / name).write_bytes(build())
    script = (
        "import json, resource, sys\n"
        "from advinspect.core.data import read_image\n"
        "from advinspect.core.errors import ImageLoadError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "refused = 0\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        read_image(path, max_side=32)\n"
        "    except ImageLoadError:\n"
        "        refused += 1\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'refused': refused, 'grew_kb': after - before}))\n"
    )
    paths = [str(tmp_path / name) for name in BOMBS]
    result = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, cwd=REPO, check=True,
                            env={"PYTHONPATH": str(REPO), "PATH": ""})
    report = json.loads(result.stdout)
    assert report["refused"] == 3
    assert report["grew_kb"] < 50_000


def test_the_pixel_limit_is_what_decides(tmp_path, monkeypatch):
    Image.new("RGB", (20, 10)).save(tmp_path / "small.png")
    assert read_image(tmp_path / "small.png").shape == (10, 20, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 199)
    with pytest.raises(ImageLoadError, match="20x10 is 0.0 megapixels, more than the 0.000199"):
        read_image(tmp_path / "small.png")


@pytest.mark.parametrize("pillow_limit", [150, 90])  # a warning past the limit, an error past twice it
def test_pillow_decompression_bomb_guard_is_one_line(tmp_path, monkeypatch, pillow_limit):
    Image.new("L", (20, 10)).save(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    with pytest.raises(ImageLoadError, match="small.png: refused, more than 100 megapixels"):
        read_image(tmp_path / "small.png")


def test_large_png_is_reduced_after_decoding(tmp_path):
    left_red = np.zeros((1200, 1800, 4), np.uint8)
    left_red[:, :900] = (255, 0, 0, 255)
    left_red[:, 900:] = (0, 0, 255, 0)  # transparent right half: white once composited
    Image.fromarray(left_red, "RGBA").save(tmp_path / "big.png")
    array = read_image(tmp_path / "big.png", max_side=64)
    assert 128 <= min(array.shape[:2]) < 256 and array.shape[1] > array.shape[0]
    assert array[:, : array.shape[1] // 3].mean(axis=(0, 1)) == pytest.approx([1, 0, 0], abs=1e-6)
    assert array[:, -array.shape[1] // 3 :].min() == 1.0


def test_exif_orientation_survives_the_reduction(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated by 90 degrees
    Image.new("RGB", (400, 200), (30, 200, 30)).save(tmp_path / "side.jpg", exif=exif.tobytes())
    small = read_image(tmp_path / "side.jpg")
    reduced = read_image(tmp_path / "side.jpg", max_side=16)
    assert small.shape[:2] == (400, 200)
    assert reduced.shape[0] > reduced.shape[1] and max(reduced.shape[:2]) < 200


def test_animated_webp_and_multipage_tiff_give_the_first_frame(tmp_path):
    black, white = Image.new("RGB", (8, 8), 0), Image.new("RGB", (8, 8), (255, 255, 255))
    black.save(tmp_path / "anim.webp", save_all=True, append_images=[white], lossless=True)
    black.save(tmp_path / "pages.tif", save_all=True, append_images=[white])
    assert read_image(tmp_path / "anim.webp").max() == 0.0
    assert read_image(tmp_path / "pages.tif").max() == 0.0


def test_dark_16_bit_image_keeps_its_scale(tmp_path):
    Image.fromarray(np.full((4, 4), 200, np.uint16)).save(tmp_path / "dark16.png")
    assert read_image(tmp_path / "dark16.png").max() == pytest.approx(200 / 65535)


def test_center_crop_of_a_thin_image_stays_small():
    """A 2x4000 strip cropped to 224x224 once made a 224x448000 intermediate (400 MB a channel)."""
    import tracemalloc

    from advinspect.core.data.images import fit_to_spec

    strip = np.zeros((2, 4000, 1), np.float32)
    strip[:, 1990:2010] = 1.0  # white around the centre only
    tracemalloc.start()
    try:
        x = fit_to_spec(strip, ModelSpec(input_shape=(1, 224, 224), resize="center-crop"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert x.shape == (1, 224, 224) and peak < 5_000_000
    assert x.min() == 1.0  # the centre (2x2 source pixels), magnified


def test_unreadable_folder_is_one_line(tmp_path, monkeypatch):
    """An unreadable folder (permissions, a vanished network share) is one line, not a traceback."""
    (tmp_path / "locked").mkdir()
    real_iterdir = Path.iterdir

    def iterdir(self):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(AdvInspectError, match="cannot read folder .*locked: Permission denied"):
        collect_images([tmp_path / "locked"])


def test_very_wide_image_is_refused_from_the_header(tmp_path):
    """42 megapixels in rows 4 million pixels wide: Pillow's raw decoder took minutes (a hang in
    the long fuzz run); refused by its side, before decoding."""
    (tmp_path / "wide.webp").write_bytes(animated_webp_declaring(4194316, 10))
    with pytest.raises(ImageLoadError, match="wide.webp: refused, 4194316x10 has a side longer than 65535"):
        read_image(tmp_path / "wide.webp", max_side=32)


@pytest.mark.parametrize("shape", [(29, 88), (88, 29), (58, 355), (1, 1), (28, 28)])
def test_center_crop_box_never_leaves_the_image(shape):
    """29x88 into 28x28 once rounded the crop box to -1.8e-15 and Pillow raised ValueError
    (found by the long fuzz run)."""
    from advinspect.core.data.images import fit_to_spec

    x = fit_to_spec(np.full((*shape, 1), 0.5, np.float32), ModelSpec(input_shape=(1, 28, 28), resize="center-crop"))
    assert x.shape == (1, 28, 28) and np.allclose(x, 0.5)


def test_long_strip_is_reduced_per_side_when_the_model_squashes(tmp_path):
    """A 6000x90 strip for a 16x16 model that resizes: each side is reduced on its own (it would
    stay 6000 wide, keeping the aspect); with center-crop the aspect is kept."""
    strip = np.zeros((90, 6000), np.uint8)
    strip[:, 3000:] = 255
    Image.fromarray(strip).save(tmp_path / "strip.png")
    squashed = read_image(tmp_path / "strip.png", max_side=16, keep_aspect=False)
    kept = read_image(tmp_path / "strip.png", max_side=16)
    assert squashed.shape == (45, 33, 1) and kept.shape == (45, 3000, 1)  # 6000//32 = 187, 90//32 = 2
    x = images.load_image(tmp_path / "strip.png", ModelSpec(input_shape=(1, 16, 16)))
    assert x[0, :, :7].max() == 0.0 and x[0, :, 9:].min() == 1.0  # left half black, right white


def test_webp_has_half_the_pixel_limit(tmp_path):
    """WebP decoding holds about 16 bytes a pixel (twice the others): 60 megapixels is refused."""
    (tmp_path / "big.webp").write_bytes(webp_declaring(8000, 7500))
    with pytest.raises(ImageLoadError, match="big.webp: refused, 8000x7500 is 60.0 megapixels, more than the 50 a WEBP"):
        read_image(tmp_path / "big.webp", max_side=32)
