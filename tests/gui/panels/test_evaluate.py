"""Evaluate dock and its result docks: a small evaluation on the selection, the numbers in the
Robustness / Histograms / Calibration docks, and plot clicks that filter the Images dock."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import evaluate
from advinspect.gui.main_window import MainWindow
from advinspect.gui.panels.evaluate_plots import histogram_bin

EVAL_TIMEOUT_MS = 180_000  # a wait, not a sleep: generous on a shared 2-core machine
N_IMAGES = 40


def test_the_form_is_the_config(window: MainWindow) -> None:
    panel = window.evaluate_panel
    assert panel.form.field_names() == ["eps", "steps", "calibration_split", "bins", "seed", "batch_size",
                                        "sanity_checks"]
    assert panel.form.config(attacks=("pgd",)) == evaluate.Config()  # the defaults are the CLI's
    panel.form.set_values({"eps": "0,1/255,8/255", "steps": "3"})
    assert panel.form.config(attacks=("pgd",)).eps == pytest.approx((0.0, 1 / 255, 8 / 255))
    panel.form.set_values({"eps": "0,abc"})
    with pytest.raises(AdvInspectError):
        panel.form.config()
    panel.form.set_values({"eps": "-1"})
    with pytest.raises(AdvInspectError, match="eps must be at least 0"):
        panel.form.config()
    assert panel.form.invalid == "eps"


def _evaluate(qtbot, window: MainWindow):
    panel = window.evaluate_panel
    window.images_panel.select(list(range(N_IMAGES)))
    panel.set_attacks(["pgd"])
    panel.form.set_values({"eps": "0,0.1", "steps": "3", "sanity_checks": False})  # checks: tests/core
    panel.set_scope("selection")
    with qtbot.waitSignal(window.session.evaluation_changed, timeout=EVAL_TIMEOUT_MS):
        panel.run_button.click()
    return window.session.evaluation


def test_evaluate_selection_and_link_plots_to_images(qtbot, window: MainWindow) -> None:
    s = window.session
    outcome = _evaluate(qtbot, window)
    assert window.errors == []
    ev = outcome.evaluation
    assert outcome.images.index.tolist() == list(range(N_IMAGES)) and ev.data["n"] == N_IMAGES
    # clean accuracy agrees with the session's own predictions on those images
    clean = float((s.probs[:N_IMAGES].argmax(1) == s.images.labels[:N_IMAGES]).mean())
    assert ev.data["clean_accuracy"] == pytest.approx(clean)
    panel = window.evaluate_panel
    assert panel.status.text() == "\n".join(outcome.summary_text())  # what `advinspect evaluate` prints
    assert f"clean accuracy {clean:.4f} on {N_IMAGES} images" in panel.status.text()
    assert panel.progress.value() == 1000 and panel.run_button.isEnabled()
    # Robustness: the curve the core measured, eps 0 equal to clean, eps 0.1 below it
    curve = ev.data["curves"][0]
    assert curve["attack"] == "pgd" and curve["eps"] == [0.0, 0.1] and curve["params"] == {"steps": 3}
    plotted = window.robustness_panel.curves["pgd"]
    assert list(plotted.yData) == pytest.approx(curve["robust_accuracy"])
    assert curve["robust_accuracy"][0] == pytest.approx(clean)
    assert curve["robust_accuracy"][1] < clean
    assert "pgd" in window.robustness_panel.caption.text()
    # Histograms: every evaluated image in one bin of each series
    hist = window.histograms_panel.counts
    assert sum(hist["clean"]) == N_IMAGES and sum(hist["adversarial"]) == N_IMAGES
    assert sum(hist["correct"]) + sum(hist["wrong"]) == N_IMAGES
    # Calibration: the numbers and both confusion matrices
    calib = ev.data["calibration"]
    text = window.calibration_panel.numbers.text()
    assert f"{calib['ece']:.4f}" in text and f"T = {calib['temperature']:.3f}" in text
    assert f"{calib['adversarial']['brier']:.4f}" in text
    assert window.calibration_panel.matrix_items["clean"].image.shape == (10, 10)
    assert window.calibration_panel.matrix_items["adversarial"].image is not None

    # a click on a clean confusion cell (a real mouse click) filters the Images dock
    truth = int(s.images.labels[0])
    expected = [i for i in range(N_IMAGES) if s.images.labels[i] == truth and s.prediction(i) == truth]
    cal = window.calibration_panel
    cal.raise_()
    cal.show()
    qtbot.waitUntil(lambda: cal.matrices.isVisible(), timeout=5000)
    view = cal.matrix_views["clean"]
    scene_point = view.mapViewToScene(QPointF(truth + 0.5, truth + 0.5))
    widget_point = cal.matrices.mapFromScene(scene_point)
    with qtbot.waitSignal(cal.filtered, timeout=5000):
        qtbot.mouseClick(cal.matrices.viewport(), Qt.MouseButton.LeftButton,
                         pos=QPoint(int(widget_point.x()), int(widget_point.y())))
    images = window.images_panel
    assert images.visible_indices() == expected and len(expected) == ev.data["confusion"]["clean"][truth][truth]
    assert not images.custom_row.isHidden() and f"({len(expected)})" in images.custom_label.text()
    assert s.current == expected[0]

    # an adversarial off-diagonal cell: images of class `truth` the attack pushed to another class
    adv = np.asarray(ev.data["confusion"]["adversarial"])
    r, c = next((r, c) for r in range(10) for c in range(10) if r != c and adv[r, c])
    shown = cal.click_matrix("adversarial", QPointF(c + 0.2, r + 0.7))
    assert shown == images.visible_indices() and len(shown) == adv[r, c]
    assert all(s.images.labels[i] == r and ev.adv_pred[i] == c for i in shown)

    # a histogram bar: the right half of a bin is the 'wrong'/'adversarial' series
    edges = np.asarray(ev.data["histograms"]["bins"])
    b = int(np.argmax(hist["adversarial"]))
    shown = window.histograms_panel.click_at("attack", QPointF(edges[b] + 0.75 * (edges[1] - edges[0]), 1))
    assert len(shown) == hist["adversarial"][b] and images.visible_indices() == shown
    assert all(histogram_bin(np.array([ev.adv_confidence[i]]), edges)[0] == b for i in shown)

    # a reliability bin (the first third of a bin: before temperature scaling)
    bins = calib["bins"]
    b = max(range(len(bins)), key=lambda k: bins[k]["count"])
    shown = cal.click_reliability(QPointF(bins[b]["lower"] + 0.1 * (bins[b]["upper"] - bins[b]["lower"]), 0.5))
    assert len(shown) == bins[b]["count"]
    assert all(bins[b]["lower"] <= ev.clean_confidence[i] <= bins[b]["upper"] for i in shown)

    images.clear_custom.click()
    assert images.custom_row.isHidden() and images.model.rowCount() == s.count


def test_evaluate_needs_two_labelled_images(qtbot, window: MainWindow, dialog_log) -> None:
    window.evaluate_panel.set_scope("selection")
    window.images_panel.select([3])
    window.evaluate_panel.run()
    assert window.errors and "at least 2 image(s)" in window.errors[-1][1]
    assert window.session.evaluation is None


@pytest.mark.slow  # two evaluations and the CLI's plots: ~20 s on a loaded 2-core machine
def test_the_dock_shows_what_the_cli_prints(qtbot, window: MainWindow, tmp_path, capsys) -> None:
    from advinspect.cli.main import main as cli_main
    from advinspect.core.data.demo import DEMO_MODEL
    from tests.gui.panels._images import open_copies

    folder = open_copies(qtbot, window, [*range(10), 90, 100], tmp_path / "images")
    panel = window.evaluate_panel
    panel.set_attacks(["fgsm", "pgd"])
    panel.form.set_values({"eps": "0,0.1", "steps": "3", "sanity_checks": False})
    panel.set_scope("all")
    with qtbot.waitSignal(panel.finished, timeout=EVAL_TIMEOUT_MS) as blocker:
        panel.run_button.click()
    assert not blocker.args[0].cancelled
    capsys.readouterr()
    code = cli_main(["evaluate", str(DEMO_MODEL), str(folder), "--attack", "fgsm,pgd", "--eps", "0,0.1",
                     "--steps", "3", "--no-sanity-checks", "--device", "cpu", "--out", str(tmp_path / "cli")])
    assert code == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("wrote ")]
    assert panel.status.text().split("\n") == printed
    assert "clean accuracy 0.8333 on 12 images" in printed[0]  # 90 and 100 are wrong before any attack


def test_an_evaluation_of_a_model_replaced_meanwhile_is_not_shown(qtbot, window: MainWindow) -> None:
    from advinspect.core.tasks import defend

    s, panel = window.session, window.evaluate_panel
    window.images_panel.select(list(range(6)))
    panel.set_attacks(["fgsm"])
    panel.form.set_values({"eps": "0,0.1", "sanity_checks": False})
    panel.set_scope("selection")
    s.apply_defense(defend.Config(defense="bits:4"))  # queued first: commits before the evaluation ends
    with qtbot.waitSignal(panel.finished, timeout=EVAL_TIMEOUT_MS):
        panel.run_button.click()  # still sees the undefended model
    assert s.defense is not None and s.evaluation is None
    assert any("changed while it ran" in line for line in window.log_panel.lines)


def test_a_large_folder_is_evaluated_streamed_one_batch_at_a_time(qtbot, window: MainWindow, tmp_path,
                                                                  monkeypatch) -> None:
    """A lazily decoded set goes through `evaluate.run_stream`: no whole-set decode, at most a
    batch decoded per read, and the streamed result fills the plots and links to the images."""
    from advinspect.core.data.lazy import LazyPixels
    from advinspect.gui import tasks
    from tests.cli.conftest import small_set_at
    from tests.gui.conftest import LOAD_TIMEOUT_MS

    folder = small_set_at(tmp_path / "set", 3)  # 30 demo digits
    monkeypatch.setattr(tasks, "EAGER_IMAGES", 10)
    s, panel, cal = window.session, window.evaluate_panel, window.calibration_panel
    with qtbot.waitSignal(s.images_changed, timeout=LOAD_TIMEOUT_MS):
        s.open_images([str(folder)])
    assert tasks.is_lazy(s.images) and s.count == 30
    qtbot.waitUntil(lambda: s.probs is not None, timeout=LOAD_TIMEOUT_MS)  # background predictions done
    reads: list[int] = []
    read = LazyPixels.__getitem__

    def counted(self, key):
        out = read(self, key)
        reads.append(1 if out.ndim == 3 else len(out))
        return out

    def whole(self, *args, **kwargs):
        raise AssertionError("the whole set was decoded at once")

    monkeypatch.setattr(LazyPixels, "__getitem__", counted)
    monkeypatch.setattr(LazyPixels, "__array__", whole)
    panel.set_attacks(["fgsm"])
    panel.form.set_values({"eps": "0,0.1", "batch_size": "8", "sanity_checks": False})
    panel.set_scope("all")
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.running, timeout=EVAL_TIMEOUT_MS)  # done or failed
    result = panel.result
    assert window.errors == [] and isinstance(result, evaluate.Streamed) and result.data["n"] == 30
    assert reads and max(reads) == 8 and sum(r for r in reads if r > 1) >= 30  # every image, 8 at a time
    assert any("streaming 30 images 8 at a time" in line for line in window.log_panel.lines)
    assert s.evaluation is result and panel.last_run.result is result
    # the plots: the streamed JSON's numbers, and the clean accuracy the session's predictions give
    clean = float((s.probs.argmax(1) == s.images.labels).mean())
    assert result.data["clean_accuracy"] == pytest.approx(clean)
    assert list(window.robustness_panel.curves["fgsm"].yData) == pytest.approx(result.data["curves"][0]["robust_accuracy"])
    np.testing.assert_array_equal(cal.drawn["clean"], result.data["confusion"]["clean"])
    np.testing.assert_array_equal(cal.drawn["adversarial"], result.data["confusion"]["adversarial"])
    assert cal.drawn["clean"].sum() == 30 and window.histograms_panel.counts["clean"] == result.data["histograms"]["clean"]
    # a clean diagonal cell selects those images; the rows kept their logits, so an after-T bin lists its images
    truth = int(np.argmax(np.diag(cal.drawn["clean"])))
    picked = cal.click_matrix("clean", QPointF(truth + 0.5, truth + 0.5))
    assert len(picked) == cal.drawn["clean"][truth, truth]
    assert all(s.images.labels[i] == truth and s.prediction(i) == truth for i in picked)
    after = result.data["calibration"]["held_out_after"]["bins"]
    b = max(range(len(after)), key=lambda k: after[k]["count"])
    middle = after[b]["lower"] + 0.5 * (after[b]["upper"] - after[b]["lower"])
    picked = cal.click_reliability(QPointF(middle, 0.5))
    assert picked is not None and len(picked) == after[b]["count"] and cal.link_status.isHidden()
