"""Train dock: the form is the whole train.Config; live per-epoch curves; the trained model can
be compared (the session offers it) and used."""

from __future__ import annotations

from advinspect.core.defenses.training_config import TrainingConfig
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import LOAD_TIMEOUT_MS

JOB_TIMEOUT_MS = 120_000


def test_the_form_is_the_config(window: MainWindow) -> None:
    panel = window.train_panel
    import dataclasses

    assert panel.form.field_names() == [f.name for f in dataclasses.fields(TrainingConfig) if f.name != "device"]
    panel.form.set_values({"defense": "trades", "eps": "8/255", "epochs": 2})
    config = panel.form.config(device="cpu")
    assert config.defense == "trades" and config.eps == 8 / 255 and config.epochs == 2 and config.device == "cpu"


def test_train_a_defense_and_use_it(qtbot, window: MainWindow) -> None:
    panel = window.train_panel
    s = window.session
    panel.form.set_values({"defense": "standard", "epochs": 2})
    panel.limit.setValue(300)
    previews = []
    s.runner.job_progress.connect(lambda job, e: previews.append(e.preview) if job.name == "train defense" else None)
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    trained = blocker.args[0]
    result = trained.result
    assert not result.cancelled
    assert [h["epoch"] for h in result.training.history] == [1, 2]
    assert any(isinstance(p, dict) and p.get("history") for p in previews)  # live per-epoch curves
    assert list(panel.curves["val_clean_accuracy"].xData) == [1.0, 2.0]
    assert panel.status.text() == "\n".join(result.summary_text())
    assert s.models == {"trained (standard)": trained.clf}
    compare_names = [window.compare_panel.model_list.item(i).text()
                     for i in range(window.compare_panel.model_list.count())]
    assert "trained (standard)" in compare_names
    with qtbot.waitSignal(s.ready, timeout=LOAD_TIMEOUT_MS):
        panel.use_button.click()
    assert s.clf is trained.clf and s.count == 450


def test_dro_training_plots_the_certificate_against_the_empirical_worst_case(qtbot, window: MainWindow) -> None:
    panel = window.train_panel
    assert not panel.certificate_plot.isVisibleTo(panel)  # no certificate before a dro run
    panel.form.set_values({"defense": "dro", "epochs": 1, "dro_gamma": 2.0, "dro_steps": 2, "val_fraction": 0.2,
                           "val_attack_size": 10, "val_pgd_steps": 1})
    panel.data.setCurrentIndex(1)  # the session's labelled images
    panel.limit.setValue(60)
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    curve = blocker.args[0].result.training.certificate
    assert curve is not None and len(curve.rho) == 7
    assert panel.certificate_plot.isVisibleTo(panel)
    bound = panel.certificate_curves["certificate"]
    # the line is gamma·rho + E[phi_gamma] from rho 0 past the largest empirical rho
    assert bound.xData[0] == 0.0 and bound.xData[-1] > max(curve.rho)
    assert bound.yData[0] == curve.phi
    assert abs(bound.yData[-1] - (curve.phi + curve.gamma * bound.xData[-1])) < 1e-6
    empirical = panel.certificate_curves["empirical"]
    assert list(empirical.xData) == [0.0] + sorted(curve.rho)
    assert empirical.yData[0] == curve.clean_loss
    assert sorted(empirical.yData[1:]) == sorted(curve.empirical_loss)
    # a standard run afterwards has no certificate: the plot goes away rather than showing stale data
    panel.form.set_values({"defense": "standard"})
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS):
        panel.run_button.click()
    assert not panel.certificate_plot.isVisibleTo(panel) and len(empirical.xData or []) == 0
