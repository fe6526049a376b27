"""Image files of every common kind load into the spec's shape; bad files fail alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from advinspect.core.data import collect_images, load_image, load_images, read_image, save_png
from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.models import ModelSpec

RGB = ModelSpec(input_shape=(3, 16, 16))
GRAY = ModelSpec(input_shape=(1, 16, 16))


def _gradient_rgb(w: int = 20, h: int = 16) -> np.ndarray:
    xs = np.linspace(0, 255, w, dtype=np.float32)
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = xs[None, :]
    img[..., 1] = 128
    img[..., 2] = 255 - xs[None, :]
    return img


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp", ".gif"])
@pytest.mark.parametrize("spec", [RGB, GRAY])
def test_formats_load_to_spec(tmp_path, suffix, spec):
    path = tmp_path / f"img{suffix}"
    Image.fromarray(_gradient_rgb()).save(path)
    x = load_image(path, spec)
    assert x.shape == spec.input_shape and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    if spec.channels == 3 and suffix in (".png", ".bmp", ".tif"):  # lossless: red rises left to right
        assert x[0, 8, -1] > x[0, 8, 0] + 0.5


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "1", "CMYK", "I;16"])
def test_modes_convert(tmp_path, mode):
    base = Image.fromarray(_gradient_rgb())
    if mode == "I;16":
        image = Image.fromarray((np.linspace(0, 65535, 320).reshape(16, 20)).astype(np.uint16))
    else:
        image = base.convert(mode)
    path = tmp_path / f"img_{mode.replace(';', '')}.{'tif' if mode == 'CMYK' else 'png'}"
    image.save(path)
    array = read_image(path)
    assert array.dtype == np.float32 and array.ndim == 3 and array.shape[2] in (1, 3)
    assert 0 <= array.min() and array.max() <= 1
    if mode == "I;16":
        assert array.max() == pytest.approx(1.0, abs=1e-3) and array.min() == 0  # 16-bit range kept
    assert load_image(path, RGB).shape == (3, 16, 16)


def test_rgba_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    path = tmp_path / "clear.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert read_image(path).min() == 1.0


def test_gif_first_frame(tmp_path):
    frames = [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 255)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert read_image(path).max() == 0.0


def test_center_crop_keeps_aspect(tmp_path):
    wide = np.zeros((10, 30), np.uint8)
    wide[:, 10:20] = 255  # white centre third
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    cropped = load_image(path, ModelSpec(input_shape=(1, 10, 10), resize="center-crop"))
    squashed = load_image(path, ModelSpec(input_shape=(1, 10, 10), resize="resize"))
    assert cropped.mean() > 0.9  # only the white centre survives the crop
    assert 0.2 < squashed.mean() < 0.5


def test_value_range_is_applied(tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (16, 16), 255).save(path)
    x = load_image(path, ModelSpec(input_shape=(1, 16, 16), value_range=(0, 255)))
    assert x.max() == pytest.approx(255.0)


def test_large_image_is_downscaled_on_load(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (8000, 8000), (200, 10, 10)).save(path, quality=70)
    array = read_image(path, max_side=64)
    assert max(array.shape[:2]) <= 256  # never the full 8000x8000 float array (768 MB)
    assert load_image(path, ModelSpec(input_shape=(3, 64, 64))).shape == (3, 64, 64)


@pytest.mark.parametrize("content", [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_images_raise_clear_errors(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match="bad.png"):
        read_image(path)


def test_truncated_png_is_an_error(tmp_path):
    path = tmp_path / "cut.png"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="cut.png"):
        read_image(path)


def test_folder_per_class_and_bad_files_in_batch(tmp_path):
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("cat", "dog"))
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(2):
            Image.new("L", (8, 8), 40 * i).save(tmp_path / label / f"{i}.png")
    (tmp_path / "dog" / "broken.png").write_bytes(b"nope")
    (tmp_path / "dog" / "notes.txt").write_text("ignored: not an image suffix")
    items = collect_images([tmp_path], spec)
    assert [i.label for i in items] == [0, 0, 1, 1, 1]
    batch = load_images(items, spec)
    assert len(batch) == 4 and batch.x.shape == (4, 1, 8, 8)
    assert batch.labels.tolist() == [0, 0, 1, 1] and batch.has_labels
    assert len(batch.errors) == 1 and "broken.png" in batch.errors[0]


def test_integer_class_folders_and_unknown_folder(tmp_path):
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("zero", "one"))
    (tmp_path / "1").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "1" / "a.png")
    assert collect_images([tmp_path], spec)[0].label == 1
    (tmp_path / "bird").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "bird" / "b.png")
    with pytest.raises(AdvInspectError, match="bird"):
        collect_images([tmp_path], spec)


def test_loose_files_have_no_labels(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    batch = load_images(collect_images([tmp_path / "a.png"], GRAY), GRAY)
    assert not batch.has_labels


def test_png_roundtrip_is_lossless_at_8_bits(tmp_path):
    x = np.round(np.random.default_rng(0).random((3, 8, 8)) * 255) / 255
    save_png(x.astype(np.float32), tmp_path / "sub" / "x.png")
    back = read_image(tmp_path / "sub" / "x.png").transpose(2, 0, 1)
    assert np.abs(back - x).max() < 1e-6


def test_demo_set_has_all_classes(demo_batch):
    assert len(demo_batch) == 450
    assert sorted(set(demo_batch.labels.tolist())) == list(range(10))
