"""Errors show a readable dialog and leave the current state intact; the app stays usable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from advinspect.core.data.demo import DEMO_MODEL
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import LOAD_TIMEOUT_MS, run_attack


def _wait_error(qtbot, window: MainWindow, trigger) -> tuple[str, str, str]:
    with qtbot.waitSignal(window.session.error, timeout=LOAD_TIMEOUT_MS) as blocker:
        trigger()
    qtbot.waitUntil(lambda: not window.session.busy, timeout=LOAD_TIMEOUT_MS)
    return tuple(blocker.args)


def test_corrupt_model_shows_an_error_and_keeps_the_model(qtbot, window: MainWindow, dialog_log,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / "broken.pt2"
    bad.write_bytes(b"PK\x03\x04 this is no zip archive at all" * 10)
    clf, images = window.session.clf, window.session.images
    title, message, _ = _wait_error(qtbot, window, lambda: window.session.open_model(str(bad)))
    assert "broken.pt2" in title and "broken.pt2" in message
    assert dialog_log.errors and dialog_log.errors[-1][1] == message
    assert window.session.clf is clf and window.session.images is images
    assert "digits_cnn.pt2" in window.windowTitle()
    # still usable afterwards
    outcome = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0])
    assert outcome is not None and 0 in window.session.results


def test_unreadable_image_keeps_the_image_set(qtbot, window: MainWindow, dialog_log,
                                              tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    images = window.session.images
    title, message, _ = _wait_error(qtbot, window, lambda: window.session.open_images([str(bad)]))
    assert title == "Cannot open images" and "broken.png" in message
    assert window.session.images is images and window.session.count == 450


def test_partly_failing_folder_loads_the_rest(qtbot, window: MainWindow, dialog_log,
                                              tmp_path: Path) -> None:
    folder = tmp_path / "set" / "3"
    folder.mkdir(parents=True)
    sources = sorted((Path(window.session.images.paths[0]).parent.parent / "3").glob("*.png"))[:3]
    for path in sources:
        shutil.copy(path, folder / path.name)
    (folder / "zzz_broken.png").write_bytes(b"not an image")
    title, message, details = _wait_error(
        qtbot, window, lambda: window.session.open_images([str(tmp_path / "set")]))
    assert "could not be read" in title and "zzz_broken.png" in details
    assert window.session.count == 3
    assert window.session.images.labels.tolist() == [3, 3, 3]


def test_spec_mismatch_keeps_the_model_and_the_sidecar(qtbot, make_window, dialog_log,
                                                       tmp_path: Path) -> None:
    model = tmp_path / DEMO_MODEL.name
    shutil.copy(DEMO_MODEL, model)
    shutil.copy(str(DEMO_MODEL) + ".advinspect.json", str(model) + ".advinspect.json")
    sidecar = Path(str(model) + ".advinspect.json")
    original = sidecar.read_text()
    window = make_window()
    with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
        window.session.open_model(str(model))
    clf = window.session.clf
    window.model_panel.shape.setText("3, 32, 32")
    title, message, _ = _wait_error(qtbot, window, window.model_panel.apply_button.click)
    assert "does not accept input" in message
    assert window.session.clf is clf and sidecar.read_text() == original
    # a spec that fits is applied and saved as the sidecar
    window.model_panel.shape.setText("1, 32, 32")
    window.model_panel.labels.setPlainText("zero, one, two, three, four, five, six, seven, eight, nine")
    with qtbot.waitSignal(window.session.ready, timeout=LOAD_TIMEOUT_MS):
        window.model_panel.apply_button.click()
    assert window.session.clf.spec.labels[3] == "three"
    assert json.loads(sidecar.read_text())["labels"][3] == "three"
    assert "three" in window.attack_panel.target_box.itemText(4)


class NoGradients(TorchClassifier):
    """A model that, like some ONNX graphs, cannot give input gradients."""

    @property
    def has_gradients(self) -> bool:
        return False


def test_gradient_attack_on_a_gradientless_model(qtbot, window: MainWindow, dialog_log) -> None:
    s = window.session
    clf = NoGradients(s.clf.module, s.clf.spec, torch.device("cpu"))
    with qtbot.waitSignal(s.ready, timeout=LOAD_TIMEOUT_MS):
        s.use_classifier(clf)
    assert s.clf is clf and s.count == 450 and s.info["has_gradients"] is False
    assert window.model_panel.info_labels["gradients"].text().startswith("no")
    outcome = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0])
    assert outcome is None
    title, message, _ = dialog_log.errors[-1]
    assert title == "Attack failed" and "needs gradients" in message
    assert s.clf is clf and s.results == {}
    assert window.attack_panel.run_button.isEnabled()


def test_invalid_parameter_is_reported_before_running(qtbot, window: MainWindow, dialog_log) -> None:
    window.attack_panel.select_attack("fgsm")
    window.attack_panel.form.set_values({"eps": "eight"})
    with qtbot.assertNotEmitted(window.session.attack_started):
        window.run_action.trigger()
    assert dialog_log.errors[-1][0] == "Invalid parameters"
    assert "not a number" in dialog_log.errors[-1][1]
