"""Generator dock: train-generator on the worker with progress and cancel, the generator saved as
TorchScript with its sidecar, then offered to the Defend dock as purify:GENERATOR and applied."""

from __future__ import annotations

import dataclasses

from advinspect.core.defenses.purify import load_generator
from advinspect.core.tasks import train_generator
from advinspect.gui.main_window import MainWindow

JOB_TIMEOUT_MS = 60_000


def test_train_a_generator_offer_it_for_purify_and_apply_it(qtbot, window: MainWindow, tmp_path) -> None:
    panel, s = window.train_generator_panel, window.session
    panel.form.set_values({"latent_dim": 4, "epochs": 2, "batch_size": 150})
    panel.data.setCurrentIndex(1)  # the session's 450 demo test images, at the model's shape
    path = tmp_path / "g.pt"
    panel.path.setText(str(path))
    steps = []
    s.runner.job_progress.connect(lambda job, e: steps.append(e.step) if job.name == "train generator" else None)
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    trained = blocker.args[0]
    assert not trained.cancelled and trained.path == path
    assert steps and max(steps) == 2 * 3  # progress per batch: 2 epochs × 3 batches of 150
    assert len(trained.result.generator.history) == 2
    g = load_generator(path)  # TorchScript + sidecar, as the CLI writes it
    assert g.latent_dim == 4 and g.shape == tuple(s.spec.input_shape)
    assert panel.status.text().splitlines()[-1] == f"saved {path}; use it as --defense purify:{path}"
    assert panel.last_run is not None and panel.last_run.verb == "train_generator"
    assert panel.image.image is not None  # G(z) samples shown
    assert panel.path.text() != str(path)  # the next run will not overwrite this one
    assert panel.use_button.isEnabled()
    panel.use_button.click()
    defend = window.defend_panel
    assert defend.defense_text() == f"purify:{path}"
    defend.set_defense(f"purify:{path}", purify_restarts=1, purify_steps=2)
    with qtbot.waitSignal(s.defense_changed, timeout=JOB_TIMEOUT_MS):
        defend.apply_button.click()
    assert s.base_clf is not None and "purify by g.pt (R 1 × L 2)" in s.clf.format


def test_bad_path_then_cancel_keeps_the_partial_result_and_saves_nothing(qtbot, window: MainWindow, tmp_path,
                                                                         dialog_log) -> None:
    panel, s = window.train_generator_panel, window.session
    assert panel.form.field_names() == [f.name for f in dataclasses.fields(train_generator.Config)]
    assert window.dockWidgetArea(panel) == window.dockWidgetArea(window.attack_panel)  # tabbed with the Attack dock
    panel.path.setText("")
    panel.run_button.click()
    assert dialog_log.errors[-1][1] == "give a file to save the generator to" and not panel.running
    panel.form.set_values({"latent_dim": 4, "epochs": 10_000, "batch_size": 450})
    panel.data.setCurrentIndex(1)
    path = tmp_path / "never.pt"
    panel.path.setText(str(path))
    first = []

    def cancel_once(job, event) -> None:
        if job.name == "train generator" and not first:
            first.append(event.step)
            panel.cancel_button.click()

    s.runner.job_progress.connect(cancel_once)
    with qtbot.waitSignal(panel.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    trained = blocker.args[0]
    assert trained.cancelled and trained.path is None and not path.exists()
    assert len(trained.result.generator.history) < 10_000
    assert panel.progress.format() == "cancelled"
    assert panel.status.text().splitlines()[-1] == "cancelled: the generator is partly trained"
    assert not panel.use_button.isEnabled()

