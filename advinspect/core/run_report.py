"""The report of chosen runs: one `Section` per run (its model, defense, parameters, summary,
tables and figures) and a "reproduce" part with the equivalent CLI command and its image list,
written as one self-contained HTML file by `write_sections_report`.

Why its own module: the workbench reports any mix of runs (PGD vs CW, naive vs adaptive, an
evaluation beside them), where `build.py` reports one attack's samples. A Result that describes
itself (`report_section()`, the other verbs) is used as it is; attack and evaluation runs are
described here from what the run saved (`data`, `arrays`), so a run reopened from a workspace
reports the same as a fresh one. Nothing is recomputed.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from advinspect.core.report.sections import (
    Figure,
    Section,
    Table,
    figure_from_array,
    image_grid,
    write_sections_report,
)
from advinspect.core.runs import Run

MAX_ROWS = 200  # per-image rows in a run's table; the JSON keeps them all
GRID_IMAGES = 8

# CLI flag names that differ from a Config field's name
FLAGS = {"attacks": "--attack"}
# parameters that are not flags of the command (provenance kept elsewhere)
NOT_FLAGS = {"params", "device", "batch_size"}


def reproduce_command(run: Run, sources: Sequence[str]) -> str:
    """`advinspect <verb> MODEL IMAGES --flag value …` with the run's parameters; the model flags
    it needed (arch, num_classes) and its defense included."""
    model = run.model or {}
    words = ["advinspect", run.verb, str(model.get("path") or "MODEL"), *(sources or ["IMAGES"])]
    for key in ("arch", "num_classes"):
        if model.get(key) not in (None, ""):
            words += ["--" + key.replace("_", "-"), str(model[key])]
    if run.defense and run.defense.get("text") and run.verb != "defend":
        words += ["--defense", str(run.defense["text"])]
        if run.defense.get("adaptive"):
            words.append("--adaptive")
    for key, value in run.params.items():
        if key in NOT_FLAGS or value in (None, "", [], {}):
            continue
        flag = FLAGS.get(key, "--" + key.replace("_", "-"))
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            words += [flag, ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
        elif isinstance(value, float):
            words += [flag, f"{value:g}"]
        else:
            words += [flag, str(value)]
    if run.verb in ("attack", "evaluate", "certify", "detect", "compare", "defend"):
        words += ["--out", "OUT"]
    return shlex.join(words)


def run_section(run: Run, *, names: Sequence[str] = (), x: np.ndarray | None = None, value_range: tuple[float, float]
                = (0.0, 1.0), sources: Sequence[str] = ()) -> Section:
    """One run as a report Section. `names` and `x` are the session's image names and pixels (the
    run's `index` array points into them); without them the images are left out."""
    model = run.model or {}
    lines = [f"{run.verb} run at {run.when()} on model {model.get('name') or model.get('path') or '?'}"
             + (f" (sha256 {str(model['sha256'])[:16]}…)" if model.get("sha256") else ""),
             f"defense: {run.defense.get('text')}" + (" (adaptive attacks)" if run.defense.get("adaptive") else "")
             if run.defense else "defense: none"]
    if run.params:
        lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in run.params.items() if v not in (None, "", {})))
    lines += list(run.summary)
    section = Section(f"{run.name}", lines, command=reproduce_command(run, sources))
    own = getattr(run.result, "report_section", None)
    if run.verb == "evaluate":  # the full plots (curves, calibration, histograms, confusion)
        section.figures += evaluation_figures(run.data)
    elif run.verb == "attack":  # per-image rows and the image grid from the session's pixels
        _attack_parts(section, run, names, x, value_range)
    elif callable(own):
        described = own()
        section.tables += described.tables
        section.figures += described.figures
    index = run.arrays.get("index")
    if index is not None and len(names):
        files = [names[int(i)] for i in index if 0 <= int(i) < len(names)]
        section.tables.append(Table(["#", "image"], [[int(i), f] for i, f in zip(index[:MAX_ROWS], files, strict=False)],
                                    f"images of this run ({len(files)}" + (f", first {MAX_ROWS})" if len(files) > MAX_ROWS
                                                                           else ")")))
    return section


def _attack_parts(section: Section, run: Run, names: Sequence[str], x: np.ndarray | None,
                  value_range: tuple[float, float]) -> None:
    a = run.arrays
    if "index" not in a:
        return
    index = a["index"]
    rows = []
    for k, i in enumerate(index[:MAX_ROWS]):
        rows.append([int(i), names[int(i)] if int(i) < len(names) else "?",
                     str(a["status"][k]) if "status" in a else None,
                     int(a["adv_pred"][k]) if "adv_pred" in a else (int(np.argmax(a["adv_probs"][k])) if "adv_probs" in a
                                                                   else None),
                     float(a["linf"][k]) if "linf" in a else None, float(a["l2"][k]) if "l2" in a else None])
    section.tables.append(Table(["#", "image", "status", "adversarial class", "Linf", "L2"], rows, "per image"))
    if x is None or "x_adv" not in a:
        return
    lo, hi = value_range
    shown = [k for k in range(len(index)) if 0 <= int(index[k]) < len(x)][:GRID_IMAGES]
    if not shown:
        return
    originals = (x[index[shown]] - lo) / (hi - lo)
    adversarials = (a["x_adv"][shown] - lo) / (hi - lo)
    delta = adversarials - originals
    limit = float(np.abs(delta).max()) or 1.0
    perturbation = np.clip(0.5 + delta / (2 * limit), 0, 1)
    grid = image_grid(np.concatenate([originals, adversarials, perturbation]), columns=len(shown))
    scale = max(1, 96 // max(1, originals.shape[-1]))
    section.figures.append(figure_from_array(grid, f"rows: original, adversarial, perturbation (gray = 0, ±{limit:.3g}) "
                                                   f"of the first {len(shown)} image(s)", scale=scale))


def evaluation_figures(data: dict[str, Any]) -> list[Figure]:
    """Robustness curves, reliability diagram, confidence histograms and confusion matrices from an
    evaluation's JSON (the same plots `advinspect evaluate` writes)."""
    from advinspect.core.report.plots import write_evaluation_plots

    if not data.get("curves") and not data.get("calibration"):
        return []
    with tempfile.TemporaryDirectory(prefix="advinspect-runs-") as folder:
        paths = write_evaluation_plots(data, Path(folder))
        return [Figure(path.stem.replace("_", " "), path.read_bytes()) for path in paths]


def write_runs_report(path: str | Path, runs: Sequence[Run], *, names: Sequence[str] = (), x: np.ndarray | None = None,
                      value_range: tuple[float, float] = (0.0, 1.0), sources: Sequence[str] = (),
                      title: str = "advinspect: runs") -> Path:
    """The report of `runs`, in the order given, as one HTML file."""
    sections = [run_section(r, names=names, x=x, value_range=value_range, sources=sources) for r in runs]
    if len(runs) == 2:
        sections.insert(0, comparison_section(*runs))
    return write_sections_report(title, sections, path)


def comparison_section(a: Run, b: Run) -> Section:
    """Two runs side by side: per-image agreement on the images both cover."""
    from advinspect.core.runs import agreement

    agree = agreement(a, b)
    n = agree["common"]
    lines = [f"{a.name} vs {b.name}: {n} image(s) in common"]
    if n:
        lines.append(f"same adversarial class on {agree['same_prediction']}/{n}, same status on {agree['same_status']}/{n}")
        if agree["differ"]:
            lines.append("they differ on images " + ", ".join(map(str, agree["differ"][:50]))
                         + (" …" if len(agree["differ"]) > 50 else ""))
    return Section(f"comparison: {a.name} vs {b.name}", lines)
