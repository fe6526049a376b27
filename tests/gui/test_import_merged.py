"""File → Import Results opens the `evaluation.json` that `advinspect merge` builds from shards
(per-sample `samples` rows included) as a run: listed in the Runs dock, its robustness curve
drawn, its summary shown, with no error. Selected, it fills the Evaluate plots as a GUI
evaluation does, and a click selects the evaluated files where they are open."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL
from advinspect.core.tasks import evaluate
from advinspect.gui.panels.evaluate_plots import NO_SCALED
from advinspect.gui.panels.runs import run_curve
from tests.cli.conftest import small_set_at


@pytest.fixture(scope="module")
def merged(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("merged")
    images = small_set_at(root / "set", 1)
    out = root / "eval"
    assert main(["evaluate", str(DEMO_MODEL), str(images), "--attack", "fgsm", "--eps", "0,0.1", "--no-sanity-checks",
                 "--device", "cpu", "--workers", "0", "--batch-size", "4", "--out", str(out)]) == 0
    assert main(["merge", str(out), "--out", str(root / "merged")]) == 0
    return root / "merged" / "evaluation.json"


def test_a_merged_evaluation_opens_as_a_run(make_window, merged, monkeypatch):
    data = json.loads(merged.read_text())
    assert len(data["samples"]) == 10 and data["n"] == 10
    window = make_window()
    monkeypatch.setattr("advinspect.gui.main_window.QFileDialog.getOpenFileName",
                        lambda *args, **kwargs: (str(merged), "Results (*.json)"))
    window.import_results_action.trigger()  # File → Import Results…
    session = window.session
    assert window.errors == [] and len(session.runs) == 1 and window.runs_panel.list.count() == 1
    run = session.runs.runs[0]
    assert run.verb == "evaluate" and run.data["samples"] == data["samples"]
    axis, eps, accuracy = run_curve(run)
    assert axis == "eps" and eps.tolist() == [0.0, 0.1]
    assert accuracy[0] == pytest.approx(data["clean_accuracy"]) and accuracy[1] <= accuracy[0]
    assert any("robust accuracy by eps" in line for line in run.summary)
    window.runs_panel.select_ids([run.id])
    assert session.selected_run is run and window.errors == []


def _drawn_matches(window, data) -> None:
    """The docks plot the JSON's numbers: curves, histograms, reliability bars, both matrices."""
    curve = data["curves"][0]
    assert list(window.robustness_panel.curves[curve["attack"]].yData) == pytest.approx(curve["robust_accuracy"])
    hist = window.histograms_panel.counts
    assert hist["clean"] == data["histograms"]["clean"] and hist["adversarial"] == data["histograms"]["adversarial"]
    cal = window.calibration_panel
    for key, bins in (("before", data["calibration"]["bins"]),
                      ("after", data["calibration"]["held_out_after"]["bins"])):
        np.testing.assert_allclose(cal.drawn[key], [b["accuracy"] if b["count"] else 0.0 for b in bins])
    for kind in ("clean", "adversarial"):
        np.testing.assert_array_equal(cal.drawn[kind], data["confusion"][kind])
    assert cal.drawn["clean"].sum() == data["n"]
    assert f"T = {data['calibration']['temperature']:.3f}" in cal.numbers.text()


def test_an_imported_evaluation_shows_its_plots_and_links_to_the_open_images(qtbot, make_window, merged):
    data = json.loads(merged.read_text())
    window = make_window()  # the demo set is open: it holds the 10 evaluated files under the same names
    s, cal = window.session, window.calibration_panel
    run = s.import_run(str(merged))
    with qtbot.waitSignal(s.evaluation_changed, timeout=5000):
        window.runs_panel.select_ids([run.id])
    shown = evaluate.plotted(s.evaluation)
    assert window.errors == [] and shown is run.result and shown.images is None
    _drawn_matches(window, data)
    assert NO_SCALED in cal.numbers.text()  # no logits in the file: the after-T bars cannot list images

    clean = np.asarray(data["confusion"]["clean"])
    truth = int(np.argmax(np.diag(clean)))
    picked = cal.click_matrix("clean", QPointF(truth + 0.5, truth + 0.5))
    expected = sorted(r["file"] for r in data["samples"] if r["label"] == truth and r["clean_pred"] == truth)
    assert len(picked) == clean[truth, truth] and sorted(s.images.names[i] for i in picked) == expected
    assert window.images_panel.visible_indices() == sorted(picked) and cal.link_status.isHidden()
    assert all(s.label(i) == truth for i in picked)

    after = data["calibration"]["held_out_after"]["bins"]
    b = next(k for k, x in enumerate(after) if x["count"])
    middle = after[b]["lower"] + 0.5 * (after[b]["upper"] - after[b]["lower"])  # the middle third: after T
    assert cal.click_reliability(QPointF(middle, 0.5)) is None
    assert NO_SCALED in cal.link_status.text() and not cal.link_status.isHidden()
    assert window.images_panel.visible_indices() == sorted(picked)  # the filter stayed as it was


def test_samples_whose_files_are_not_open_are_named_not_guessed(qtbot, make_window, merged, tmp_path):
    from tests.gui.panels._images import open_copies

    data = json.loads(merged.read_text())
    window = make_window()
    s, cal = window.session, window.calibration_panel
    by_name = {n: i for i, n in enumerate(s.images.names)}
    rows = sorted(data["samples"], key=lambda r: r["label"])
    extra = [i for i in (2, 3) if s.images.names[i] not in {r["file"] for r in rows}]  # not evaluated
    open_copies(qtbot, window, [by_name[r["file"]] for r in rows[:5]] + extra, tmp_path / "half")
    assert {r["file"] for r in rows[:5]} <= set(s.images.names) and s.count == 5 + len(extra)
    run = s.import_run(str(merged))
    s.select_run(run.id)
    _drawn_matches(window, data)  # the plots are the file's, whatever is open
    absent = next(r for r in rows[5:] if r["clean_pred"] == r["label"])
    present = next(r for r in rows[:5] if r["clean_pred"] == r["label"])
    c = absent["label"]
    assert cal.click_matrix("clean", QPointF(c + 0.5, c + 0.5)) == []
    assert "1 of 1 image(s) are not open in this session" in cal.link_status.text()
    assert s.custom_filter is None  # nothing selected in place of the missing file
    c = present["label"]
    picked = cal.click_matrix("clean", QPointF(c + 0.5, c + 0.5))
    assert [s.images.names[i] for i in picked] == [present["file"]] and cal.link_status.isHidden()
