"""`advinspect scan MODEL IMAGES --out DIR`: is the model backdoored? Neural Cleanse writes the
flagged classes, each class's anomaly index and reversed trigger; STRIP writes the entropy
threshold at a false-rejection rate and flags the inputs given with --check."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    cancel_on_sigint,
    check_writable,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    print_summary,
    progress_bar,
    refuse_overwrite,
    write_result,
)
from advinspect.core.tasks import scan


def cmd_scan(args: argparse.Namespace) -> int:
    from advinspect.core.data.images import save_png

    config = config_from_args(scan.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "scan.json", args.force)
    check_writable(out)
    clf = load_model(args)
    images = load_images(clf, args.images)
    check = load_images(clf, [args.check]) if args.check else None
    with cancel_on_sigint() as cancel:
        with progress_bar(f"scan {config.method}") as progress:
            result = scan.run(scan.Inputs(clf, images, check), config, progress=progress, cancel=cancel)
        extra = {}
        triggers = result.trigger_images()
        if triggers is not None:
            files = [save_png(t, out / "triggers" / f"class_{k:03d}.png") for k, t in enumerate(triggers)]
            extra["trigger_files"] = [str(f.relative_to(out)) for f in files]
        path, report = write_result(args, clf, result, out / "scan.json", "advinspect scan", extra)
    print_summary(result)
    print(f"wrote {path}, {report}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("scan", help="scan a model for a backdoor (Neural Cleanse, STRIP)",
                            description="Neural Cleanse (Wang et al. 2019): a minimal trigger per class and an "
                            "anomaly index (flagged above 2). STRIP (Gao et al. 2019): entropy under "
                            "superimposition, thresholded at a false-rejection rate on the clean IMAGES; "
                            "--check flags inputs. No training data needed.")
    add_model_flags(parser)
    parser.add_argument("images", nargs="+", help="a few clean images (files or folders)")
    add_config_flags(parser, scan.Config)
    parser.add_argument("--check", help="STRIP: a folder of inputs to flag as triggered or not")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite the output")
    parser.set_defaults(func=cmd_scan)
