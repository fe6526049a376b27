"""Defend dock: the form is defend.Config; a live preview of the transformed image; applying a
defense makes the session's model the defended one (and changes what an attack does)."""

from __future__ import annotations

import numpy as np

from advinspect.core.defenses.transforms import DefendedClassifier
from advinspect.core.tasks import defend
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import run_attack

JOB_TIMEOUT_MS = 60_000


def _wait(qtbot, signal, action):
    with qtbot.waitSignal(signal, timeout=JOB_TIMEOUT_MS) as blocker:
        action()
    return blocker


def test_the_form_is_the_config(window: MainWindow) -> None:
    panel = window.defend_panel
    assert panel.form.field_names() == ["defense", "adaptive", "eot_samples", "seed", "purify_restarts",
                                       "purify_steps"]
    assert panel.config() == defend.Config()
    panel.set_defense("bits:4,median:3", adaptive=True, eot_samples=4)
    assert panel.config() == defend.Config(defense="bits:4,median:3", adaptive=True, eot_samples=4)


def test_preview_follows_the_form_and_the_image(qtbot, window: MainWindow) -> None:
    panel = window.defend_panel
    s = window.session
    panel.raise_()
    _wait(qtbot, panel.preview_ready, lambda: panel.set_defense("bits:1"))
    transformed, probs, clean = panel.preview
    x = s.images.x[0]
    assert np.allclose(transformed, np.round(x))  # one bit: black or white
    assert not np.allclose(transformed, x)
    assert np.allclose(clean, s.probs[0], atol=1e-5)
    assert panel.preview_items[1].image is not None
    assert "image 0" in panel.preview_label.text()
    _wait(qtbot, panel.preview_ready, lambda: s.set_current(9))
    assert np.allclose(panel.preview[0], np.round(s.images.x[9]))
    assert "image 9" in panel.preview_label.text()


def test_apply_defense_changes_model_and_attack(qtbot, window: MainWindow) -> None:
    s = window.session
    panel = window.defend_panel
    base = s.clf
    images = list(range(8))
    undefended = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images)
    flipped_before = undefended.statuses.count("flipped")
    assert flipped_before > 0
    # bit-depth squeezing, naive: the attacker's gradient vanishes, FGSM flips fewer
    panel.set_defense("bits:4", adaptive=False)
    _wait(qtbot, s.defense_changed, panel.apply_button.click)
    assert isinstance(s.clf, DefendedClassifier) and s.clf.inner is base and s.base_clf is base
    expected = defend.run(defend.Inputs(base, s.images), defend.Config(defense="bits:4"))
    assert panel.status.text() == "\n".join(expected.summary_text())  # what `advinspect defend` prints
    assert np.allclose(s.probs, expected.probs, atol=1e-6)
    assert panel.remove_button.isEnabled()
    assert s.results == {}  # results belonged to the undefended model
    naive = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images)
    assert naive.statuses.count("flipped") < flipped_before
    # adaptive (BPDA): the identity backward pass gives the attack its gradient back
    panel.set_defense("bits:4", adaptive=True)
    _wait(qtbot, s.defense_changed, panel.apply_button.click)
    assert s.clf.adaptive and s.clf.inner is base  # re-applied on the base, never stacked
    assert "(adaptive attacks)" in panel.status.text()
    adaptive = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, images)
    assert adaptive.statuses.count("flipped") > naive.statuses.count("flipped")
    # remove: back to the very same base classifier
    _wait(qtbot, s.defense_changed, panel.remove_button.click)
    assert s.clf is base and s.base_clf is None and s.defense is None
    assert not panel.remove_button.isEnabled() and panel.status.text() == "active defense: none"
    assert window.errors == []


def test_a_bad_transform_is_refused_on_its_field(window: MainWindow) -> None:
    panel = window.defend_panel
    base = window.session.clf
    panel.set_defense("jpeg:75,blur:3")
    panel.apply()
    assert window.errors and "unknown defense 'blur'" in window.errors[-1][1]
    assert panel.form.invalid == "defense"
    assert "unknown defense 'blur'" in panel.form.widget("defense").toolTip()
    assert window.session.clf is base  # nothing ran
