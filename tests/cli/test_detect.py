"""`advinspect detect` end to end on real files."""

from __future__ import annotations

import json

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL


def test_detect(small_set, tmp_path, capsys):
    assert main(["detect", str(DEMO_MODEL), str(small_set), "--eps", "0.1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "detection.json").read_text())
    assert 0 <= data["auc"] <= 1 and data["n_clean"] == 20 and data["roc_tpr"][-1] == 1
    assert "ROC AUC" in capsys.readouterr().out
