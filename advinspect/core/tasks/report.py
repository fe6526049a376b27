"""report: a self-contained HTML report (+ PDF, samples.csv, results.json, PNGs) of a run.

The PDF needs a writer from outside core (Qt prints it), handed in as `pdf_writer`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advinspect.core.errors import CancelledError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param

FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class Config:
    formats: tuple[str, ...] = param(("html", "pdf"), "report formats (comma-separated)", choices=FORMATS,
                                   flag="--format")
    flipped_only: bool = param(False, "cards only for samples the attack flipped")
    max_cards: int = param(100, "at most this many cards; the rest are in samples.csv", min=0)
    paper: str = param("a4", "PDF paper size", choices=("a4", "letter"))
    force: bool = param(False, "overwrite an existing report")
    select: tuple[str, ...] = field(default=())  # cards only for these files (names as in results.json)


@dataclass
class Inputs:
    results: dict[str, Any]  # a results.json as a dict
    out: Path  # the report folder
    base_dir: Path | None = None  # where results.json lives (its PNG paths are relative to it)
    pdf_writer: Any = None


@dataclass
class Result:
    report: Any  # core Report, None when cancelled (nothing is written then)
    formats: tuple[str, ...]
    out: Path
    cancelled: bool = False

    def summary(self) -> dict[str, Any]:
        if self.report is None:
            return {"out": str(self.out), "cards": 0, "more": 0, "cancelled": self.cancelled}
        return {"out": str(self.out), "cards": len(self.report.cards), "more": self.report.more,
                "files": [str(f) for f in self.report.files], "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        if self.report is None:
            return ["report cancelled; nothing was written"]
        more = f", {self.report.more} more in samples.csv" if self.report.more else ""
        names = ", ".join(f"report.{f}" for f in self.formats)
        return [f"wrote {names} ({len(self.report.cards)} cards{more}) in {self.out}"]

    def to_dict(self) -> dict[str, Any]:
        return self.summary()


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.report.build import build_report

    try:
        report = build_report(inputs.results, inputs.out, base_dir=inputs.base_dir, formats=config.formats,
                              selection=list(config.select) or None, flipped_only=config.flipped_only,
                              max_cards=config.max_cards, paper=config.paper, pdf_writer=inputs.pdf_writer,
                              force=config.force, progress=progress, cancel=cancel)
    except CancelledError:
        return Result(None, tuple(config.formats), Path(inputs.out), cancelled=True)
    return Result(report, tuple(config.formats), Path(inputs.out))
