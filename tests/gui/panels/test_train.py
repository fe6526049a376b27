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
