"""Image loading into tensors in [0,1]; folder-per-class sets; the demo set."""

from advinspect.core.data.datasets import ImageBatch, ImageItem, collect_images, load_images
from advinspect.core.data.images import load_image, read_image, save_png

__all__ = ["ImageBatch", "ImageItem", "collect_images", "load_image", "load_images", "read_image", "save_png"]
