"""`advinspect saliency` end to end on real files."""

from __future__ import annotations

from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES


def test_saliency_writes_overlays(tmp_path):
    files = [str(p) for p in sorted((DEMO_SAMPLES / "5").glob("*.png"))[:3]]
    out = tmp_path / "sal"
    assert main(["saliency", str(DEMO_MODEL), *files, "--method", "gradient", "--out", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == 3
    image = Image.open(written[0])
    assert image.mode == "RGB" and image.size == (32, 32)
