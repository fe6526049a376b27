"""`advinspect compare` end to end on real files."""

from __future__ import annotations

import json
import shutil

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX
from tests.streaming import count_alive, image_folder, tiny_model_file


def test_compare_two_models(small_set, tmp_path, capsys):
    assert main(["compare", str(DEMO_MODEL), str(DEMO_ONNX), str(small_set), "--steps", "5", "--eps", "0,0.1",
                 "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "comparison.json").read_text())
    assert [m["model"] for m in data["models"]] == ["digits_cnn.pt2", "digits_cnn.onnx"]
    a, b = data["models"]
    assert a["clean_accuracy"] == b["clean_accuracy"]  # the same network in two formats
    assert (tmp_path / "comparison.png").exists() and (tmp_path / "saliency.png").exists()
    assert len(data["samples"]) == 20 and (tmp_path / "report.html").exists()
    assert "digits_cnn.onnx" in capsys.readouterr().out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(two model files, a folder of 24 labelled 8x8 images, the in-memory run's rows on them)."""
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.models import load_model
    from advinspect.core.tasks import compare
    from advinspect.core.tasks.base import Images, make_config

    root = tmp_path_factory.mktemp("compare")
    paths = [tiny_model_file(root, 0), tiny_model_file(root, 1)]
    folder = image_folder(root / "set", 24)
    models = {p.name: load_model(p, device="cpu") for p in paths}
    images = Images.from_batch(load_images(collect_images([folder], models["tiny0.pt"].spec),
                                           models["tiny0.pt"].spec))
    config = make_config(compare.Config, {"attack": "fgsm", "eps": "0,0.2"})  # seeded attacks: tests/core/tasks
    return paths, folder, compare.run(compare.Inputs(models, images), config)


def _run(tiny, folder, out, *extra):
    paths = tiny[0]
    assert main(["compare", *map(str, paths), str(folder), "--attack", "fgsm", "--eps", "0,0.2",
                 "--workers", "0", *extra, "--out", str(out)]) == 0
    return json.loads((out / "comparison.json").read_text())


@pytest.mark.parametrize("batch_size", ["7", "64"])
def test_streamed_rows_equal_the_in_memory_rows(tiny, tmp_path, batch_size):
    data = _run(tiny, tiny[1], tmp_path, "--batch-size", batch_size)
    assert data["samples"] == tiny[2].rows and len(data["samples"]) == 24
    assert data["models"] == tiny[2].data["models"] and data["errors"] == []
    assert "Model comparison" in (tmp_path / "report.html").read_text()


def test_a_broken_file_is_skipped_with_one_line(tiny, tmp_path, capsys):
    broken = shutil.copytree(tiny[1], tmp_path / "set")
    victim = tiny[2].rows[9]["file"]
    (broken / victim).write_bytes(b"not a png")
    capsys.readouterr()
    data = _run(tiny, broken, tmp_path / "out", "--batch-size", "7")
    err = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(err) == 1 and victim.split("/")[-1] in err[0]
    assert data["samples"] == tiny[2].rows[:9] + tiny[2].rows[10:]
    assert len(data["errors"]) == 1


def test_only_a_batch_of_images_is_decoded_at_a_time(tiny, tmp_path, monkeypatch):
    import advinspect.core.data
    from advinspect.core.data.stream import ImageStream

    def refuse(*args, **kwargs):
        raise AssertionError("the whole set was decoded at once")

    monkeypatch.setattr(advinspect.core.data, "load_images", refuse)
    counter = count_alive(monkeypatch, ImageStream)
    data = _run(tiny, tiny[1], tmp_path, "--batch-size", "5")
    assert len(data["samples"]) == 24 and counter.batches == 5
    assert counter.peak <= 10  # two batches of 5 at the most, never the 24
