"""`advinspect certify MODEL DATA --out DIR`: randomized smoothing, a certified L2 radius per image.

The images are decoded batch by batch (`--workers`, `--image-batch`), so memory holds one batch;
DIR/certification.json has the per-image rows (`samples`) and the curve computed from them,
DIR/report.html the same as a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    add_stream_flags,
    cancel_on_sigint,
    check_writable,
    config_from_args,
    exit_code,
    load_model,
    open_stream,
    print_summary,
    progress_bar,
    refuse_overwrite,
    warn_skipped,
    write_result,
)
from advinspect.core.tasks import certify


def cmd_certify(args: argparse.Namespace) -> int:
    config = config_from_args(certify.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "certification.json", args.force)
    check_writable(out)
    clf = load_model(args)
    stream = open_stream(args, clf, args.data, args.image_batch, labelled_for="certify")
    with cancel_on_sigint() as cancel:
        with progress_bar("certify") as progress:
            result = certify.run_stream(clf, stream, config, progress=progress, cancel=cancel)
        warn_skipped(result)
        path, report = write_result(args, clf, result, out / "certification.json", "advinspect certify")
    print_summary(result)
    print(f"wrote {path} and {report}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("certify", help="randomized smoothing: certified L2 radius per image",
                            description="Randomized smoothing (Cohen et al. 2019): smoothed prediction with "
                            "abstain and a certified L2 radius per image; certified accuracy versus radius.")
    add_model_flags(parser)
    parser.add_argument("data", nargs="+", help="labelled set: folder of class folders")
    add_config_flags(parser, certify.Config)
    add_stream_flags(parser, image_batch=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_certify)
