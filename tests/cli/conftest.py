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
