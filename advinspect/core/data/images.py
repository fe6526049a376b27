"""Image files into float tensors in the model's value range, shaped to its ModelSpec.

Pillow does the decoding, and every decode is one guarded step: whatever a hostile or broken
file makes Pillow raise (a TIFF whose tags make it raise TypeError, a truncated stream, a
decompression bomb) becomes one `ImageLoadError` naming the file, so one file never stops a
folder. Memory is bounded before any pixel is decoded: Pillow reads only the header on open,
so the declared size is checked against `MAX_PIXELS` first; JPEGs are decoded at reduced scale
(`draft`), other large images are reduced right after decoding, and only the first frame of an
animated or multi-page file is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from advinspect.core.errors import ImageLoadError
from advinspect.core.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
# Only these decoders are ever tried, whatever the file's name: no EPS (Ghostscript), no PSD ...
FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
# The promise in the README: up to 100 megapixels decode (Pillow holds at most 4 bytes per pixel,
# so at most 400 MB before reduction); anything larger is refused from its header alone.
MAX_PIXELS = 100_000_000
# WebP's animation decoder (used for every WebP) holds two canvases and hands Pillow a third copy:
# about 16 bytes a pixel against 8 for the others (a 100-megapixel WebP peaked at 1.55 GB).
MAX_PIXELS_BY_FORMAT = {"WEBP": MAX_PIXELS // 2}
# and no side longer than JPEG's own limit: Pillow's raw decoder reads a row in 64 KB steps,
# joining them anew at each step, so a 4-million-pixel-wide row takes minutes to decode.
MAX_SIDE = 65_535
Image.MAX_IMAGE_PIXELS = 400_000_000  # Pillow's own guard, further out than ours

# EXIF orientation -> the transpose that undoes it (as ImageOps.exif_transpose does).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def read_image(path: str | Path, max_side: int | None = None, *, keep_aspect: bool = True) -> np.ndarray:
    """Decode an image file into a float32 array (H, W, C) in [0, 1], C in {1, 3}.

    Grayscale (8/16-bit, float), RGB, RGBA (composited on white), palette and CMYK are
    converted; animated and multi-page files give their first frame. `max_side` (the model's
    input side) lets large images be decoded or reduced to between 2 and 4 times that side: the
    short side with `keep_aspect`, else each side on its own (for a model that squashes the image
    to its input anyway, so a 65535x900 strip never becomes a 700 MB float array).
    Raises ImageLoadError, one line naming the file, for anything that cannot be read.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on odd EXIF and the like
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS) as image:
                array = _decode(image, path.name, max_side, keep_aspect)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path.name}: not a PNG, JPEG, BMP, TIFF, WebP or GIF image, or its header is corrupt") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(f"{path.name}: refused, more than {MAX_PIXELS / 1e6:g} megapixels") from None
    except MemoryError:
        raise ImageLoadError(f"{path.name}: out of memory while decoding") from None
    except Exception as exc:  # noqa: BLE001 - the decode boundary: Pillow raises anything on hostile bytes
        detail = " ".join(str(exc).split())[:200]  # one line, however long Pillow's message
        raise ImageLoadError(f"{path.name}: corrupt or unreadable image ({type(exc).__name__}: {detail})") from None
    if not np.isfinite(array).all():
        raise ImageLoadError(f"{path.name}: pixel values include NaN or infinity")
    return array


def _decode(image: Image.Image, name: str, max_side: int | None, keep_aspect: bool) -> np.ndarray:
    """Check the header, then decode the first frame as small as the model allows."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageLoadError(f"{name}: declares an empty {width}x{height} image")
    if max(width, height) > MAX_SIDE:
        raise ImageLoadError(f"{name}: refused, {width}x{height} has a side longer than {MAX_SIDE} pixels")
    limit = MAX_PIXELS_BY_FORMAT.get(image.format or "", MAX_PIXELS)
    if width * height > limit:
        kind = "an image" if limit == MAX_PIXELS else f"a {image.format} image"
        raise ImageLoadError(
            f"{name}: refused, {width}x{height} is {width * height / 1e6:.1f} megapixels, "
            f"more than the {limit / 1e6:g} {kind} may have"
        )
    orientation = image.getexif().get(0x0112)
    if max_side is not None and image.format in ("JPEG", "MPO"):
        image.draft(image.mode if image.mode in ("L", "RGB") else None, (2 * max_side, 2 * max_side))
    image.load()
    if image.mode == "F":  # float TIFFs: refuse NaN/Inf before any averaging hides or spreads them
        if not np.isfinite(np.asarray(image)).all():
            raise ImageLoadError(f"{name}: pixel values include NaN or infinity")
    sixteen_bit = image.mode.startswith("I;16")
    image = _reduce(_canonical_mode(image), max_side, keep_aspect)
    if isinstance(orientation, int) and orientation in _ORIENTATION:
        image = image.transpose(_ORIENTATION[orientation])
    return _to_array(image, sixteen_bit)


def _canonical_mode(image: Image.Image) -> Image.Image:
    """One of L, RGB, RGBA, I, F: the modes Pillow can reduce and we can scale to [0, 1]."""
    mode = image.mode
    if mode in ("L", "RGB", "RGBA", "I", "F"):
        return image
    if mode.startswith("I;16"):
        return image.convert("I")
    if mode in ("LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        return image.convert("RGBA")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def _reduce(image: Image.Image, max_side: int | None, keep_aspect: bool) -> Image.Image:
    """Box-reduce by whole factors so each side (or the short one, keeping the aspect) stays at
    least twice `max_side`."""
    if max_side is None:
        return image
    fx, fy = (max(1, side // (2 * max_side)) for side in image.size)
    if keep_aspect:
        fx = fy = min(fx, fy)
    return image.reduce((fx, fy)) if max(fx, fy) > 1 else image


def _to_array(image: Image.Image, sixteen_bit: bool = False) -> np.ndarray:
    """An L, RGB, RGBA, I or F image as float32 (H, W, C) in [0, 1]; alpha composited on white.
    A 16-bit file is scaled by 65535 even when dark; other integer images by 255 unless wider.
    Scaled in place: one float array at a time, however large the image."""
    mode = image.mode
    if mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image).convert("RGB")
    array = np.asarray(image).astype(np.float32)  # a fresh, writable copy
    if mode == "I":
        scale = 65535.0 if sixteen_bit or array.max() > 255 else 255.0
    elif mode == "F":
        scale = 255.0 if array.max() > 1 else 1.0
    else:
        scale = 255.0
    np.divide(array, scale, out=array)
    np.clip(array, 0.0, 1.0, out=array)
    return array[..., None] if array.ndim == 2 else array


def fit_to_spec(array: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """(H, W, C) in [0,1] -> (C, H, W) float32 in the spec's value range, channels and size."""
    assert spec.input_shape is not None
    channels, height, width = spec.input_shape
    if array.shape[2] != channels:
        if channels == 1:
            array = (array @ np.array([0.299, 0.587, 0.114], np.float32))[..., None] if array.shape[2] == 3 else array[..., :1]
        elif channels == 3 and array.shape[2] == 1:
            array = np.repeat(array, 3, axis=2)
        else:
            raise ImageLoadError(f"cannot convert a {array.shape[2]}-channel image to {channels} channels")
    if array.shape[:2] != (height, width) and spec.resize != "none":
        array = _resize(array, height, width, crop=spec.resize == "center-crop")
    elif array.shape[:2] != (height, width):
        raise ImageLoadError(f"image is {array.shape[1]}x{array.shape[0]} but the model takes {width}x{height} (resize policy 'none')")
    lo, hi = spec.value_range
    return np.ascontiguousarray(array.transpose(2, 0, 1) * (hi - lo) + lo, dtype=np.float32)


def _resize(array: np.ndarray, height: int, width: int, *, crop: bool) -> np.ndarray:
    """Bilinear resize (through Pillow, per channel in float mode). Center-crop keeps the aspect:
    it takes the centre region of the target's aspect in source pixels and resizes only that,
    so a very long thin image never becomes a huge intermediate array."""
    h, w = array.shape[:2]
    box = (0.0, 0.0, float(w), float(h))
    if crop:  # the limiting side is taken whole, exactly (no rounding past the image's edge)
        if h * width <= w * height:
            crop_w = min(float(w), width * h / height)
            box = ((w - crop_w) / 2, 0.0, (w + crop_w) / 2, float(h))
        else:
            crop_h = min(float(h), height * w / width)
            box = (0.0, (h - crop_h) / 2, float(w), (h + crop_h) / 2)
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(array[..., c])).resize((width, height), Image.Resampling.BILINEAR, box=box))
        for c in range(array.shape[2])
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0)


def load_image(path: str | Path, spec: ModelSpec) -> torch.Tensor:
    """One image file as a (C, H, W) tensor ready for a Classifier with this spec."""
    import torch

    assert spec.input_shape is not None
    max_side = max(spec.input_shape[1:])
    array = read_image(path, max_side=max_side, keep_aspect=spec.resize != "resize")
    return torch.from_numpy(fit_to_spec(array, spec))


def to_uint8_image(x: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """(C, H, W) float in the value range -> (H, W) or (H, W, 3) uint8, rounded as a PNG stores it."""
    lo, hi = value_range
    unit = np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0, 1)
    pixels = np.round(unit * 255).astype(np.uint8).transpose(1, 2, 0)
    return pixels[..., 0] if pixels.shape[2] == 1 else pixels


def save_png(x: np.ndarray, path: str | Path, value_range: tuple[float, float] = (0.0, 1.0)) -> Path:
    """Save a (C, H, W) image losslessly, creating folders; written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    Image.fromarray(to_uint8_image(x, value_range)).save(tmp, format="PNG")
    tmp.replace(path)
    return path
