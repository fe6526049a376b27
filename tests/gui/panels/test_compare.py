"""Compare dock: the defended and the undefended model side by side (`core.tasks.compare`), the
form from compare.Config, the table and plot from the Result."""

from __future__ import annotations

from advinspect.core.tasks import compare, defend
from advinspect.gui.main_window import MainWindow

JOB_TIMEOUT_MS = 60_000


def test_compare_defended_and_undefended(qtbot, window: MainWindow) -> None:
    s = window.session
    panel = window.compare_panel
    with qtbot.waitSignal(s.defense_changed, timeout=JOB_TIMEOUT_MS):
        s.apply_defense(defend.Config(defense="bits:4"))
    names = [panel.model_list.item(i).text() for i in range(panel.model_list.count())]
    assert names == ["current model (bits:4)", "undefended model"]
    window.images_panel.select(list(range(20)))
    panel.scope.setCurrentText("selection")
    panel.form.set_values({"attack": "fgsm", "eps": "0,0.2"})
    assert panel.form.config() == compare.Config(attack="fgsm", eps=(0.0, 0.2))
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    result = blocker.args[0]
    rows = result.data["models"]
    assert [r["model"] for r in rows] == names
    assert rows[1]["robust_accuracy"] < rows[1]["clean_accuracy"]
    assert panel.table.rowCount() == 2 and len(panel.plot.getPlotItem().listDataItems()) == 2
    assert panel.status.text() == "\n".join(result.summary_text())
    assert window.errors == []


def test_a_bad_eps_list_is_refused(window: MainWindow) -> None:
    panel = window.compare_panel
    panel.form.set_values({"eps": "0,abc"})
    panel.run()
    assert window.errors and "not a number" in window.errors[-1][1]
    assert panel.job is None
