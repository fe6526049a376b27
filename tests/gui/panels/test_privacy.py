"""Privacy dock: membership, extraction and inversion tabs on the demo model; the status line is
the verb's summary_text() (as the CLI prints it), the plots are drawn, a cancel shows the partial
result marked cancelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from advinspect.cli.main import main as cli_main
from advinspect.core.data.demo import DEMO_MODEL
from advinspect.core.tasks import extract, invert, membership
from advinspect.gui.main_window import MainWindow
from tests.cli.privacy_sets import digit_folders
from tests.core.privacy import fixtures

JOB_TIMEOUT_MS = 120_000
one_thread = fixtures.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")


def run_tab(qtbot, panel, verb: str, values: dict):
    panel.show_verb(verb)
    panel.forms[verb].set_values(values)
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    return blocker.args[0]


def test_membership_tab_draws_the_roc_on_log_axes(qtbot, window: MainWindow, tmp_path: Path) -> None:
    panel = window.privacy_panel
    assert [panel.tabs.tabText(i) for i in range(3)] == ["membership", "extract", "invert"]
    assert panel.forms["membership"].field_names()[:2] == ["attack", "reference_models"]
    panel.members.setText(str(digit_folders(tmp_path / "m", "train", 10)))
    panel.non_members.setText(str(digit_folders(tmp_path / "n", "test", 10)))
    result = run_tab(qtbot, panel, "membership", {"attack": "threshold", "bootstrap": 20})
    assert isinstance(result, membership.Result) and list(result.metrics) == ["threshold"]
    assert panel.status.text().split("\n") == result.summary_text()
    assert "members positive" in panel.status.text()
    assert panel.roc.getPlotItem().ctrl.logXCheck.isChecked() and panel.roc.getPlotItem().ctrl.logYCheck.isChecked()
    assert len(panel.roc.getPlotItem().listDataItems()) == 2  # the attack and the chance line


def test_membership_needs_both_folders(qtbot, window: MainWindow, dialog_log) -> None:
    panel = window.privacy_panel
    panel.show_verb("membership")
    panel.run_button.click()
    assert dialog_log.errors[-1][1] == "membership needs a members folder and a non-members folder"
    assert panel.run_button.isEnabled()


def test_extract_tab_draws_fidelity_per_budget(qtbot, window: MainWindow, tmp_path: Path) -> None:
    panel = window.privacy_panel
    panel.pool.setText(str(digit_folders(tmp_path / "pool", "train", 5)))
    result = run_tab(qtbot, panel, "extract", {"budget": 100, "checkpoints": "50", "epochs": 2,
                                               "transfer_images": 10, "thief_arch": "mlp"})
    assert isinstance(result, extract.Result) and [r["queries"] for r in result.rows] == [50, 100]
    assert len(panel.fidelity.getPlotItem().listDataItems()) == 2
    assert panel.status.text().split("\n") == result.summary_text()


def test_invert_tab_shows_the_grid_as_the_cli_prints(qtbot, window: MainWindow, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    panel = window.privacy_panel
    result = run_tab(qtbot, panel, "invert", {"classes": "0,1", "max_steps": 100})
    assert isinstance(result, invert.Result) and result.classes == [0, 1]
    assert panel.grid_image.image is not None and panel.grid_image.image.shape[1] > 60  # two 32-px tiles
    capsys.readouterr()
    assert cli_main(["invert", str(DEMO_MODEL), "--classes", "0,1", "--max-steps", "100", "--device", "cpu",
                     "--out", str(tmp_path / "cli")]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("wrote ")]
    assert panel.status.text().split("\n") == printed


def test_cancel_shows_the_partial_result(qtbot, window: MainWindow, tmp_path: Path) -> None:
    panel = window.privacy_panel
    panel.show_verb("extract")
    panel.pool.setText("")
    panel.forms["extract"].set_values({"budget": 20000, "checkpoints": "", "round_size": 10, "epochs": 1})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
        qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=JOB_TIMEOUT_MS)
        panel.cancel_button.click()
    result = blocker.args[0]
    # checkpoints finished before the cancel are kept (how many depends on the machine's speed)
    assert result.cancelled and all(row["queries"] < 20000 for row in result.rows)
    assert panel.progress.format() == "cancelled"
    assert panel.status.text().endswith("cancelled: the checkpoints finished before the cancel are reported")
