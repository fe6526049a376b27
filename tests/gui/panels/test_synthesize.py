"""Synthesis dock: the form is synthesize.Config, the A/B and judge come from the session's
models, previews arrive while drawing, and the status line is what `advinspect synthesize` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from advinspect.cli.main import main as cli_main
from advinspect.core.data.demo import DEMO_MODEL
from advinspect.gui.main_window import MainWindow
from tests.gui.panels._images import open_copies

JOB_TIMEOUT_MS = 60_000


def test_synthesis_shows_what_the_cli_prints(qtbot, window: MainWindow, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    panel = window.synthesize_panel
    assert panel.form.field_names() == ["mode", "classes", "per_class", "seed_kind", "seed_size", "steps", "eps",
                                        "step_size", "layer", "batch_size", "seed"]
    folder = open_copies(qtbot, window, [0, 1, 50, 51, 100, 101], tmp_path / "images")  # two each of 0, 1, 2
    window.session.add_model("again", window.session.clf)
    assert [panel.compare.itemText(i) for i in range(panel.compare.count())] == ["none", "again"]
    panel.compare.setCurrentText("again")
    panel.judge.setCurrentText("again")
    panel.form.set_values({"classes": "0,1", "per_class": 2, "steps": 5})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    assert [r.name for r in result.runs] == ["model", "again"] and result.targets.tolist() == [0, 0, 1, 1]
    assert panel.image.image is not None and panel.image.image.shape[1] > 2 * 34  # seeds + two grids
    capsys.readouterr()
    code = cli_main(["synthesize", str(DEMO_MODEL), str(folder), "--classes", "0,1", "--per-class", "2",
                     "--steps", "5", "--compare", str(DEMO_MODEL), "--judge", str(DEMO_MODEL), "--device", "cpu",
                     "--out", str(tmp_path / "cli")])
    assert code == 0
    printed = [line.replace("compare:", "again:") for line in capsys.readouterr().out.splitlines()
               if line and not line.startswith("wrote ")]
    assert panel.status.text().split("\n") == printed


def test_a_bad_class_is_shown_not_run(qtbot, window: MainWindow, dialog_log) -> None:
    panel = window.synthesize_panel
    panel.form.set_values({"classes": "zebra", "steps": 1})
    with qtbot.waitSignal(panel.failed, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    assert "class 'zebra' is not one of the model's classes" in panel.status.text()
