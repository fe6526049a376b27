"""`advinspect train` end to end on real files."""

from __future__ import annotations

import json

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_SAMPLES


@pytest.mark.slow  # seconds of training, a full report or 20 GUI round trips: `make test` runs it
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
