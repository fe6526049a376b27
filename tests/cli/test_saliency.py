"""`advinspect saliency` end to end on real files."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from tests.streaming import count_alive, image_folder, tiny_model_file


def test_saliency_writes_overlays(tmp_path):
    files = [str(p) for p in sorted((DEMO_SAMPLES / "5").glob("*.png"))[:3]]
    out = tmp_path / "sal"
    assert main(["saliency", str(DEMO_MODEL), *files, "--method", "gradient", "--out", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    assert len(written) == 3 and (out / "saliency.json").exists() and (out / "report.html").exists()
    image = Image.open(written[0])
    assert image.mode == "RGB" and image.size == (32, 32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("saliency")
    return tiny_model_file(root), image_folder(root / "set", 24)


def _run(model, folder, out, *extra):
    assert main(["saliency", str(model), str(folder), "--method", "gradient", "--workers", "0", *extra,
                 "--out", str(out)]) == 0
    data = json.loads((out / "saliency.json").read_text())
    return data, {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def test_overlays_and_rows_do_not_depend_on_the_batch_size(tiny, tmp_path):
    model, folder = tiny
    small, pngs7 = _run(model, folder, tmp_path / "7", "--batch-size", "7")
    large, pngs64 = _run(model, folder, tmp_path / "64", "--batch-size", "64")
    assert small["samples"] == large["samples"] and len(small["samples"]) == 24
    assert pngs7 == pngs64 and sorted(pngs7) == sorted(r["png"] for r in small["samples"])
    assert "Saliency (gradient)" in (tmp_path / "7" / "report.html").read_text()


def test_a_broken_file_is_skipped_with_one_line(tiny, tmp_path, capsys):
    model, folder = tiny
    good, good_pngs = _run(model, folder, tmp_path / "good", "--batch-size", "7")
    broken = shutil.copytree(folder, tmp_path / "set")
    (broken / "b" / "004.png").write_bytes(b"not a png")
    capsys.readouterr()
    data, pngs = _run(model, broken, tmp_path / "out", "--batch-size", "7")
    err = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(err) == 1 and "004.png" in err[0]
    assert data["samples"] == [r for r in good["samples"] if r["file"] != "b/004.png"]
    assert pngs == {k: v for k, v in good_pngs.items() if k != "b/004.png"}


def test_only_a_batch_of_images_is_decoded_at_a_time(tiny, tmp_path, monkeypatch):
    import advinspect.core.data
    from advinspect.core.data.stream import ImageStream

    def refuse(*args, **kwargs):
        raise AssertionError("the whole set was decoded at once")

    monkeypatch.setattr(advinspect.core.data, "load_images", refuse)
    counter = count_alive(monkeypatch, ImageStream)
    model, folder = tiny
    data, pngs = _run(model, folder, tmp_path, "--batch-size", "5")
    assert len(data["samples"]) == len(pngs) == 24 and counter.batches == 5
    assert counter.peak <= 10  # two batches of 5 at the most, never the 24
