"""The analyst's workbench (issue 12), one test per numbered workflow and the workspace round trip:
1+2. a state_dict and a TorchScript file without a sidecar open through the model dialog;
3. Train is off with its reason on ONNX, and Save model as… writes a file that reopens;
4. every result is kept as a run: two attacks and an evaluation survive each other, runs are
   compared, an evaluation's bin opens that evaluation's own adversarials;
5. the first window fits a 1280×800 screen;
and a workspace saved, closed and reopened gives the same runs with the same numbers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt

from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX
from advinspect.core.models import load_model
from advinspect.core.models.spec import read_sidecar, sidecar_path, write_sidecar
from advinspect.core.save_model import save_model
from advinspect.gui import model_dialog
from advinspect.gui.main_window import MainWindow, first_size
from tests.gui.conftest import LOAD_TIMEOUT_MS, run_attack

STATE_DICT = DEMO_MODEL.parent / "digits_cnn_state_dict.pt"
EVAL_TIMEOUT_MS = 120_000


class DialogAnswers:
    """Stands in for the model dialog: records what it was asked, answers from a list."""

    def __init__(self, answers: list[dict]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str, dict]] = []

    def __call__(self, parent, path: str, message: str, tried: dict) -> dict | None:
        self.asked.append((path, message, dict(tried)))
        return self.answers.pop(0) if self.answers else None


def _open(qtbot, window: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(window.session.model_changed, timeout=LOAD_TIMEOUT_MS):
        window.session.open_model(str(path))


def test_state_dict_and_bare_torchscript_open_through_the_model_dialog(qtbot, window: MainWindow, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    s = window.session
    spec = s.clf.spec
    # 1. a state_dict whose sidecar gives the spec but not the architecture: the dialog asks for it
    weights = tmp_path / STATE_DICT.name
    shutil.copy(STATE_DICT, weights)
    write_sidecar(weights, read_sidecar(STATE_DICT))
    answers = DialogAnswers([{"arch": "advinspect.zoo.digits:DigitsCNN"}])
    monkeypatch.setattr(model_dialog, "ask_model_options", answers)
    _open(qtbot, window, weights)
    assert "architecture" in answers.asked[0][1] and answers.asked[0][0] == str(weights)
    assert s.model_path == str(weights) and s.info["format"].startswith("state_dict+")
    assert window.errors == []
    assert s.model_config == {"arch": "advinspect.zoo.digits:DigitsCNN"}
    # the same predictions as the demo's .pt2 (the same weights)
    accuracy = float((s.probs.argmax(1) == s.images.labels).mean())
    assert accuracy > 0.9
    # reopening remembers what the file needed: no second question; the sidecar now names it too
    _open(qtbot, window, weights)
    assert len(answers.asked) == 1
    assert json.loads(sidecar_path(weights).read_text())["arch"] == "advinspect.zoo.digits:DigitsCNN"
    # 2. TorchScript without a sidecar: a wrong shape first (the dialog comes back naming it), then right
    bare = save_model(s.clf, tmp_path / "bare.pt")
    sidecar_path(bare).unlink()
    right = {"input_shape": "1,32,32", "mean": ",".join(map(str, spec.mean)), "std": ",".join(map(str, spec.std))}
    answers = DialogAnswers([{"input_shape": "1,28,28"}, right])
    monkeypatch.setattr(model_dialog, "ask_model_options", answers)
    _open(qtbot, window, bare)
    assert "input shape" in answers.asked[0][1]
    assert "(2, 1, 28, 28)" in answers.asked[1][1]  # the loader's own message names the shape it tried
    assert answers.asked[1][2]["input_shape"] == "1,28,28"  # pre-filled with what was tried
    assert s.model_path == str(bare) and read_sidecar(bare).input_shape == (1, 32, 32)  # saved as the sidecar
    assert float((s.probs.argmax(1) == s.images.labels).mean()) == pytest.approx(accuracy)
    # Grad-CAM cannot hook a TorchScript model's layers: offered disabled, with the reason
    box = window.saliency_panel.method_box
    row = box.findData("gradcam")
    assert row >= 0 and not box.model().item(row).isEnabled() and box.currentData() != "gradcam"
    assert "TorchScript" in box.itemData(row, Qt.ItemDataRole.ToolTipRole)
    # cancelling the dialog leaves the session as it was, with a line in the log
    monkeypatch.setattr(model_dialog, "ask_model_options", DialogAnswers([]))
    other = tmp_path / "other.pt"
    shutil.copy(STATE_DICT, other)
    s.open_model(str(other))
    qtbot.waitUntil(lambda: not s.busy, timeout=LOAD_TIMEOUT_MS)
    assert s.model_path == str(bare) and window.errors == []


def test_train_off_on_onnx_and_save_model_as(qtbot, window: MainWindow, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    s = window.session
    # the broken-images dialog comes after the Images dock knows the new set (no stale rows)
    folder = tmp_path / "set" / "3"
    folder.mkdir(parents=True)
    for path in sorted((Path(s.images.paths[0]).parent.parent / "3").glob("*.png"))[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "broken.png").write_bytes(b"not an image")
    seen: list[tuple[list[int], int]] = []
    from advinspect.gui import dialogs

    monkeypatch.setattr(dialogs, "show_error", lambda *a: seen.append((window.images_panel.visible_indices(),
                                                                       s.count)))
    with qtbot.waitSignal(s.error, timeout=LOAD_TIMEOUT_MS):
        s.open_images([str(tmp_path / "set")])
    assert seen == [([0, 1], 2)]
    window.errors.clear()
    train = window.train_panel
    assert train.run_button.isEnabled() and window.save_model_action.isEnabled()
    saved = tmp_path / "copy.pt2"
    window.save_model(str(saved))
    qtbot.waitUntil(lambda: saved.exists() and not s.busy, timeout=LOAD_TIMEOUT_MS)
    assert window.errors == [] and read_sidecar(saved) == s.clf.spec
    assert load_model(saved, device="cpu").spec.input_shape == (1, 32, 32)
    _open(qtbot, window, DEMO_ONNX)
    assert not train.run_button.isEnabled() and "ONNX" in train.run_button.toolTip()
    assert "ONNX" in train.status.text()
    assert not window.save_model_action.isEnabled() and "ONNX" in window.save_model_action.statusTip()


def test_results_are_kept_as_runs_and_compared(qtbot, window: MainWindow, tmp_path: Path) -> None:
    s = window.session
    fgsm = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0, 1, 2])
    pgd = run_attack(qtbot, window, "pgd", {"eps": "0.1", "steps": 3}, [0, 1])
    assert [r.verb for r in s.runs] == ["attack", "attack"]
    first, second = s.runs.runs
    assert first.name == "attack fgsm eps 0.2" and first.result is fgsm and second.result is pgd
    panel = window.runs_panel
    assert panel.list.count() == 2
    panel.select_ids([first.id])  # the older attack is still there: its adversarials, its title
    np.testing.assert_array_equal(s.adversarial(0), fgsm.attack.x_adv[0])
    s.set_current(0)
    assert window.inspector.titles[1].text.startswith("adversarial (attack fgsm eps 0.2)")
    assert window.attack_panel.loss_plot.titleLabel.text.startswith("attack fgsm eps 0.2:")  # its own trace
    with qtbot.waitSignal(panel.compared) as blocker:
        panel.select_ids([first.id, second.id])
    agree = blocker.args[0]
    assert agree["common"] == 2 and agree["same_prediction"] + len(agree["differ"]) >= 2
    assert "2 image(s) in common" in panel.details.text()
    # filter and rename
    panel.filter.setText("pgd")
    assert panel.list.count() == 1
    panel.filter.setText("")
    s.rename_run(second.id, "PGD naive")
    assert panel.list.item(1).text() == "PGD naive"
    # an evaluation is a run too (kept by the TaskPanel hook); its bins open its own adversarials
    ev_panel = window.evaluate_panel
    window.images_panel.select(list(range(10)))
    ev_panel.set_attacks(["pgd"])
    ev_panel.form.set_values({"eps": "0,0.1", "steps": "3", "sanity_checks": False})
    ev_panel.set_scope("selection")
    with qtbot.waitSignal(s.evaluation_changed, timeout=EVAL_TIMEOUT_MS):
        ev_panel.run_button.click()
    evaluation = s.evaluation
    assert [r.verb for r in s.runs] == ["attack", "attack", "evaluate"]
    assert s.runs.runs[2].result is evaluation
    assert s.runs.runs[0].result is fgsm  # nothing wiped
    panel.list.clearSelection()
    s.set_custom_filter("adversarial bin", [3, 4])  # what a histogram-bin click calls
    assert s.selected_run is s.runs.runs[2]
    s.set_current(3)
    np.testing.assert_array_equal(s.adversarial(3), evaluation.evaluation.x_adv[3])
    assert "not attacked" not in window.inspector.titles[1].text
    assert window.errors == []
    # the report of the selected runs: each run, the evaluation's plots, how to reproduce them
    panel.select_ids([r.id for r in s.runs])
    folder = tmp_path / "report"
    window.export_runs_report(str(folder), open_when_done=False)
    qtbot.waitUntil(lambda: (folder / "runs.json").exists() and not s.busy, timeout=LOAD_TIMEOUT_MS)
    html = (folder / "report.html").read_text()
    assert "PGD naive" in html and "attack fgsm eps 0.2" in html and "robustness" in html
    assert f"advinspect attack {DEMO_MODEL}" in html and "--attack fgsm --eps 0.2" in html
    assert "advinspect evaluate" in html and "--attack pgd --eps 0,0.1 --steps 3" in html
    assert json.loads((folder / "runs.json").read_text())["runs"][1]["name"] == "PGD naive"
    panel.select_ids([second.id])
    panel.delete_button.click()
    assert [r.name for r in s.runs] == ["attack fgsm eps 0.2", "evaluate pgd eps 0,0.1"]
    assert panel.list.count() == 2 and s.selected_run is None


def test_first_window_fits_a_1280x800_screen(make_window) -> None:
    width, height = first_size(QRect(0, 0, 1280, 800))
    assert width <= 1280 and height <= 800 - 30  # the frame's title bar comes on top
    assert first_size(QRect(0, 0, 2560, 1440)) == (1440, 900)
    window = make_window(start=False)
    window.resize(width, height)
    hint = window.minimumSizeHint()
    assert hint.width() <= width and hint.height() <= height  # nothing forces the window past the screen
    assert window.size().width() <= width and window.size().height() <= height
    button = window.attack_panel.run_button
    corner = button.mapTo(window, button.rect().bottomRight())
    assert button.isVisible() and window.rect().contains(corner)


def test_workspace_round_trip_same_runs_same_numbers(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    s = window.session
    run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0, 1, 2, 3])
    ev_panel = window.evaluate_panel
    window.images_panel.select(list(range(8)))
    ev_panel.set_attacks(["fgsm"])
    ev_panel.form.set_values({"eps": "0,0.1", "sanity_checks": False})
    ev_panel.set_scope("selection")
    with qtbot.waitSignal(s.evaluation_changed, timeout=EVAL_TIMEOUT_MS):
        ev_panel.run_button.click()
    s.rename_run(s.runs.runs[0].id, "first look")
    folder = tmp_path / "ws"
    assert window.save_workspace(str(folder)) is not None
    before = [(r.name, r.verb, r.summary, r.data, {k: v.copy() for k, v in r.arrays.items()}) for r in s.runs]
    window.close()

    again = make_window(start=False)
    with qtbot.waitSignal(again.session.runs_changed, timeout=LOAD_TIMEOUT_MS):
        again.reopen_workspace_action.trigger()  # the folder saved last, remembered in the settings
    t = again.session
    assert t.model_path == str(DEMO_MODEL) and again.errors == []
    after = [(r.name, r.verb, r.summary, r.data, r.arrays) for r in t.runs]
    assert [a[:4] for a in after] == [b[:4] for b in before]
    for (*_, arrays_before), (*_, arrays_after) in zip(before, after, strict=True):
        assert sorted(arrays_before) == sorted(arrays_after)
        for key in arrays_before:
            np.testing.assert_array_equal(arrays_after[key], arrays_before[key])
    # the evaluation is rebuilt for its plots from the saved arrays: selecting it shows its numbers
    again.runs_panel.select_ids([t.runs.runs[1].id])
    assert t.evaluation is not None and t.evaluation.data == before[1][3]
    assert again.robustness_panel.outcome is t.evaluation
    # Import Results: a CLI evaluation.json becomes a run whose curve the Runs dock draws
    from advinspect.gui.panels.runs import run_curve

    exported = tmp_path / "evaluation.json"
    exported.write_text(json.dumps({**before[1][3], "provenance": {"command": "advinspect evaluate …"}}))
    imported = t.import_run(str(exported))
    assert imported.verb == "evaluate" and len(t.runs) == 3 and again.runs_panel.list.count() == 3
    axis, eps, accuracy = run_curve(imported)
    assert axis == "eps" and eps.tolist() == [0.0, 0.1] and accuracy[0] == pytest.approx(before[1][3]["clean_accuracy"])
    # a changed model file is named, not used: its runs are still shown
    manifest = json.loads((folder / "workspace.json").read_text())
    manifest["model"]["sha256"] = "0" * 64
    (folder / "workspace.json").write_text(json.dumps(manifest))
    third = make_window(start=False)
    third.open_workspace(str(folder))
    assert third.session.clf is None and len(third.session.runs) == 2
    assert third.errors and "has changed since the workspace was saved" in third.errors[0][1]


def test_inspector_shows_whole_equal_images_and_gain_changes_colours_only(qtbot, window: MainWindow,
                                                                         tmp_path: Path) -> None:
    inspector = window.inspector
    run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0])
    window.session.set_current(0)
    qtbot.waitUntil(lambda: inspector.items[2].image is not None)
    sizes = {(round(v.width()), round(v.height())) for v in inspector.views}
    assert len(sizes) == 1  # three equal views

    def whole_image_everywhere() -> bool:
        return all(x0 <= 0 and y0 <= 0 and x1 >= 32 and y1 >= 32
                   for x0, y0, x1, y1 in (inspector.visible_rect(k) for k in range(3)))

    qtbot.waitUntil(whole_image_everywhere)
    ranges = [inspector.visible_rect(k) for k in range(3)]
    image = inspector.items[2].image
    for value in (0, 150, 300, 40):
        inspector.gain.setValue(value)
    assert [inspector.visible_rect(k) for k in range(3)] == ranges  # no zoom
    assert inspector.items[2].image is image  # the same image, other colour levels
    lo, hi = inspector.items[2].getLevels()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(1 / 10 ** 0.4, rel=1e-3)
    # copy and save what each view shows
    from PySide6.QtGui import QGuiApplication

    assert inspector.copy_image(2)
    assert QGuiApplication.clipboard().image().size() == inspector.view_image(2).size()
    saved = inspector.save_image(1, str(tmp_path / "adv.png"))
    from PIL import Image

    assert np.asarray(Image.open(saved).convert("L")).shape == (32, 32)
    inspector.views[0].scaleBy((4, 4))  # the user zooms in; Reset Layout then Fit show everything again
    window.reset_layout()
    inspector.fit()
    qtbot.waitUntil(whole_image_everywhere)


def test_defense_in_the_title_runs_survive_it_and_errors_are_one_line(qtbot, window: MainWindow) -> None:
    s = window.session
    # inline validation: a bad field is outlined as it is typed; eps beyond the value range is flagged
    attack = window.attack_panel
    attack.select_attack("fgsm")
    attack.form.set_values({"eps": "abc"})
    assert attack.form.invalid == "eps" and attack.form_warning.isVisibleTo(attack)
    attack.form.set_values({"eps": "8"})
    assert attack.form.invalid is None and "exceeds the model's value range 0–1" in attack.form_warning.text()
    attack.form.set_values({"eps": "8/255"})
    assert attack.validate() == "" and not attack.form_warning.isVisibleTo(attack)
    images = list(range(6))
    undefended = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images)
    window.defend_panel.set_defense("bits:4", adaptive=False)
    with qtbot.waitSignal(s.defense_changed, timeout=LOAD_TIMEOUT_MS):
        window.defend_panel.apply_button.click()
    assert "[defense: bits:4]" in window.windowTitle() and "bits:4" in window.model_label.text()
    naive = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images)
    assert [r.verb for r in s.runs] == ["attack", "defend", "attack"]
    before, _, after = s.runs.runs
    assert before.result is undefended and after.result is naive and after.defense["text"] == "bits:4"
    window.runs_panel.select_ids([before.id])  # the undefended attack is still there to compare
    np.testing.assert_array_equal(s.adversarial(0), undefended.attack.x_adv[0])
    # the log: one line per error, the details on demand
    log = window.log_panel
    s.log("error", "Cannot open x.pt: broken", "Traceback (most recent call last):\n  line 1\nValueError")
    last = log.view.document().blockCount() - 1
    assert log.view.document().findBlockByNumber(last).text().endswith("broken [double-click for details]")
    assert "ValueError" in log.show_details(last)


def test_trace_plots_the_loss_else_a_margin_else_says_none() -> None:
    from advinspect.gui.panels.attack import trace_value_key

    assert trace_value_key([{"step": 1, "loss": 0.5, "confidence": 0.9}]) == "loss"
    assert trace_value_key([{"step": 1, "loss": None, "margin": 2.0}]) == "margin"
    assert trace_value_key([{"step": 1, "confidence": 0.9}]) is None  # DeepFool: the title says so


def test_images_dock_filters_by_class_and_name_on_a_large_set(qtbot, make_window) -> None:
    from advinspect.core.tasks.base import Images

    window = make_window(start=False)
    s = window.session
    n = 20_000
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 10
    images = Images(rng.random((n, 1, 8, 8), dtype=np.float32), labels, [f"img_{i:05d}.png" for i in range(n)],
                    [f"/data/img_{i:05d}.png" for i in range(n)])
    probs = np.eye(10, dtype=np.float32)[(labels + (np.arange(n) % 7 == 0)) % 10]
    s._set_images(images, probs)  # what a finished load commits
    panel = window.images_panel
    assert len(panel.visible_indices()) == n and panel.class_box.count() == 11
    panel.class_box.setCurrentIndex(panel.class_box.findData(3))
    assert len(panel.visible_indices()) == n // 10 and all(labels[i] == 3 for i in panel.visible_indices())
    panel.set_search("img_0001")  # img_00010 … img_00019: those of class 3
    assert panel.visible_indices() == [13]
    from PySide6.QtGui import (
        QGuiApplication,  # a thumbnail copies the whole image, not the thumbnail
    )

    assert panel.copy_image(13) and QGuiApplication.clipboard().image().width() == 8
    panel.set_filter("wrong")
    assert panel.visible_indices() == []  # 13 % 7 != 0: predicted right
    panel.set_search("")
    panel.set_filter("all")
    panel.class_box.setCurrentIndex(0)
    assert len(panel.visible_indices()) == n
    # only the thumbnails drawn are made
    assert len(panel.model._thumbs) < 2_000


def test_esc_cancels_while_the_menu_bar_has_the_keyboard(make_window, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtTest import QTest

    window = make_window(start=False)
    calls: list[int] = []
    monkeypatch.setattr(window.session, "cancel", lambda: calls.append(1))
    QTest.keyClick(window.menuBar(), Qt.Key.Key_Escape)
    assert calls == [1]
