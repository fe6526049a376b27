"""`advinspect detect` end to end on real files."""

from __future__ import annotations

import json

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL


def test_detect(small_set, tmp_path, capsys):
    assert main(["detect", str(DEMO_MODEL), str(small_set), "--eps", "0.1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "detection.json").read_text())
    import numpy as np

    assert data["n_clean"] == 20 and data["roc_tpr"][-1] == 1
    assert data["auc"] == pytest.approx(float(np.trapezoid(data["roc_tpr"], data["roc_fpr"])))
    assert data["auc"] > 0.5  # squeezing tells PGD adversarials of the demo CNN from clean digits
    # only the adversarials that fooled the model are scored (the CLI and the GUI agree on this)
    assert data["n_adversarial"] == data["summary"]["n_adversarial"] <= 20
    out = capsys.readouterr().out
    assert f"of {data['n_adversarial']} pgd adversarials that fooled the model" in out
