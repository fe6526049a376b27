"""`advinspect defend` end to end on real files."""

from __future__ import annotations

import json

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL


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
