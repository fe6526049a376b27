"""Image files into float tensors in the model's value range, shaped to its ModelSpec.

Pillow does the decoding. Large images are reduced while decoding (JPEG draft mode) or right
after (thumbnail), so an 8000x8000 photo never becomes a 768 MB float array.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from advinspect.core.errors import ImageLoadError
from advinspect.core.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
Image.MAX_IMAGE_PIXELS = 400_000_000  # decompression-bomb guard, above the 8000x8000 we promise


def read_image(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Decode an image file into a float32 array (H, W, C) in [0, 1], C in {1, 3}.

    Grayscale (8/16-bit), RGB, RGBA (composited on white), palette and CMYK are converted; GIFs
    give their first frame. `max_side` downsamples on load for images far larger than needed.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)
                if max_side is not None and max(image.size) > 2 * max_side:
                    image.draft(image.mode if image.mode in ("L", "RGB") else None, (max_side, max_side))
                image.load()
                return _to_array(image, max_side)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path.name}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"{path.name}: corrupt or truncated image ({exc})") from None


def _to_array(image: Image.Image, max_side: int | None) -> np.ndarray:
    image = ImageOps.exif_transpose(image) or image
    if max_side is not None and max(image.size) > 2 * max_side:
        image.thumbnail((2 * max_side, 2 * max_side), Image.Resampling.BOX)
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        scale = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        return np.clip(array / scale, 0, 1)[..., None]
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        return np.clip(array / (255.0 if array.max() > 1 else 1.0), 0, 1)[..., None]
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode in ("1", "L"):
        image = image.convert("L")
    elif mode != "RGB":
        image = image.convert("RGB")
    array = np.asarray(image, dtype=np.float32) / 255.0
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
    """Bilinear resize (through Pillow, per channel in float mode); center-crop keeps aspect."""
    h, w = array.shape[:2]
    if crop:
        scale = max(height / h, width / w)  # resize the short side, then crop the centre
        new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    else:
        new_h, new_w = height, width
    channels = [
        np.asarray(Image.fromarray(array[..., c]).resize((new_w, new_h), Image.Resampling.BILINEAR))
        for c in range(array.shape[2])
    ]
    out = np.stack(channels, axis=2)
    if crop:
        top, left = (new_h - height) // 2, (new_w - width) // 2
        out = out[top : top + height, left : left + width]
    return np.clip(out, 0.0, 1.0)


def load_image(path: str | Path, spec: ModelSpec) -> torch.Tensor:
    """One image file as a (C, H, W) tensor ready for a Classifier with this spec."""
    import torch

    assert spec.input_shape is not None
    max_side = max(spec.input_shape[1:])
    return torch.from_numpy(fit_to_spec(read_image(path, max_side=max_side), spec))


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
