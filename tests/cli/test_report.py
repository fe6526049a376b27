"""`advinspect attack|evaluate --report DIR` and `advinspect report RESULTS.json`: files, a
rebuild that equals the first report, no silent overwrite, one-line errors."""

from __future__ import annotations

import re

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES


def _cards(html: str) -> list[str]:
    return re.findall(r'<article class="card" id="card-\d+" data-file="([^"]+)"', html)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for label in ("2", "5", "8"):
        (root / label).mkdir()
        for png in sorted((DEMO_SAMPLES / label).glob("*.png"))[:2]:
            (root / label / png.name).write_bytes(png.read_bytes())
    return root


@pytest.fixture(scope="module")
def attacked(images, tmp_path_factory):
    base = tmp_path_factory.mktemp("attack")
    code = main(["attack", str(DEMO_MODEL), str(images), "--attack", "fgsm", "--eps", "0.1", "--device", "cpu",
                 "--saliency", "gradient", "--out", str(base / "run"), "--report", str(base / "report")])
    assert code == 0
    return base


def test_attack_report_files(attacked):
    report = attacked / "report"
    for name in ("report.html", "report.pdf", "samples.csv", "results.json"):
        assert (report / name).is_file(), name
    html = (report / "report.html").read_text(encoding="utf-8")
    assert len(_cards(html)) == 6 and html.count(">gradient, original</figcaption>") == 6
    assert "advinspect attack" in html and "--attack fgsm" in html
    assert len(list((report / "adversarial").rglob("*.png"))) == 6
    assert len(list((report / "saliency").rglob("*.png"))) == 12
    assert (attacked / "run" / "results.json").is_file()


def test_report_rebuild_equals_original_and_needs_force(attacked, capsys):
    first = attacked / "report"
    again = attacked / "again"
    assert main(["report", str(attacked / "run" / "results.json"), "--out", str(again)]) == 0
    assert (again / "report.html").read_text(encoding="utf-8") == (first / "report.html").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["report", str(again / "results.json"), "--out", str(again), "--format", "html"]) == 1
    err = capsys.readouterr().err
    assert "exists; pass --force" in err and err.count("\n") == 1
    assert main(["report", str(again / "results.json"), "--out", str(again), "--format", "html",
                 "--max-cards", "2", "--force"]) == 0
    html = (again / "report.html").read_text(encoding="utf-8")
    assert len(_cards(html)) == 2 and "4 more samples in samples.csv" in html


def test_report_selection_and_flipped_only(attacked):
    out = attacked / "selected"
    results = str(attacked / "report" / "results.json")
    assert main(["report", results, "--out", str(out), "--format", "html", "--select", "5/" + sorted(
        p.name for p in (attacked / "report" / "adversarial" / "5").glob("*.png"))[1], "--select", "2"]) == 1
    names = sorted(p.name for p in (attacked / "report" / "adversarial" / "5").glob("*.png"))
    assert main(["report", results, "--out", str(out), "--format", "html", "--select", f"5/{names[1]}"]) == 0
    assert _cards((out / "report.html").read_text(encoding="utf-8")) == [f"5/{names[1]}"]
    assert main(["report", results, "--out", str(out / "f"), "--format", "html", "--flipped-only"]) == 0
    html = (out / "f" / "report.html").read_text(encoding="utf-8")
    assert all(f'data-file="{c}"' in html for c in _cards(html)) and "flipped only" in html
    assert html.count('class="badge flipped"') == len(_cards(html))


def test_unwritable_report_folder_fails_before_the_attack(images, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code = main(["attack", str(DEMO_MODEL), str(images), "--attack", "fgsm", "--eps", "0.1", "--device", "cpu",
                 "--out", str(tmp_path / "run"), "--report", str(blocker / "report"), "--format", "html"])
    captured = capsys.readouterr()
    assert code == 1
    assert "robust accuracy" not in captured.out  # refused before any work, not after it
    assert not (tmp_path / "run" / "results.json").exists()
    assert captured.err.startswith("advinspect: error: cannot write") and captured.err.count("\n") == 1
    assert "not-a-folder" in captured.err and "is a file, not a folder" in captured.err


def test_attack_into_a_folder_of_ones_own_is_refused_before_running(images, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code = main(["attack", str(DEMO_MODEL), str(images), "--attack", "fgsm", "--eps", "0.1", "--device", "cpu",
                 "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1 and "robust accuracy" not in captured.out
    assert "advinspect did not write ('notes.txt')" in captured.err and captured.err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_report_of_a_traversal_results_file_is_one_line(attacked, tmp_path, capsys):
    import json

    results = json.loads((attacked / "run" / "results.json").read_text())
    results["samples"][0]["adversarial"] = "../../payload.png"
    crafted = tmp_path / "crafted" / "results.json"
    crafted.parent.mkdir()
    crafted.write_text(json.dumps(results))
    (tmp_path / "payload.png").write_bytes(b"canary")
    assert main(["report", str(crafted), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "samples[0].adversarial: '../../payload.png' leaves the results folder" in err and err.count("\n") == 1
    assert (tmp_path / "payload.png").read_bytes() == b"canary" and not (tmp_path / "out").exists()


def test_report_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err == f"advinspect: error: {tmp_path / 'nope.json'}: file not found\n"


@pytest.mark.slow  # seconds of training, a full report or 20 GUI round trips: `make test` runs it
def test_evaluate_report_has_plots_warnings_and_cards(images, tmp_path):
    code = main(["evaluate", str(DEMO_MODEL), str(images), "--eps", "0,0.05,0.1", "--steps", "3", "--device", "cpu",
                 "--no-sanity-checks", "--out", str(tmp_path / "eval"), "--report", str(tmp_path / "rep"),
                 "--format", "html"])
    assert code == 0
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert len(_cards(html)) == 6 and "Robust accuracy versus epsilon" in html and "Reliability diagrams" in html
    assert "Sanity checks" in html and "pgd at eps 0.0500" in html
    assert len(list((tmp_path / "rep" / "plots").glob("*.png"))) == 4
