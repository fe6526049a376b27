"""Attack dock: one status vocabulary. For the same model, images and config, the GUI (badges,
filters, the dock's summary lines), `advinspect attack` (stdout and results.json) and the report
(`core.report.build.status`) agree, including the demo images wrong before any attack, which are
"misclassified", never "FLIPPED 8 → 8"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from advinspect.cli.main import main as cli_main
from advinspect.core.data.demo import DEMO_MODEL
from advinspect.core.report.build import status as report_status
from advinspect.core.status import MISCLASSIFIED
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import run_attack
from tests.gui.panels._images import open_copies

WRONG_BEFORE = [90, 100, 187, 227, 300, 386, 435]  # the demo's images its model gets wrong
RIGHT = [0, 1, 2, 3, 4, 5]
TIMING = re.compile(r", [0-9.]+ s on \S+$")  # wall time and device: the only part that may differ


def test_gui_cli_and_report_give_each_image_the_same_status(qtbot, window: MainWindow, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    s = window.session
    assert all(s.prediction(i) != s.label(i) for i in WRONG_BEFORE)  # the premise
    folder = open_copies(qtbot, window, WRONG_BEFORE + RIGHT, tmp_path / "images")
    n = s.count
    outcome = run_attack(qtbot, window, "pgd", {"eps": "0.1", "steps": 5}, list(range(n)))
    gui = {s.images.names[i]: s.status(i) for i in range(n)}
    wrong_names = {s.images.names[i] for i in range(n) if s.prediction(i) != s.label(i)}
    assert len(wrong_names) == len(WRONG_BEFORE)
    assert {name for name, st in gui.items() if st == MISCLASSIFIED} == wrong_names
    for i in range(n):  # the caption under the thumbnail says it too
        assert window.images_panel.model.caption(i).split("\n")[1].startswith(f"{gui[s.images.names[i]]}→")
    wrong = next(i for i in range(n) if s.images.names[i] in wrong_names)
    s.set_current(wrong)
    headline = window.confidence_panel.headline.text()
    assert "misclassified before pgd" in headline and "FLIPPED" not in headline
    window.images_panel.set_filter(MISCLASSIFIED)
    assert sorted(s.images.names[i] for i in window.images_panel.visible_indices()) == sorted(wrong_names)
    shown = window.attack_panel.status.text().split("\n")
    assert shown == outcome.summary_text()

    capsys.readouterr()
    out = tmp_path / "cli"
    code = cli_main(["attack", str(DEMO_MODEL), str(folder), "--attack", "pgd", "--eps", "0.1", "--steps", "5",
                     "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("wrote ")]
    assert [TIMING.sub("", line) for line in printed] == [TIMING.sub("", line) for line in shown]
    rows = json.loads((out / "results.json").read_text())["samples"]
    assert {row["file"]: row["status"] for row in rows} == gui
    assert {row["file"]: report_status(row) for row in rows} == gui
    legacy = [{k: v for k, v in row.items() if k != "status"} for row in rows]  # rows written before the word
    assert {row["file"]: report_status(row) for row in legacy} == gui
