"""`advinspect certify MODEL DATA --out DIR`: randomized smoothing, a certified L2 radius per image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    cancel_on_sigint,
    check_writable,
    command_line,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    print_summary,
    progress_bar,
    refuse_overwrite,
)
from advinspect.core.tasks import certify


def cmd_certify(args: argparse.Namespace) -> int:
    from advinspect.core.report.results import provenance, write_json

    config = config_from_args(certify.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "certification.json", args.force)
    check_writable(out)
    clf = load_model(args)
    images = load_images(clf, args.data, labelled_for="certify")
    with cancel_on_sigint() as cancel:
        with progress_bar("certify") as progress:
            result = certify.run(certify.Inputs(clf, images), config, progress=progress, cancel=cancel)
        data = {**result.to_dict(), "provenance": {**provenance(clf), "command": command_line(args)}}
        path = write_json(out / "certification.json", data)
    print_summary(result)
    print(f"wrote {path}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("certify", help="randomized smoothing: certified L2 radius per image",
                            description="Randomized smoothing (Cohen et al. 2019): smoothed prediction with "
                            "abstain and a certified L2 radius per image; certified accuracy versus radius.")
    add_model_flags(parser)
    parser.add_argument("data", nargs="+", help="labelled set: folder of class folders")
    add_config_flags(parser, certify.Config)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_certify)
