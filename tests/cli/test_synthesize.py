"""`advinspect synthesize` end to end on the demo model: class folders of PNGs, the contact sheet,
the JSON and the report; a class the model lacks is one line and exit 1."""

from __future__ import annotations

import json

from PIL import Image

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL


def test_synthesize_writes_class_folders_sheet_json_and_report(small_set, tmp_path):
    out = tmp_path / "out"
    code = main(["synthesize", str(DEMO_MODEL), str(small_set), "--classes", "1,7", "--per-class", "2",
                 "--steps", "4", "--compare", str(DEMO_MODEL), "--judge", str(DEMO_MODEL), "--out", str(out)])
    assert code == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "1/000.png", "1/001.png", "7/002.png", "7/003.png", "compare/1/000.png", "compare/1/001.png",
        "compare/7/002.png", "compare/7/003.png", "contact_sheet.png"]
    assert Image.open(out / "1" / "000.png").size == (32, 32)
    data = json.loads((out / "synthesis.json").read_text())
    assert data["targets"] == [1, 1, 7, 7] and data["summary"]["steps"] == 4
    assert [r["name"] for r in data["runs"]] == ["model", "compare"]
    assert data["runs"][0]["predictions"] == data["runs"][1]["predictions"]  # the same model twice
    html = (out / "report.html").read_text()
    assert "Synthesis" in html and "data:image/png;base64," in html and "--per-class 2" in html


def test_a_class_the_model_lacks_is_one_line(small_set, tmp_path, capsys):
    code = main(["synthesize", str(DEMO_MODEL), str(small_set), "--classes", "11", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err == ["advinspect: error: class '11' is not one of the model's classes: "
                                 "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"]
    assert not (tmp_path / "o" / "synthesis.json").exists()
