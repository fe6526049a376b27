"""Defense commands on the demo: --defense on any command, certify, detect, compare."""

from __future__ import annotations

import json

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX, DEMO_SAMPLES


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("set")
    for folder in sorted(DEMO_SAMPLES.iterdir()):
        (root / folder.name).mkdir()
        for png in sorted(folder.glob("*.png"))[:2]:
            (root / folder.name / png.name).write_bytes(png.read_bytes())
    return root


def test_defense_flag_naive_versus_adaptive(small_set, tmp_path):
    common = ["attack", str(DEMO_MODEL), str(small_set), "--defense", "bits:2", "--attack", "pgd", "--eps", "0.1",
              "--steps", "10"]
    assert main([*common, "--out", str(tmp_path / "naive")]) == 0
    assert main([*common, "--adaptive", "--out", str(tmp_path / "adaptive")]) == 0
    naive = json.loads((tmp_path / "naive" / "results.json").read_text())["summary"]["robust_accuracy"]
    adaptive = json.loads((tmp_path / "adaptive" / "results.json").read_text())["summary"]["robust_accuracy"]
    assert adaptive < naive


def test_adaptive_without_defense_is_an_error(small_set, capsys):
    assert main(["info", str(DEMO_MODEL), "--adaptive"]) == 1
    assert "--defense" in capsys.readouterr().err


def test_certify(small_set, tmp_path):
    assert main(["certify", str(DEMO_MODEL), str(small_set), "--n0", "20", "--n", "100", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "certification.json").read_text())
    assert len(data["radii"]) == 20 and data["sigma"] == 0.25
    assert sum(r > 0 for r in data["radii"]) >= 10


def test_detect(small_set, tmp_path, capsys):
    assert main(["detect", str(DEMO_MODEL), str(small_set), "--eps", "0.1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "detection.json").read_text())
    assert 0 <= data["auc"] <= 1 and data["n_clean"] == 20 and data["roc_tpr"][-1] == 1
    assert "ROC AUC" in capsys.readouterr().out


def test_compare_two_models(small_set, tmp_path, capsys):
    assert main(["compare", str(DEMO_MODEL), str(DEMO_ONNX), str(small_set), "--steps", "5", "--eps", "0,0.1",
                 "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "comparison.json").read_text())
    assert [m["model"] for m in data["models"]] == ["digits_cnn.pt2", "digits_cnn.onnx"]
    a, b = data["models"]
    assert a["clean_accuracy"] == b["clean_accuracy"]  # the same network in two formats
    assert (tmp_path / "comparison.png").exists() and (tmp_path / "saliency.png").exists()
    assert "digits_cnn.onnx" in capsys.readouterr().out


def test_train_demo_saves_a_model_that_opens(tmp_path, capsys):
    out = tmp_path / "model.pt"
    assert main(["train", "demo", "--defense", "fgsm", "--epochs", "1", "--eps", "0.1",
                 "--param", "val_attack_size=50", "--out", str(out)]) == 0
    assert "epoch   1" in capsys.readouterr().out
    assert out.exists() and (tmp_path / "model.pt.advinspect.json").exists()
    history = json.loads((tmp_path / "model.pt.training.json").read_text())["history"]
    assert history[0]["val_pgd_accuracy"] is not None
    assert main(["predict", str(out), str(DEMO_SAMPLES / "4")]) == 0
    assert main(["train", "demo", "--out", str(out)]) == 1  # no overwrite without --force


def test_train_folder_needs_an_architecture(small_set, tmp_path, capsys):
    assert main(["train", str(small_set), "--out", str(tmp_path / "m.pt")]) == 1
    assert "--arch" in capsys.readouterr().err
