"""`advinspect certify` end to end on real files, streamed batch by batch."""

from __future__ import annotations

import json
import shutil

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL
from tests.streaming import count_alive, image_folder, tiny_model_file

FLAGS = ["--n0", "8", "--n", "32", "--batch-size", "16", "--seed", "3", "--workers", "0"]


def test_certify(small_set, tmp_path):
    assert main(["certify", str(DEMO_MODEL), str(small_set), "--n0", "20", "--n", "100", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "certification.json").read_text())
    assert len(data["radii"]) == 20 and data["sigma"] == 0.25
    assert sum(r > 0 for r in data["radii"]) >= 10
    assert "Randomized smoothing" in (tmp_path / "report.html").read_text()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, folder of 24 labelled 8x8 images, the rows of the in-memory run on them)."""
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.models import load_model
    from advinspect.core.tasks import certify
    from advinspect.core.tasks.base import Images, make_config

    root = tmp_path_factory.mktemp("certify")
    model, folder = tiny_model_file(root), image_folder(root / "set", 24)
    clf = load_model(model, device="cpu")
    images = Images.from_batch(load_images(collect_images([folder], clf.spec), clf.spec))
    config = make_config(certify.Config, {"n0": 8, "n": 32, "batch_size": 16, "seed": 3})
    return model, folder, certify.run(certify.Inputs(clf, images), config).rows


def _run(model, folder, out, *extra):
    assert main(["certify", str(model), str(folder), *FLAGS, *extra, "--out", str(out)]) == 0
    return json.loads((out / "certification.json").read_text())


@pytest.mark.parametrize("image_batch", ["7", "64"])
def test_streamed_rows_equal_the_in_memory_rows(tiny, tmp_path, image_batch):
    model, folder, rows = tiny
    data = _run(model, folder, tmp_path, "--image-batch", image_batch)
    assert data["samples"] == rows and len(rows) == 24
    assert data["radii"] == [r["radius"] for r in rows] and data["errors"] == []
    assert (tmp_path / "report.html").exists() and data["provenance"]["command"].startswith("advinspect certify")


def test_a_broken_file_is_skipped_with_one_line_and_the_others_keep_their_rows(tiny, tmp_path, capsys):
    model, folder, rows = tiny
    broken = shutil.copytree(folder, tmp_path / "set")
    victim = rows[5]["file"]
    (broken / victim).write_bytes(b"not a png")
    capsys.readouterr()
    data = _run(model, broken, tmp_path / "out", "--image-batch", "7")
    err = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(err) == 1 and victim.split("/")[-1] in err[0]
    assert data["samples"] == rows[:5] + rows[6:]  # global indices and noise unchanged
    assert len(data["errors"]) == 1 and data["summary"]["n"] == 23


def test_only_a_batch_of_images_is_decoded_at_a_time(tiny, tmp_path, monkeypatch):
    import advinspect.core.data
    from advinspect.core.data.stream import ImageStream

    def refuse(*args, **kwargs):
        raise AssertionError("the whole set was decoded at once")

    monkeypatch.setattr(advinspect.core.data, "load_images", refuse)
    counter = count_alive(monkeypatch, ImageStream)
    model, folder, rows = tiny
    data = _run(model, folder, tmp_path, "--image-batch", "5")
    assert len(data["samples"]) == 24 and counter.batches == 5
    assert counter.peak <= 10  # two batches of 5 at the most, never the 24


def test_unlabelled_images_fail_before_any_work(tiny, tmp_path, capsys):
    model, folder, _ = tiny
    assert main(["certify", str(model), str(folder / "a" / "000.png"), "--out", str(tmp_path / "o")]) == 1
    assert "needs labels" in capsys.readouterr().err and not (tmp_path / "o").exists()
