"""Reports from a real attack run: self-contained HTML, a PDF with the right pages and text,
rebuildable from results.json, safe writes (no half report, no silent overwrite)."""

from __future__ import annotations

import csv
import errno
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from advinspect.core.errors import CancelledError
from advinspect.core.jobs import CancelToken
from advinspect.core.report.build import (
    CARDS_PER_PAGE,
    ReportError,
    build_report,
    nice_gain,
    perturbation_image,
    rebuild_report,
    select_samples,
    status,
)
from advinspect.pdf import write_pdf


class _Collector(HTMLParser):
    """Tags with their attributes, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def cards_of(html: str) -> list[str]:
    return [a["data-file"] for tag, a in parse(html).tags if tag == "article" and "card" in (a.get("class") or "")]


def pdf_text(path) -> list[str]:
    from pypdf import PdfReader

    return [" ".join(page.extract_text().split()) for page in PdfReader(str(path)).pages]


@pytest.fixture(scope="module")
def report(attack_run, tmp_path_factory):
    results, run = attack_run
    out = tmp_path_factory.mktemp("report")
    return build_report(results, out, base_dir=run, pdf_writer=write_pdf), results, run


def test_html_is_self_contained_with_one_card_per_sample(report):
    rep, results, _ = report
    html = (rep.out_dir / "report.html").read_text(encoding="utf-8")
    page = parse(html)
    assert cards_of(html) == [s["file"] for s in results["samples"]] == rep.cards
    sources = [a.get("src") for _, a in page.tags if "src" in a] + [a.get("href") for _, a in page.tags if "href" in a]
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) >= 3 * len(results["samples"])  # original, adversarial, perturbation per card
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object")]
    outside_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    for needle in ("http:", "https:", "//", "url(", "@import"):
        assert needle not in outside_data, needle


def test_html_states_numbers_of_the_run(report):
    rep, results, _ = report
    text = " ".join(" ".join(parse(rep.html).text).split())
    s = results["summary"]
    assert f"{100 * s['clean_accuracy']:.1f}%" in text and f"{100 * s['robust_accuracy']:.1f}%" in text
    assert results["provenance"]["model"]["sha256"] in text and "advinspect attack demo --attack pgd" in text
    for row in results["samples"]:
        assert f"{row['l2']:.4f}" in text
        assert row["clean_top_k"][0]["name"] == row["clean_pred"] and row["adv_top_k"][0]["name"] == row["adv_pred"]
    gains = re.findall(r"Perturbation ×(\d+)", text)
    assert len(gains) == len(results["samples"])


def test_pdf_pages_and_text(report):
    rep, results, _ = report
    pages = pdf_text(rep.out_dir / "report.pdf")
    files = [s["file"] for s in results["samples"]]
    first = next(i for i, p in enumerate(pages) if f"#1 {files[0]}" in p)
    assert first >= 1  # the summary comes first, cards start on a fresh page
    assert len(pages) == first + math.ceil(len(files) / CARDS_PER_PAGE)
    for i, name in enumerate(files):
        assert f"#{i + 1} {name}" in pages[first + i // CARDS_PER_PAGE]
    assert results["provenance"]["model"]["file"] in pages[0] and "Summary" in pages[0]


def test_pdf_letter_paper(attack_run, tmp_path):
    from pypdf import PdfReader

    results, run = attack_run
    build_report(results, tmp_path, base_dir=run, formats=("pdf",), paper="letter", pdf_writer=write_pdf)
    box = PdfReader(str(tmp_path / "report.pdf")).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    assert not (tmp_path / "report.html").exists()


def test_pdf_first_page_renders_non_blank(report):
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QGuiApplication, QImage
    from PySide6.QtPdf import QPdfDocument

    rep, _, _ = report
    assert QGuiApplication.instance() is not None  # write_pdf made one
    document = QPdfDocument()
    document.load(str(rep.out_dir / "report.pdf"))
    for page in (0, 1):
        image = document.render(page, QSize(400, 566)).convertToFormat(QImage.Format.Format_Grayscale8)
        pixels = np.frombuffer(bytes(image.constBits()), np.uint8).reshape(image.height(), image.bytesPerLine())
        pixels = pixels[:, : image.width()]
        assert pixels.std() > 10 and (pixels < 100).mean() > 0.005, page


def test_rebuilt_report_equals_original(report, tmp_path):
    rep, results, _ = report
    again = rebuild_report(rep.out_dir / "results.json", tmp_path, pdf_writer=write_pdf)
    assert again.cards == rep.cards
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == rep.html
    assert pdf_text(tmp_path / "report.pdf") == pdf_text(rep.out_dir / "report.pdf")
    assert json.loads((tmp_path / "results.json").read_text()) == results


def test_csv_and_pngs(report):
    rep, results, _ = report
    with open(rep.out_dir / "samples.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == [s["file"] for s in results["samples"]]
    assert [float(r["linf"]) for r in rows] == [s["linf"] for s in results["samples"]]
    assert all(r["clean_top_k"].startswith(r["clean_pred"] + ":") for r in rows)
    pngs = sorted(p.name for p in (rep.out_dir / "images").glob("*.png"))
    assert len(pngs) == 3 * len(rows)
    assert all((rep.out_dir / s["adversarial"]).is_file() for s in results["samples"])


def test_filters_and_cap(attack_run, tmp_path):
    results, run = attack_run
    samples = results["samples"]
    flipped = [s["file"] for s in samples if status(s) == "flipped"]
    assert len(flipped) >= 3  # eps 0.1 flips most demo digits
    rep = build_report(results, tmp_path, base_dir=run, formats=("html",), flipped_only=True, max_cards=2)
    assert rep.cards == flipped[:2] and rep.more == max(0, len(flipped) - 2)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert cards_of(html) == flipped[:2]
    if rep.more:
        assert f"{rep.more} more sample" in html and "samples.csv" in html
    chosen, more = select_samples(samples, [samples[3]["file"], samples[1]["file"].split("/")[-1]], max_cards=None)
    assert [c["file"] for c in chosen] == [samples[3]["file"], samples[1]["file"]] and more == 0
    with pytest.raises(ReportError, match="no sample named nope.png"):
        select_samples(samples, ["nope.png"])


def test_refuses_to_overwrite_without_force(attack_run, tmp_path):
    results, run = attack_run
    build_report(results, tmp_path, base_dir=run, formats=("html",))
    before = (tmp_path / "report.html").stat().st_mtime_ns
    with pytest.raises(ReportError, match="exists; pass --force"):
        build_report(results, tmp_path, base_dir=run, formats=("html",), max_cards=1)
    assert (tmp_path / "report.html").stat().st_mtime_ns == before
    rep = build_report(results, tmp_path, base_dir=run, formats=("html",), max_cards=1, force=True)
    assert len(cards_of((tmp_path / "report.html").read_text(encoding="utf-8"))) == 1 == len(rep.cards)


def test_unwritable_folder_is_one_clear_error(attack_run, tmp_path):
    results, run = attack_run
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match=r"cannot write the report to .*a-file"):
        build_report(results, blocker / "report", base_dir=run, formats=("html",))


def test_full_disk_leaves_no_half_report(attack_run, tmp_path):
    results, run = attack_run

    def full_disk(html, path, paper):
        path.write_bytes(b"%PDF-1.4 partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with pytest.raises(ReportError, match="No space left on device"):
        build_report(results, tmp_path, base_dir=run, pdf_writer=full_disk)
    assert list(tmp_path.iterdir()) == []  # no report.html, no partial PDF, no staging folder


def test_cancel_writes_nothing(attack_run, tmp_path):
    results, run = attack_run
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(CancelledError):
        build_report(results, tmp_path, base_dir=run, formats=("html",), cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_pdf_needs_a_writer_and_missing_originals_still_render(attack_run, tmp_path):
    results, run = attack_run
    with pytest.raises(ReportError, match="pdf_writer"):
        build_report(results, tmp_path, base_dir=run)
    moved = json.loads(json.dumps(results))
    moved["samples"][0]["source"] = str(tmp_path / "gone.png")
    rep = build_report(moved, tmp_path / "r", base_dir=run, formats=("html",), max_cards=1)
    assert "original not found" in rep.html and len(rep.cards) == 1


def test_perturbation_gain_is_stated_and_bounded():
    assert nice_gain(0.1) == 5 and nice_gain(0.03) == 10 and nice_gain(0.0) == 1 and nice_gain(0.7) == 1
    original = np.full((4, 4, 1), 0.5, np.float32)
    adversarial = original.copy()
    adversarial[0, 0] += 0.02
    adversarial[1, 1] -= 0.02
    image, gain = perturbation_image(original, adversarial)
    assert gain == 20
    assert image[0, 0, 0] == pytest.approx(0.9, abs=1e-5) and image[1, 1, 0] == pytest.approx(0.1, abs=1e-5)
    assert image[2, 2, 0] == pytest.approx(0.5)


def test_status_does_not_call_a_wrong_clean_prediction_flipped():
    assert status({"label": "3", "clean_pred": "8", "adv_pred": "8", "success": True, "target": None}) == "misclassified"
    assert status({"label": "3", "clean_pred": "3", "adv_pred": "8", "success": True, "target": None}) == "flipped"
    assert status({"label": "3", "clean_pred": "3", "adv_pred": "3", "success": False, "target": None}) == "held"
    assert status({"label": "3", "clean_pred": "8", "adv_pred": "5", "success": True, "target": "5"}) == "flipped"
