"""Array helpers for display: model-space (C, H, W) floats to what pyqtgraph and Qt show."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_display(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """(C, H, W) in `value_range` -> (H, W) or (H, W, 3) float32 in [0, 1] (row-major)."""
    lo, hi = value_range
    img = (np.asarray(x, dtype=np.float32) - lo) / (hi - lo)
    img = np.clip(img, 0.0, 1.0)
    if img.shape[0] == 1:
        return img[0]
    if img.shape[0] >= 3:
        return np.ascontiguousarray(img[:3].transpose(1, 2, 0))
    return img.mean(0)


def signed_perturbation(delta: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W): per pixel the channel change of largest magnitude, with its sign,
    so a diverging colormap shows where and in which direction the attack pushed."""
    if delta.shape[0] == 1:
        return delta[0]
    pick = np.abs(delta).argmax(0)
    return np.take_along_axis(delta, pick[None], 0)[0]


def norms(x: np.ndarray, x_adv: np.ndarray, value_range: tuple[float, float]) -> dict[str, float]:
    """Linf, L2, L0 (changed values) and PSNR (dB) of a perturbation, in the model's value space."""
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).ravel()
    span = value_range[1] - value_range[0]
    mse = float(np.mean(delta ** 2)) if delta.size else 0.0
    psnr = float("inf") if mse == 0 else 10 * np.log10(span ** 2 / mse)
    return {
        "linf": float(np.abs(delta).max()) if delta.size else 0.0,
        "l2": float(np.sqrt(np.sum(delta ** 2))),
        "l0": int((np.abs(delta) > 1e-6).sum()),
        "psnr": psnr,
    }


def to_qimage(x: np.ndarray, value_range: tuple[float, float]) -> QImage:
    """One (C, H, W) image at full size as a QImage that owns its pixels (copy / save)."""
    img = (to_display(x, value_range) * 255 + 0.5).astype(np.uint8)
    height, width = img.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if img.ndim == 2 else QImage.Format.Format_RGB888
    data = np.ascontiguousarray(img)
    return QImage(data.tobytes(), width, height, data.strides[0], fmt).copy()


def thumbnail(x: np.ndarray, value_range: tuple[float, float], size: int) -> QPixmap:
    """A QPixmap thumbnail (aspect kept) of one image; made in the GUI thread, on demand."""
    qimg = to_qimage(x, value_range)
    width, height = qimg.width(), qimg.height()
    smooth = max(width, height) > size
    scaled = qimg.scaled(size, size, _keep_aspect(), _transform(smooth))
    return QPixmap.fromImage(scaled)


def _keep_aspect():
    from PySide6.QtCore import Qt

    return Qt.AspectRatioMode.KeepAspectRatio


def _transform(smooth: bool):
    from PySide6.QtCore import Qt

    return Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
