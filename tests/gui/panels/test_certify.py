"""Certify dock: randomized smoothing on the selection; the form is certify.Config and the status
line is certify.Result.summary_text() (the median radius, as `advinspect certify` prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from advinspect.cli.main import main as cli_main
from advinspect.core.data.demo import DEMO_MODEL
from advinspect.gui.main_window import MainWindow
from tests.gui.panels._images import open_copies

JOB_TIMEOUT_MS = 60_000


def test_certify_shows_what_the_cli_prints(qtbot, window: MainWindow, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    s = window.session
    panel = window.certify_panel
    assert panel.form.field_names() == ["sigma", "n0", "n", "alpha", "batch_size", "seed"]
    folder = open_copies(qtbot, window, [0, 1, 2, 90], tmp_path / "images")  # 90: misclassified
    window.images_panel.select(list(range(4)))
    panel.form.set_values({"n0": 20, "n": 200, "sigma": "0.25"})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    c = blocker.args[0].certification
    assert len(c.radii) == 4 and c.n == 200 and c.sigma == pytest.approx(0.25)
    assert any(ok and r > 0 for r, ok in zip(c.radii, c.correct, strict=True))
    assert "median radius" in panel.status.text()
    assert panel.plot.getPlotItem().listDataItems()
    capsys.readouterr()
    code = cli_main(["certify", str(DEMO_MODEL), str(folder), "--n0", "20", "--n", "200", "--sigma", "0.25",
                     "--device", "cpu", "--out", str(tmp_path / "cli")])
    assert code == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("wrote ")]
    assert panel.status.text().split("\n") == printed
    assert s.count == 4
    # another model file opened: the panel no longer shows the previous model's result
    with qtbot.waitSignal(s.model_changed, timeout=JOB_TIMEOUT_MS):
        s.open_model(str(DEMO_MODEL))
    assert panel.status.text() == "" and panel.result is None
    assert all(len(item.xData if item.xData is not None else []) == 0
               for item in panel.plot.getPlotItem().listDataItems())


def test_cancel_shows_the_partial_result_marked_cancelled(qtbot, window: MainWindow) -> None:
    panel = window.certify_panel
    window.images_panel.select(list(range(40)))
    panel.form.set_values({"n0": 20, "n": 1000, "batch_size": 500})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
        qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=JOB_TIMEOUT_MS)
        panel.cancel_button.click()
    result = blocker.args[0]
    assert result.cancelled and len(result.certification.radii) < 40
    assert panel.progress.format() == "cancelled"
    assert panel.status.text().endswith("cancelled: the certificates cover the images finished so far")
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
