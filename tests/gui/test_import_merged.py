"""File → Import Results opens the `evaluation.json` that `advinspect merge` builds from shards
(per-sample `samples` rows included) as a run: listed in the Runs dock, its robustness curve
drawn, its summary shown, with no error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL
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
