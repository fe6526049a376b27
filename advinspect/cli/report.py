"""`advinspect report RESULTS.json --out DIR`: (re)build a report; the report flags shared by
`attack --report` and `evaluate --report`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    config_from_args,
    exit_code,
    print_summary,
    progress_bar,
)
from advinspect.core.tasks import report


def add_report_flags(parser: argparse.ArgumentParser, *, with_dir: bool) -> None:
    group = parser.add_argument_group("report")
    if with_dir:
        group.add_argument("--report", metavar="DIR", help="also write a report (HTML, PDF, CSV, PNGs) into DIR")
    skip = () if with_dir is False else ("force",)  # attack/evaluate have their own --force
    add_config_flags(group, report.Config, skip=skip)
    group.add_argument("--select", action="append", metavar="FILE",
                       help="cards only for these samples (file name as in results.json; repeat)")


def report_config(args: argparse.Namespace) -> report.Config:
    return config_from_args(report.Config, args, select=tuple(args.select or ()), force=bool(args.force))


def check_report_target(args: argparse.Namespace, out: Path) -> None:
    """Fail before a long run, not after it, when the report would overwrite one."""
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.report.staging import check_writable

    for kind in report_config(args).formats:
        if (out / f"report.{kind}").exists() and not args.force:
            raise AdvInspectError(f"{out / f'report.{kind}'} exists; pass --force to overwrite")
    check_writable(out, "the report")


def write_report(args: argparse.Namespace, results: dict[str, Any], out: Path, base_dir: Path,
                 cancel: Any = None) -> report.Result:
    from advinspect.core.jobs import NEVER

    config = report_config(args)
    pdf_writer = None
    if "pdf" in config.formats:
        from advinspect.pdf import write_pdf as pdf_writer
    with progress_bar("report") as progress:
        result = report.run(report.Inputs(results, out, base_dir, pdf_writer), config, progress=progress,
                            cancel=cancel or NEVER)
    print_summary(result)
    return result


def cmd_report(args: argparse.Namespace) -> int:
    from advinspect.cli.common import cancel_on_sigint
    from advinspect.core.report.build import load_results

    results_path = Path(args.results)
    results = load_results(results_path)
    with cancel_on_sigint() as cancel:
        result = write_report(args, results, Path(args.out), results_path.parent, cancel)
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("report", help="(re)build a report from results.json",
                            description="Build a report (self-contained HTML, PDF, samples.csv, results.json, "
                            "PNGs) from a saved results.json, the adversarial PNGs beside it and the original "
                            "images at each sample's source path.")
    parser.add_argument("results", help="results.json written by attack, evaluate --report or an earlier report")
    parser.add_argument("--out", required=True, help="report folder")
    add_report_flags(parser, with_dir=False)
    parser.set_defaults(func=cmd_report)
