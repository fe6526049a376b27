"""`advinspect saliency MODEL IMAGES... --out DIR`: saliency maps as overlays, one PNG per image.

The images are decoded, explained and their overlays written batch by batch (`--workers`,
`--batch-size`), so memory holds one batch of images and maps; DIR/saliency.json lists each
image's explained class, DIR/report.html shows the first overlays."""

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
    warn_skipped,
    write_result,
)
from advinspect.core.tasks import saliency


def cmd_saliency(args: argparse.Namespace) -> int:
    from advinspect.core.data.images import save_png
    from advinspect.core.explain.overlay import overlay

    config = config_from_args(saliency.Config, args)
    out = Path(args.out)
    check_writable(out)
    clf = load_model(args)
    stream = open_stream(args, clf, args.images, config.batch_size)

    def write(batch: Any, maps: Any, rows: list[dict[str, Any]]) -> None:  # each batch's overlays, then dropped
        for i, row in enumerate(rows):
            name = Path(row["file"]).with_suffix(".png")
            save_png(overlay(batch.x[i].numpy(), maps[i], clf.spec.value_range, opacity=args.opacity), out / name,
                     (0.0, 1.0))
            row["png"] = name.as_posix()

    with cancel_on_sigint() as cancel:
        with progress_bar("saliency") as progress:
            result = saliency.run_stream(clf, stream, config, on_maps=write, progress=progress, cancel=cancel)
        warn_skipped(result)
        write_result(args, clf, result, out / "saliency.json", "advinspect saliency")
    print_summary(result)
    print(f"written to {out} (saliency.json, report.html and one PNG per image)")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("saliency", help="saliency maps as overlays",
                            description="Saliency maps (captum) overlaid on the images, one PNG per image.")
    add_model_flags(parser)
    parser.add_argument("images", nargs="+", help="image files or folders")
    add_config_flags(parser, saliency.Config)
    parser.add_argument("--opacity", type=float, default=0.5, help="heat-map opacity (default 0.5)")
    add_stream_flags(parser)
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(func=cmd_saliency)
