"""Reports of attacked samples: one self-contained HTML file, a PDF, samples.csv, results.json
and the PNGs, all built from a results dict (results.json) and image files on disk.

Why from files: a report must be rebuildable later (`advinspect report results.json`) and the
rebuilt report must equal the first one, so the first build reads exactly what a rebuild reads:
the adversarial PNGs next to results.json and the original images at each sample's `source`.

Why the PDF is a callable: core never imports Qt, and Qt's rich text (QTextDocument) is how we
print. The caller hands in `advinspect.pdf.write_pdf` (CLI, GUI); core renders the HTML it prints.

Reliability: the whole folder (report, samples.csv, results.json, PNGs) is written into a
staging folder beside it and swapped into place only when all of it exists (`staging.py`), so a
crash, a kill, a cancel or a full disk leaves the previous folder, never half a report or a mix
of two runs. An existing report is kept unless `force`.

Hostile input: the results dict is checked field by field first (`schema.py`, one error line);
files it names are read only inside its folder (originals excepted: read-only, see `paths.py`);
everything written gets a name we generate. samples.csv quotes cells a spreadsheet would run as
formulas.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from advinspect.core.errors import AdvInspectError, CancelledError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.report.errors import ReportError, ResultsFileError
from advinspect.core.report.jsonio import finite, write_json
from advinspect.core.report.paths import confined, flat_name, readable_source, sample_path
from advinspect.core.report.schema import validate_results
from advinspect.core.report.staging import check_writable, staged_folder
from advinspect.core.status import row_status

FORMATS = ("html", "pdf")
PAPERS = ("a4", "letter")
DEFAULT_MAX_CARDS = 100
TOP_K_SHOWN = 3
DISPLAY_SIDE = 112  # pixels an image takes on a card
CARDS_PER_PAGE = 3  # PDF: a page break after every this many cards, so no card is split
CSV_COLUMNS = ("file", "source", "label", "target", "clean_pred", "clean_confidence", "adv_pred",
               "adv_confidence", "success", "success_after_quantization", "linf", "l2", "l0", "iterations",
               "queries", "clean_top_k", "adv_top_k", "adversarial")
MAX_RESULTS_BYTES = 1 << 30  # a results file larger than this is refused before parsing
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet evaluates such text cells

PdfWriter = Callable[[str, Path, str], None]
"""(html, path, paper) -> None: prints the print template's HTML to a PDF file."""


@dataclass
class Report:
    """What a build wrote, and the card selection (the GUI shows it; tests check it)."""

    out_dir: Path
    files: list[Path]
    cards: list[str]  # file names of the samples that got a card, in order
    more: int  # samples left out by the cap (they are in samples.csv)
    html: str | None = None


# --- selection ---------------------------------------------------------------------------

def status(row: dict[str, Any]) -> str:
    """The row's status word (flipped / misclassified / held / not attacked), by the one rule
    in core.status."""
    return row_status(row)


def select_samples(samples: Sequence[dict[str, Any]], selection: Iterable[str] | None = None,
                   flipped_only: bool = False, max_cards: int | None = DEFAULT_MAX_CARDS
                   ) -> tuple[list[dict[str, Any]], int]:
    """The samples that get a card, and how many more the filter kept but the cap left out.

    `selection` holds file names (as in results.json, or just their base names); a name that
    matches nothing is an error, since a silently empty report hides the typo."""
    chosen = list(samples)
    if selection is not None:
        wanted = list(selection)
        by_name = {s["file"]: s for s in samples}
        by_base: dict[str, list[dict[str, Any]]] = {}
        for s in samples:
            by_base.setdefault(Path(s["file"]).name, []).append(s)
        picked: list[dict[str, Any]] = []
        unknown = []
        for name in wanted:
            hits = [by_name[name]] if name in by_name else by_base.get(Path(name).name, [])
            if not hits:
                unknown.append(name)
            picked.extend(h for h in hits if h not in picked)
        if unknown:
            raise ReportError(f"no sample named {', '.join(unknown[:5])}"
                              + (f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""))
        chosen = picked
    if flipped_only:
        chosen = [s for s in chosen if status(s) == "flipped"]
    if max_cards is not None and max_cards < 0:
        raise ReportError(f"the card cap must be 0 or more, got {max_cards}")
    limit = len(chosen) if max_cards is None else max_cards
    return chosen[:limit], max(0, len(chosen) - limit)


# --- images ------------------------------------------------------------------------------

def _unit_image(path: Path, shape: Sequence[int] | None, resize: str) -> np.ndarray:
    """An image file as (H, W, C) float in [0, 1], fitted to the model input as the attack saw it."""
    from advinspect.core.data.images import fit_to_spec, read_image
    from advinspect.core.models.spec import ModelSpec

    array = read_image(path, max_side=max(shape[1:]) if shape else None)
    if shape is None:
        return array
    spec = ModelSpec(input_shape=tuple(shape), value_range=(0.0, 1.0), resize=resize)
    return fit_to_spec(array, spec).transpose(1, 2, 0)


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    pixels = np.round(np.clip(unit, 0, 1) * 255).astype(np.uint8)
    return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels


def nice_gain(linf: float) -> float:
    """An amplification that maps the largest change to at most half the gray range, rounded
    down to one significant digit so the card can state it plainly (1 to 1000)."""
    if not linf or linf <= 0 or not math.isfinite(linf):
        return 1.0
    raw = max(1.0, min(1000.0, 0.5 / linf))
    power = 10 ** math.floor(math.log10(raw))
    return float(math.floor(raw / power) * power)


def perturbation_image(original: np.ndarray, adversarial: np.ndarray) -> tuple[np.ndarray, float]:
    """Mid-gray plus the amplified difference (unit range), and the gain used."""
    delta = adversarial - original
    gain = nice_gain(float(np.abs(delta).max()) if delta.size else 0.0)
    return np.clip(0.5 + gain * delta, 0, 1), gain


def _display(pixels: np.ndarray, side: int = DISPLAY_SIDE) -> Image.Image:
    """Small images are enlarged by a whole factor with nearest neighbours (pixels stay crisp in
    every viewer, Qt's PDF included); large ones are reduced to the card's size."""
    image = Image.fromarray(pixels)
    longest = max(image.size)
    if longest < side:
        factor = max(1, side // longest)
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    elif longest > side:
        scale = side / longest
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    return image


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _read_sample_file(base_dir: Path, row: dict[str, Any], key: str, shape: Sequence[int] | None,
                      resize: str) -> np.ndarray:
    """A PNG the row names (adversarial, saliency), read only inside the results folder."""
    rel = row.get(key)
    if not rel:
        raise FileNotFoundError(key)
    path = confined(base_dir, rel, f"{row['file']}: {key}")
    if not path.is_file():
        raise FileNotFoundError(rel)
    return _unit_image(path, shape, resize)


# --- cards -------------------------------------------------------------------------------

def _printable(value: Any) -> str:
    """A path for display: undecodable bytes of a file name shown as U+FFFD."""
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _problem(what: str, where: Any, exc: Exception) -> str:
    """The line a card shows for an image it cannot show."""
    if isinstance(exc, ResultsFileError):
        return _printable(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{what} not found at {_printable(where)}"
    return f"{what} unreadable at {_printable(where)}: {_printable(exc)}"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _top_rows(before: list[dict[str, Any]] | None, after: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    before, after = before or [], after or []

    def entry(t: dict[str, Any] | None) -> dict[str, Any] | None:
        if t is None:
            return None
        p = t.get("probability")
        return {"name": t["name"], "p": math.nan if p is None else p, "pct": 0 if p is None else round(100 * p, 1)}

    return [{"rank": i + 1, "before": entry(before[i] if i < len(before) else None),
             "after": entry(after[i] if i < len(after) else None)}
            for i in range(min(TOP_K_SHOWN, max(len(before), len(after))))]


def _card(index: int, row: dict[str, Any], base_dir: Path, shape: Sequence[int] | None, resize: str,
          stage: Path, saliency_method: str | None = None) -> dict[str, Any]:
    """Card context for the templates; writes the card's PNGs into stage/images."""
    images: list[dict[str, Any]] = []
    missing: list[str] = []
    original = adversarial = None
    try:
        original = _unit_image(readable_source(base_dir, row.get("source") or ""), shape, resize)
    except (AdvInspectError, OSError) as exc:
        missing.append(_problem("original", row.get("source"), exc))
    try:
        adversarial = _read_sample_file(base_dir, row, "adversarial", shape, "none" if shape else resize)
    except (AdvInspectError, OSError) as exc:
        missing.append(_problem("adversarial", row.get("adversarial"), exc))
    gain = None
    pictures: list[tuple[str, str, np.ndarray]] = []
    if original is not None:
        pictures.append(("original", "Original", _to_uint8(original)))
    if adversarial is not None:
        pictures.append(("adversarial", "Adversarial", _to_uint8(adversarial)))
    if original is not None and adversarial is not None and original.shape == adversarial.shape:
        perturbation, gain = perturbation_image(original, adversarial)
        pictures.append(("perturbation", f"Perturbation ×{gain:g}", _to_uint8(perturbation)))
    method = (saliency_method or "saliency").replace("_", " ")
    for key, title in (("saliency_original", f"{method}, original"), ("saliency_adversarial", f"{method}, adv.")):
        if row.get(key):
            try:
                pictures.append((key, title, _to_uint8(_read_sample_file(base_dir, row, key, None, "none"))))
            except (AdvInspectError, OSError) as exc:
                missing.append(_problem(title.lower(), row[key], exc))
    for key, title, pixels in pictures:
        png_path = stage / "images" / flat_name(row["file"], f".{key}.png")
        png_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(png_path, format="PNG")
        shown = _display(pixels)
        images.append({"key": key, "title": title, "uri": data_uri(_png_bytes(shown)),
                       "width": shown.width, "height": shown.height})
    success, quant = row.get("success"), row.get("success_after_quantization")
    return {
        "index": index,
        "file": row["file"],
        "label": row.get("label"),
        "target": row.get("target"),
        "clean_pred": row.get("clean_pred"),
        "adv_pred": row.get("adv_pred"),
        "clean_confidence": _fmt(row.get("clean_confidence"), 3),
        "adv_confidence": _fmt(row.get("adv_confidence"), 3),
        "success": bool(success),
        "status": status(row),
        "success_after_quantization": bool(quant),
        "quantization_note": None if success == quant else
        ("the flip does not survive saving as 8-bit PNG" if success else "flips only after 8-bit rounding"),
        "images": images,
        "gain": gain,
        "missing": missing,
        "top": _top_rows(row.get("clean_top_k"), row.get("adv_top_k")),
        "norms": [("L∞", _fmt(row.get("linf"))), ("L2", _fmt(row.get("l2"))), ("L0", _fmt(row.get("l0"))),
                  ("iterations", _fmt(row.get("iterations"))), ("queries", _fmt(row.get("queries")))],
    }


# --- summary -----------------------------------------------------------------------------

def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.1f}%"


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    s = results.get("summary") or {}
    samples = results.get("samples", [])
    params = s.get("params") or {}
    tiles = [("Images", str(len(samples) if s.get("n") is None else s["n"])),
             ("Clean accuracy", _pct(s.get("clean_accuracy"))),
             ("Robust accuracy", _pct(s.get("robust_accuracy"))),
             ("Success rate", _pct(s.get("success_rate"))),
             ("After 8-bit rounding", _pct(s.get("success_rate_after_quantization"))),
             ("Median L∞", _fmt(s.get("median_linf"))),
             ("Median L2", _fmt(s.get("median_l2"))),
             ("Mean queries", _fmt(s.get("mean_queries"), 1)),
             ("Time", "–" if s.get("seconds") is None else f"{float(s['seconds']):.2f} s")]
    return {"attack": s.get("attack"), "params": [(k, _fmt(v, 6)) for k, v in params.items()],
            "seed": s.get("seed"), "device": s.get("device"), "tiles": tiles,
            "labels_known": s.get("labels_known", True), "cancelled": bool(s.get("cancelled"))}


def report_warnings(results: dict[str, Any]) -> list[str]:
    """Sanity-check warnings: the evaluation's own, plus what a plain attack run reveals."""
    warnings = list((results.get("evaluation") or {}).get("warnings") or [])
    s = results.get("summary") or {}
    samples = results.get("samples", [])
    if s.get("cancelled"):
        warnings.append("The run was cancelled: only the samples attacked before the cancel count.")
    if samples and not s.get("labels_known", True):
        warnings.append("No true labels: success means the prediction changed from the clean prediction.")
    lost = sum(1 for r in samples if r.get("success") and not r.get("success_after_quantization"))
    if lost:
        warnings.append(f"{lost} adversarial example(s) stop fooling the model once saved as 8-bit images.")
    wrong = sum(1 for r in samples if r.get("label") is not None and r.get("clean_pred") != r.get("label"))
    if samples and wrong:
        warnings.append(f"{wrong} of {len(samples)} images are misclassified before any attack "
                        "(they count against robust accuracy, not as attack successes).")
    return warnings


def _header(results: dict[str, Any]) -> dict[str, Any]:
    prov = results.get("provenance") or {}
    model = prov.get("model") or {}
    spec = model.get("spec") or {}
    labels = list(spec.get("labels") or [])
    shown_labels = ", ".join(labels[:20]) + (f", … ({len(labels)} in all)" if len(labels) > 20 else "")
    spec_rows = [("input shape", " × ".join(str(v) for v in spec.get("input_shape") or []) or "–"),
                 ("value range", _fmt(spec.get("value_range"))),
                 ("mean / std", f"{_fmt(spec.get('mean'))} / {_fmt(spec.get('std'))}"),
                 ("resize", _fmt(spec.get("resize"))), ("labels", shown_labels or "–")]
    versions = prov.get("versions") or {}
    environment = [(k, _fmt(v)) for k, v in versions.items()]
    environment.append(("device", _fmt(prov.get("device") or (results.get("summary") or {}).get("device"))))
    gui = prov.get("gui_parameters")
    return {
        "model": [("file", _fmt(model.get("file"))), ("format", _fmt(model.get("format"))),
                  ("sha256", _fmt(model.get("sha256")))],
        "spec": spec_rows,
        "environment": environment,
        "created": results.get("created") or "–",
        "command": prov.get("command"),
        "gui_parameters": None if not gui else json.dumps(gui, indent=1, sort_keys=True),
    }


def _plots(results: dict[str, Any], stage: Path) -> list[dict[str, Any]]:
    evaluation = results.get("evaluation")
    if not evaluation:
        return []
    from advinspect.core.report.plots import write_evaluation_plots

    titles = {"robustness": "Robust accuracy versus epsilon", "reliability": "Reliability diagrams",
              "histograms": "Confidence histograms", "confusion": "Confusion matrices"}
    plots = []
    for path in write_evaluation_plots(evaluation, stage / "plots"):
        png = path.read_bytes()
        with Image.open(io.BytesIO(png)) as image:
            width, height = image.size
        plots.append({"title": titles.get(path.stem, path.stem), "uri": data_uri(png), "width": width,
                      "height": height})
    return plots


def _evaluation_rows(results: dict[str, Any]) -> dict[str, Any] | None:
    evaluation = results.get("evaluation")
    if not evaluation:
        return None
    calib = evaluation.get("calibration") or {}
    curves = [{"attack": c["attack"], "points": [(_fmt(e, 4), _pct(a)) for e, a in
                                                 zip(c["eps"], c["robust_accuracy"], strict=False)]}
              for c in evaluation.get("curves") or []]
    ref = evaluation.get("reference_attack") or {}
    return {"ece": _fmt(calib.get("ece")), "temperature": _fmt(calib.get("temperature"), 3),
            "ece_after": _fmt(calib.get("ece_after_temperature")), "nll": _fmt(calib.get("nll")),
            "brier": _fmt(calib.get("brier")), "curves": curves,
            "reference": f"{ref.get('attack')} at eps {_fmt(ref.get('eps'))}" if ref else None}


# --- files -------------------------------------------------------------------------------

def _csv_value(value: Any) -> Any:
    """A cell: top-k lists as 'name:p; ...'; text that a spreadsheet would evaluate as a formula
    gets a leading single quote (OWASP); numbers stay numbers, negative ones included."""
    if isinstance(value, list):
        value = "; ".join(f"{t['name']}:" + ("nan" if t.get("probability") is None else f"{t['probability']:.4f}")
                          for t in value)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(samples: Sequence[dict[str, Any]], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as handle:  # lone surrogates as ?
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in samples:
            writer.writerow([_csv_value(row.get(c)) for c in CSV_COLUMNS])
    return path


def _copy_sample_files(results: dict[str, Any], base_dir: Path, stage: Path) -> None:
    """The adversarial (and saliency) PNGs into the new folder, so it rebuilds on its own.
    They are read inside `base_dir` only and written under names generated from the sample's
    `file`; the rows are updated to those names."""
    tails = {"adversarial": ".png", "saliency_original": ".original.png",
             "saliency_adversarial": ".adversarial.png"}
    folders = {"adversarial": "adversarial", "saliency_original": "saliency", "saliency_adversarial": "saliency"}
    for row in results["samples"]:
        for key, tail in tails.items():
            rel = row.get(key)
            if not rel:
                continue
            try:
                src = confined(base_dir, rel, f"{row['file']}: {key}")
            except ResultsFileError:
                row[key] = None  # a symlink out of the folder: neither read nor copied
                continue
            name = sample_path(folders[key], row["file"], tail)
            row[key] = name
            if src.is_file():
                dst = stage / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not dst.exists():
                    _link_or_copy(src, dst)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where possible (our PNGs are replaced by rename, never edited in place)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """One Jinja environment per process: it caches compiled templates (compiling takes ~0.1 s)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("advinspect", "core/report/templates"),
                       autoescape=select_autoescape(("html", "j2")), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def render(results: dict[str, Any], cards: list[dict[str, Any]], plots: list[dict[str, Any]], more: int,
           filter_text: str, template: str = "report.html.j2", paper: str = "a4") -> str:
    title = f"{(results.get('summary') or {}).get('attack') or 'advinspect'} report"
    model_file = ((results.get("provenance") or {}).get("model") or {}).get("file")
    if model_file:
        title += f" — {model_file}"
    return _environment().get_template(template).render(
        title=title, kind=results.get("kind") or "attack", header=_header(results), summary=_summary(results),
        evaluation=_evaluation_rows(results), plots=plots, warnings=report_warnings(results), cards=cards,
        more=more, total=len(results.get("samples", [])), filter_text=filter_text,
        cards_per_page=CARDS_PER_PAGE, paper=paper)


def _check_target(out_dir: Path, formats: Sequence[str], force: bool) -> None:
    existing = [out_dir / f"report.{f}" for f in formats if (out_dir / f"report.{f}").exists()]
    if existing and not force:
        raise ReportError(f"{existing[0]} exists; pass --force to overwrite")
    check_writable(out_dir, "the report")


def build_report(results: dict[str, Any], out_dir: str | Path, *, base_dir: str | Path | None = None,
                 formats: Sequence[str] = FORMATS, selection: Iterable[str] | None = None,
                 flipped_only: bool = False, max_cards: int | None = DEFAULT_MAX_CARDS, paper: str = "a4",
                 pdf_writer: PdfWriter | None = None, force: bool = False, progress: Progress = NO_PROGRESS,
                 cancel: CancelToken = NEVER) -> Report:
    """Write report.html / report.pdf, samples.csv, results.json and the PNGs into `out_dir`.

    `base_dir` is where results.json lives (its `adversarial` paths are relative to it; default
    `out_dir`). The PDF needs `pdf_writer` (advinspect.pdf.write_pdf) since core has no Qt.
    Raises ReportError with one readable line; on any failure `out_dir` is left as it was."""
    formats = tuple(dict.fromkeys(f.strip().lower() for f in formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ReportError(f"unknown report format {', '.join(bad) or '(none)'}; choose from {', '.join(FORMATS)}")
    if paper not in PAPERS:
        raise ReportError(f"paper must be one of {', '.join(PAPERS)}, got {paper!r}")
    if "pdf" in formats and pdf_writer is None:
        raise ReportError("a PDF needs a writer: pass pdf_writer=advinspect.pdf.write_pdf")
    if not isinstance(results, dict) or "samples" not in results or "summary" not in results:
        raise ReportError("not an advinspect results file: it has no summary or samples")
    results = validate_results(finite(results))  # exactly what a rebuild from results.json reads
    out_dir = Path(out_dir)
    base_dir = Path(base_dir) if base_dir is not None else out_dir
    _check_target(out_dir, formats, force)
    samples = results["samples"]
    chosen, more = select_samples(samples, selection, flipped_only, max_cards)
    spec = ((results.get("provenance") or {}).get("model") or {}).get("spec") or {}
    shape, resize = spec.get("input_shape"), spec.get("resize") or "resize"
    total = len(chosen) + 2
    with staged_folder(out_dir, "the report") as stage:
        cards = []
        for i, row in enumerate(chosen):
            if cancel.cancelled:
                raise CancelledError("report cancelled; nothing was written")
            cards.append(_card(i + 1, row, base_dir, shape, resize, stage, results.get("saliency_method")))
            progress(i + 1, total, f"card {i + 1}/{len(chosen)}")
        plots = _plots(results, stage)
        filter_text = _filter_text(len(chosen), more, len(samples), selection is not None, flipped_only)
        html = None
        if "html" in formats:
            html = render(results, cards, plots, more, filter_text, "report.html.j2", paper)
            (stage / "report.html").write_text(html, encoding="utf-8")
        if "pdf" in formats:
            assert pdf_writer is not None
            progress(len(chosen) + 1, total, "PDF")
            pdf_writer(render(results, cards, plots, more, filter_text, "report_print.html.j2", paper),
                       stage / "report.pdf", paper)
        _copy_sample_files(results, base_dir, stage)  # renames the rows' PNGs: before the CSV and JSON
        write_csv(samples, stage / "samples.csv")
        write_json(stage / "results.json", results)
        if cancel.cancelled:
            raise CancelledError("report cancelled; nothing was written")
        files = [out_dir / p.relative_to(stage) for p in sorted(stage.rglob("*")) if p.is_file()]
    progress(total, total, "done")
    return Report(out_dir, files, [c["file"] for c in cards], more, html)


def _filter_text(shown: int, more: int, total: int, selected: bool, flipped_only: bool) -> str:
    filters = [f for f, on in (("your selection", selected), ("flipped only", flipped_only)) if on]
    text = f"Showing {shown} of {total} sample{'s' if total != 1 else ''}"
    if filters:
        text += f" ({', '.join(filters)})"
    if more:
        text += f"; {more} more in samples.csv"
    return text + "."


def load_results(path: str | Path) -> dict[str, Any]:
    """results.json as a checked dict (see `schema.py`), with one readable error for a missing,
    broken or malformed file."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ReportError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise ReportError(f"{path}: larger than {MAX_RESULTS_BYTES >> 20} MB; not a results file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ReportError(f"{path}: not a readable results file ({reason})") from None
    if not isinstance(data, dict) or "samples" not in data or "summary" not in data:
        raise ReportError(f"{path}: not an advinspect results file (no summary or samples)")
    try:
        return validate_results(data)
    except ResultsFileError as exc:
        raise ResultsFileError(f"{path}: {exc}") from None


def rebuild_report(results_path: str | Path, out_dir: str | Path, **options: Any) -> Report:
    """A report again from a saved results.json (+ the PNGs beside it and the originals)."""
    results_path = Path(results_path)
    return build_report(load_results(results_path), out_dir, base_dir=results_path.parent, **options)
