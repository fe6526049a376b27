"""`advinspect saliency MODEL IMAGES... --out DIR`: saliency maps as overlays, one PNG per image."""

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
)
from advinspect.core.tasks import saliency


def cmd_saliency(args: argparse.Namespace) -> int:
    from advinspect.core.data.images import save_png
    from advinspect.core.explain.overlay import overlay

    config = config_from_args(saliency.Config, args)
    out = Path(args.out)
    check_writable(out)
    clf = load_model(args)
    images = load_images(clf, args.images)
    with cancel_on_sigint() as cancel:
        with progress_bar("saliency") as progress:
            result = saliency.run(saliency.Inputs(clf, images), config, progress=progress, cancel=cancel)
        for i, heat in enumerate(result.maps):
            image = overlay(images.x[i].numpy(), heat, clf.spec.value_range, opacity=args.opacity)
            save_png(image, out / Path(images.names[i]).with_suffix(".png"), (0.0, 1.0))
    print_summary(result)
    print(f"written to {out}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("saliency", help="saliency maps as overlays",
                            description="Saliency maps (captum) overlaid on the images, one PNG per image.")
    add_model_flags(parser)
    parser.add_argument("images", nargs="+", help="image files or folders")
    add_config_flags(parser, saliency.Config)
    parser.add_argument("--opacity", type=float, default=0.5, help="heat-map opacity (default 0.5)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(func=cmd_saliency)
