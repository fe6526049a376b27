"""Hostile and broken results files, NaN results, long names, formula cells, atomic folders and
truncated PDFs: each refused in one line or handled, nothing read or written outside its folder.
The hostile files are built here; no model is needed except where the test says so."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.report import (
    build_report,
    check_writable,
    load_results,
    rebuild_report,
    staging,
)
from advinspect.core.report.build import write_csv
from advinspect.core.report.errors import ReportError, ResultsFileError
from advinspect.core.report.jsonio import write_json
from advinspect.core.report.paths import MAX_NAME_BYTES, sample_path
from advinspect.pdf import check_complete, save_pdf
from tests.fuzz.results_files import make_run


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _write(run: Path, results: dict) -> Path:
    path = run / "results.json"
    path.write_text(json.dumps(results), encoding="utf-8")
    return path


@pytest.fixture
def run(tmp_path):
    """(results dict, run folder) of a small valid run, plus a canary file beside the run."""
    results = make_run(tmp_path)
    (tmp_path / "payload.png").write_bytes(b"canary")
    return results, tmp_path / "run"


# --- confinement ---------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["adversarial", "saliency_original", "saliency_adversarial"])
@pytest.mark.parametrize("value", ["../payload.png", "../../payload.png", "adversarial/../../payload.png",
                                   "/tmp/payload.png", "C:\\payload.png"])
def test_paths_leaving_the_folder_are_refused_in_one_line(run, tmp_path, key, value):
    results, folder = run
    results["samples"][1][key] = value
    path = _write(folder, results)
    before = _files(tmp_path)
    with pytest.raises(ResultsFileError) as caught:
        rebuild_report(path, tmp_path / "out", formats=("html",))
    message = str(caught.value)
    assert "\n" not in message and f"samples[1].{key}" in message
    assert "leaves the results folder" in message or "absolute path" in message
    assert _files(tmp_path) == before and (tmp_path / "payload.png").read_bytes() == b"canary"
    assert not (tmp_path / "out").exists()


def test_symlink_out_of_the_folder_is_neither_read_nor_copied(run, tmp_path):
    results, folder = run
    outside = tmp_path / "secret.png"
    (folder / "adversarial" / "a" / "one.png").replace(outside)
    os.symlink(outside, folder / "adversarial" / "a" / "one.png")
    rep = rebuild_report(folder / "results.json", tmp_path / "out", formats=("html",))
    assert "resolves outside the results folder" in rep.html
    assert not (tmp_path / "out" / "adversarial" / "a").exists()  # not copied
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written["samples"][0]["adversarial"] is None
    assert rep.html.count("<figcaption>Adversarial</figcaption>") == len(results["samples"]) - 1


def test_written_names_come_from_sanitized_file_names(run, tmp_path):
    results, folder = run
    results["samples"][0]["file"] = "../../../evil.png"
    results["samples"][1]["file"] = "/abs/olute.png"
    out = tmp_path / "deep" / "out"
    rebuild_report(_write(folder, results), out, formats=("html",))
    written = json.loads((out / "results.json").read_text())
    for row in written["samples"]:
        assert (out / row["adversarial"]).resolve().is_relative_to(out.resolve()), row["adversarial"]
        assert (out / row["adversarial"]).is_file()
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "deep" / "evil.png").exists()
    assert written["samples"][0]["adversarial"].startswith("adversarial/_~")


def test_long_file_names_are_shortened_consistently(tiny_clf, tmp_path):
    """A 254-character image name through attack results, saliency and the report."""
    import torch

    from advinspect.core.attacks import get_attack
    from advinspect.core.data.datasets import ImageItem
    from advinspect.core.report.results import attack_results, write_attack_outputs

    name = "d/" + "n" * 250 + ".png"
    x = torch.rand(2, 1, 8, 8)
    items = [ImageItem(tmp_path / "x.png", name, 0), ImageItem(tmp_path / "y.png", "short.png", 1)]
    result = get_attack("fgsm").from_values({"eps": 0.1}).run(tiny_clf, x, torch.tensor([0, 1]))
    results = attack_results(result, items, tiny_clf, "cmd", x=x)
    out = tmp_path / "run"
    write_attack_outputs(out, result, items, tiny_clf, results=results, x=x, saliency="gradient")
    row = json.loads((out / "results.json").read_text())["samples"][0]
    for key in ("adversarial", "saliency_original", "saliency_adversarial"):
        assert (out / row[key]).is_file(), key
        assert all(len(part.encode()) <= MAX_NAME_BYTES for part in row[key].split("/")), key
    assert row["file"] == name and row["adversarial"] == sample_path("adversarial", name, ".png")
    rep = build_report(results, out, formats=("html",))
    assert name in rep.html and all(len(p.name.encode()) <= MAX_NAME_BYTES for p in out.rglob("*"))


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


# --- schema --------------------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "needle"), [
    (lambda r: r["samples"][0].update(linf="0.1"), "samples[0].linf: expected a number or null, got a string"),
    (lambda r: r["samples"][0].pop("file"), "samples[0]: missing file"),
    (lambda r: r["summary"].update(n=True), "summary.n: expected a whole number"),
    (lambda r: r["provenance"]["model"]["spec"].update(input_shape=[3, 100000, 100000]), "input_shape[1]"),
    (lambda r: r["provenance"]["model"]["spec"].update(labels="abc"), "spec.labels: expected a list"),
    (lambda r: r["summary"].update(params={"p": _nested(40)}),
     "nested deeper"),
    (lambda r: r["samples"][0]["clean_top_k"][0].update(probability=7), "probability: 7 is outside [0, 1]"),
    (lambda r: r.update(samples={"a": 1}), "samples: expected a list"),
])
def test_malformed_fields_are_one_line_naming_the_field(run, tmp_path, edit, needle):
    results, folder = run
    edit(results)
    with pytest.raises(ResultsFileError) as caught:
        load_results(_write(folder, results))
    assert needle in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["[" * 100_000, "{\"summary\": {}, \"samples\": [" + "9" * 5000 + "]}", "\xff",
                                  "null", "{\"summary\": 1}"])
def test_broken_files_are_one_line(tmp_path, text):
    path = tmp_path / "results.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    with pytest.raises(ReportError) as caught:
        load_results(path)
    assert "\n" not in str(caught.value)


def test_a_fifo_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "results.json")
    with pytest.raises(ReportError, match="not a file"):
        load_results(tmp_path / "results.json")


# --- non-finite numbers --------------------------------------------------------------------

def test_nan_and_inf_are_written_as_null_and_read_back(run, tmp_path):
    import numpy as np

    results, folder = run
    row = results["samples"][0]
    row.update(clean_confidence=math.nan, linf=np.float32("inf"), l2=np.float64("-inf"))
    row["adv_top_k"][0]["probability"] = math.nan
    results["summary"].update(robust_accuracy=math.nan, median_l2=math.inf)
    rep = build_report(results, tmp_path / "out", base_dir=folder, formats=("html",))
    text = (tmp_path / "out" / "results.json").read_text()
    written = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in results.json"))
    assert written["samples"][0]["clean_confidence"] is None and written["samples"][0]["linf"] is None
    assert written["summary"]["robust_accuracy"] is None and written["samples"][0]["adv_top_k"][0]["probability"] is None
    assert "Robust accuracy" in rep.html
    again = rebuild_report(tmp_path / "out" / "results.json", tmp_path / "again", formats=("html",))
    assert again.html == rep.html
    with open(tmp_path / "out" / "samples.csv", newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    assert first["clean_confidence"] == "" and ":nan; " in first["adv_top_k"]


def test_write_json_never_loses_results_to_nan(tmp_path):
    import numpy as np

    path = write_json(tmp_path / "r.json", {"a": [math.nan, np.array([1.0, np.inf])], "b": (np.int64(3), -math.inf)})
    assert json.loads(path.read_text()) == {"a": [None, [1.0, None]], "b": [3, None]}


# --- CSV -----------------------------------------------------------------------------------

def test_csv_quotes_formula_text_but_keeps_negative_numbers(tmp_path):
    rows = [{"file": "=HYPERLINK(\"http://x\")", "source": "+1.png", "label": "-2+3", "clean_pred": "@SUM(A1)",
             "adv_pred": "\tx", "target": "\r=1", "linf": -0.5, "l0": -3, "iterations": 4,
             "clean_top_k": [{"name": "=cmd", "probability": 0.5}], "adversarial": "a.png"}]
    write_csv(rows, tmp_path / "s.csv")
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert row["file"] == "'=HYPERLINK(\"http://x\")" and row["source"] == "'+1.png" and row["label"] == "'-2+3"
    assert row["clean_pred"] == "'@SUM(A1)" and row["adv_pred"] == "'\tx" and row["target"] == "'\r=1"
    assert row["clean_top_k"] == "'=cmd:0.5000" and row["adversarial"] == "a.png"
    assert row["linf"] == "-0.5" and row["l0"] == "-3" and row["iterations"] == "4"


# --- atomic folders ------------------------------------------------------------------------

def test_swap_replaces_the_run_and_keeps_other_commands_files(run, tmp_path):
    results, folder = run
    (folder / "evaluation.json").write_text("{}")
    (folder / "adversarial" / "old-run-only.png").write_bytes(b"x")
    build_report(results, folder, formats=("html",))
    names = _files(folder)
    assert "evaluation.json" in names and "adversarial/old-run-only.png" not in names
    assert {"report.html", "results.json", "samples.csv"} <= names
    assert all((folder / s["adversarial"]).is_file() for s in results["samples"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".advinspect-")]


def test_a_folder_of_ones_own_is_refused_untouched(run, tmp_path):
    results, folder = run
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ReportError, match="holds files advinspect did not write .'notes.txt'."):
        build_report(results, mine, base_dir=folder, formats=("html",))
    assert _files(mine) == {"notes.txt"}


def test_check_writable_fails_early_and_clearly(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match=r"cannot write results to .*file/out: .*file is a file, not a folder"):
        check_writable(tmp_path / "file" / "out")
    check_writable(tmp_path / "new" / "out")  # parents are created, the folder itself is not
    assert (tmp_path / "new").is_dir() and not (tmp_path / "new" / "out").exists()
    assert list((tmp_path / "new").iterdir()) == []


def test_stale_stages_are_cleaned_and_a_folder_set_aside_is_restored(tmp_path):
    target = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    tag = staging._tag(target)
    stale = tmp_path / f"{staging.STAGE_PREFIX}{tag}-{dead}-abc"
    live = tmp_path / f"{staging.STAGE_PREFIX}{tag}-{os.getppid()}-abc"
    aside = tmp_path / f"{staging.OLD_PREFIX}{tag}-{dead}-abc"
    for folder in (stale, live, aside):
        folder.mkdir()
        (folder / "results.json").write_text(folder.name)
    staging.clean_stale(target)
    assert not stale.exists() and live.exists() and not aside.exists()
    assert (target / "results.json").read_text() == aside.name  # the previous folder came back


def test_swap_without_renameat2_is_still_whole(run, tmp_path, monkeypatch):
    results, folder = run
    monkeypatch.setattr(staging, "_exchange", lambda a, b: False)
    build_report(results, folder, formats=("html",))
    assert {"report.html", "results.json"} <= _files(folder)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".advinspect-")]


# --- PDF -----------------------------------------------------------------------------------

def test_truncated_pdf_is_refused():
    with pytest.raises(ReportError, match="incomplete"):
        check_complete(b"%PDF-1.4\n1 0 obj <<>> endobj\n", "x.pdf")
    check_complete(b"%PDF-1.4\n%%EOF\n", "x.pdf")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk_pdf_is_an_error_not_a_truncated_file():
    with pytest.raises(ReportError, match="No space left on device"):
        save_pdf(b"%PDF-1.4\n" + b"x" * 100_000 + b"\n%%EOF\n", Path("/dev/full"))


def test_only_advinspect_errors_escape(run, tmp_path):
    """The issue's traversal file through the whole path, PDF included."""
    from advinspect.pdf import write_pdf

    results, folder = run
    results["samples"][0]["adversarial"] = "../../payload.png"
    with pytest.raises(AdvInspectError):
        rebuild_report(_write(folder, results), tmp_path / "out", pdf_writer=write_pdf)
    assert (tmp_path / "payload.png").read_bytes() == b"canary"


_WRITER = """
import sys
from pathlib import Path
from advinspect.core.report import build_report, load_results
root = Path(sys.argv[1])
runs = [(load_results(root / name / "run" / "results.json"), root / name / "run") for name in ("A", "B")]
i = 0
while True:
    results, base = runs[i % 2]
    build_report(results, root / "out", base_dir=base, formats=("html",), force=True)
    i += 1
"""


def _which_run(out: Path, runs: dict[str, dict]) -> str:
    """The run the folder holds, checked file by file: every part must be from that run."""
    results = json.loads((out / "results.json").read_text())
    name = results["summary"]["attack"]
    files = [s["file"] for s in runs[name]["samples"]]
    assert f"<title>{name} report" in (out / "report.html").read_text(encoding="utf-8")
    with open(out / "samples.csv", newline="", encoding="utf-8") as handle:
        assert [r["file"] for r in csv.DictReader(handle)] == files
    assert _files(out / "adversarial") == {sample_path("adversarial", f, ".png")[len("adversarial/"):] for f in files}
    assert len(list((out / "images").iterdir())) == 3 * len(files)
    assert {p.name for p in out.iterdir()} == {"results.json", "report.html", "samples.csv", "adversarial", "images"}
    return name


@pytest.mark.slow
def test_killed_while_swapping_leaves_one_whole_run(tmp_path):
    """A writer alternating two runs into one folder, killed at random moments: the folder is
    always one whole run; the next run removes the killed writer's staging folder."""
    import random
    import signal
    import time

    runs = {"A": make_run(tmp_path / "A", attack="A"),
            "B": make_run(tmp_path / "B", names=("x/first.png", "y/second.png"), attack="B")}
    out = tmp_path / "out"
    rng = random.Random(3)
    seen = set()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[3]), os.environ.get("PYTHONPATH", "")])}
    for _ in range(8):
        before = out.stat().st_ino if out.exists() else None
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], env=env)
        try:
            deadline = time.monotonic() + 60  # until this writer swapped in its first folder
            while (not out.exists() or out.stat().st_ino == before) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        staging.clean_stale(out)  # what the next run does first (a no-op where renameat2 swapped)
        seen.add(_which_run(out, runs))
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".advinspect-")]
    assert seen == {"A", "B"}  # the kills landed in both phases


def test_a_model_that_outputs_nan_loses_no_results(tmp_path):
    """NaN logits on half the images: results.json is written (nulls), and a report builds."""
    import torch

    from advinspect.core.attacks import get_attack
    from advinspect.core.data.datasets import ImageItem
    from advinspect.core.models import ModelSpec
    from advinspect.core.models.torch_backend import TorchClassifier
    from advinspect.core.report.results import attack_results, write_attack_outputs

    class HalfNaN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(64, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.fc(x.flatten(1))
            return torch.where((x.flatten(1)[:, :1] > 0.5), torch.full_like(out, math.nan), out)

    torch.manual_seed(0)
    clf = TorchClassifier(HalfNaN().eval(), ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c")),
                          torch.device("cpu"))
    x = torch.rand(4, 1, 8, 8) * 0.4
    x[:2, 0, 0, 0] = 0.9
    items = [ImageItem(tmp_path / f"{i}.png", f"{i}.png", i % 3) for i in range(4)]
    result = get_attack("pgd").from_values({"eps": 0.1, "steps": 2}).run(clf, x, torch.tensor([0, 1, 2, 0]))
    results = attack_results(result, items, clf, "cmd", x=x)
    path = write_attack_outputs(tmp_path / "run", result, items, clf, results=results, x=x)
    rows = json.loads(path.read_text())["samples"]
    assert len(rows) == 4 and rows[0]["clean_confidence"] is None and rows[3]["clean_confidence"] is not None
    rep = build_report(results, tmp_path / "run", formats=("html",))
    assert len(rep.cards) == 4


def test_unreadable_sample_files_are_named_on_the_card(run, tmp_path):
    results, folder = run
    (folder / "adversarial" / "a" / "one.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    (folder / "adversarial" / "b" / "two.png").unlink()
    rep = rebuild_report(folder / "results.json", tmp_path / "out", formats=("html",))
    assert "adversarial unreadable at adversarial/a/one.png" in rep.html
    assert "adversarial not found at adversarial/b/two.png" in rep.html
    assert rep.html.count("<figcaption>Adversarial</figcaption>") == 1


def test_the_current_folder_is_never_swapped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReportError, match="current folder"):
        check_writable(".")
    with pytest.raises(ReportError, match="current folder"):
        check_writable(tmp_path.parent)


def test_a_failed_results_write_leaves_the_previous_folder_whole(tiny_clf, tmp_path, monkeypatch):
    """attack --force into a folder of an earlier run, with the disk full at the last file:
    the earlier run's folder stays as it was (no new PNGs beside the old results.json)."""
    import errno

    import torch

    from advinspect.core.attacks import get_attack
    from advinspect.core.data.datasets import ImageItem
    from advinspect.core.report import results as results_module

    x = torch.rand(2, 1, 8, 8)
    attack = get_attack("fgsm").from_values({"eps": 0.1})
    result = attack.run(tiny_clf, x, torch.tensor([0, 1]))
    out = tmp_path / "run"
    old_items = [ImageItem(tmp_path / "x.png", "old.png", 0), ImageItem(tmp_path / "y.png", "older.png", 1)]
    results_module.write_attack_outputs(out, result, old_items, tiny_clf, x=x)
    before = {p: (out / p).read_bytes() for p in _files(out)}

    def full_disk(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(results_module, "write_json", full_disk)
    new_items = [ImageItem(tmp_path / "x.png", "new.png", 0), ImageItem(tmp_path / "y.png", "newer.png", 1)]
    with pytest.raises(ReportError, match="No space left on device"):
        results_module.write_attack_outputs(out, result, new_items, tiny_clf, x=x)
    assert {p: (out / p).read_bytes() for p in _files(out)} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".advinspect-")]
