"""Sets of images: files, folders, folder-per-class trees (labels from folder names), the demo set."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from advinspect.core.data.images import IMAGE_SUFFIXES, load_image
from advinspect.core.errors import AdvInspectError, ImageLoadError, ModelLoadError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.spec import ModelSpec

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ImageItem:
    """One image file; `name` is its path relative to what the user gave (used for outputs)."""

    path: Path
    name: str
    label: int | None = None


@dataclass
class ImageBatch:
    """Loaded images (N, C, H, W) with labels (-1 where unknown) and the files that failed."""

    items: list[ImageItem]
    x: torch.Tensor
    labels: torch.Tensor
    errors: list[str] = field(default_factory=list)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def __len__(self) -> int:
        return len(self.items)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise AdvInspectError(f"cannot read folder {folder}: {exc.strerror or exc}") from None


def _images_in(folder: Path) -> list[Path]:
    return [p for p in _entries(folder) if _is_image(p)]


def collect_images(paths: Iterable[str | Path], spec: ModelSpec | None = None) -> list[ImageItem]:
    """Expand files and folders into items. A folder whose subfolders hold images is read as a
    folder-per-class set: each subfolder name is a label name (or a class index)."""
    items: list[ImageItem] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            items.append(ImageItem(path, path.name))
        elif path.is_dir():
            items.extend(_collect_folder(path, spec))
        else:
            raise AdvInspectError(f"no such file or folder: {path}")
    return items


def _collect_folder(folder: Path, spec: ModelSpec | None) -> list[ImageItem]:
    class_dirs = [d for d in _entries(folder) if d.is_dir() and not d.name.startswith(".")]
    class_dirs = [d for d in class_dirs if _images_in(d)]
    items = [ImageItem(p, p.name) for p in _images_in(folder)]
    for directory in class_dirs:
        label = _folder_label(directory.name, spec)
        items.extend(ImageItem(p, f"{directory.name}/{p.name}", label) for p in _images_in(directory))
    return items


def _folder_label(name: str, spec: ModelSpec | None) -> int | None:
    if spec is None:
        return int(name) if name.isdigit() else None
    try:
        return spec.label_index(name)
    except ModelLoadError:
        raise AdvInspectError(
            f"class folder {name!r} matches no label of the model; rename it to a label name or a class index"
        ) from None


def load_images(
    items: list[ImageItem],
    spec: ModelSpec,
    *,
    progress: Progress = NO_PROGRESS,
    cancel: CancelToken = NEVER,
) -> ImageBatch:
    """Load every item; a file that fails (corrupt, hostile, too large, NaN pixels) is one line
    in `errors` and the rest still load."""
    import torch

    assert spec.input_shape is not None
    tensors, kept, errors = [], [], []
    for index, item in enumerate(items):
        if cancel.cancelled:
            break
        try:
            tensors.append(load_image(item.path, spec))
            kept.append(item)
        except ImageLoadError as exc:
            errors.append(str(exc))
        progress(index + 1, len(items), f"loaded {item.name}")
    x = torch.stack(tensors) if tensors else torch.empty(0, *spec.input_shape)
    labels = torch.tensor([-1 if i.label is None else i.label for i in kept], dtype=torch.long)
    return ImageBatch(kept, x, labels, errors)
