"""Small labelled sets copied from the demo images, for the end-to-end command tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from advinspect.core.data.demo import DEMO_SAMPLES


def small_set_at(root: Path, per_class: int) -> Path:
    """A folder-per-class copy of the first `per_class` demo images of each digit."""
    for folder in sorted(DEMO_SAMPLES.iterdir()):
        (root / folder.name).mkdir(parents=True)
        for png in sorted(folder.glob("*.png"))[:per_class]:
            (root / folder.name / png.name).write_bytes(png.read_bytes())
    return root


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return small_set_at(tmp_path_factory.mktemp("set"), 2)


def _bars_folder(root: Path, n: int, seed: int) -> Path:
    from advinspect.core.data.images import save_png
    from tests.backdoor_data import bars

    x, y = bars(n, seed)
    for i, (image, label) in enumerate(zip(x.numpy(), y, strict=True)):
        save_png(image, root / "abc"[label] / f"{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def poisoned_out(tmp_path_factory) -> tuple[Path, Path]:
    """`advinspect poison` on a tiny three-class folder set, run once for the poison, sanitize and
    scan CLI tests: (its output folder, the clean test folder)."""
    from advinspect.cli import main
    from tests.backdoor_data import ARCH

    base = tmp_path_factory.mktemp("poison")
    train, test = _bars_folder(base / "train", 30, 0), _bars_folder(base / "test", 10, 1)
    out = base / "out"
    code = main(["poison", str(train), "--arch", ARCH, "--test", str(test), "--ratio", "0.2", "--trigger-size", "2",
                 "--epochs", "8", "--lr", "0.01", "--batch-size", "16", "--baseline", "--out", str(out)])
    assert code == 0
    return out, test
