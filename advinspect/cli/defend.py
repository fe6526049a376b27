"""`advinspect defend MODEL IMAGES... --defense jpeg:75`: predict through input transforms.

Every other command takes the same `--defense` flags to run on the defended model."""

from __future__ import annotations

import argparse
from typing import Any

from advinspect.cli.common import (
    add_model_flags,
    cancel_on_sigint,
    exit_code,
    load_images,
    load_model,
    print_summary,
    progress_bar,
)
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import defend, predict


def cmd_defend(args: argparse.Namespace) -> int:
    if not args.defense:
        raise AdvInspectError("give the transforms with --defense, e.g. --defense jpeg:75,bits:4")
    clf = load_model(args)  # the model behind --defense
    images = load_images(clf, args.images)
    with cancel_on_sigint() as cancel, progress_bar("defend") as progress:
        result = predict.run(predict.Inputs(clf, images), predict.Config(), progress=progress, cancel=cancel)
    print_summary(defend.Result(clf, images, result.probs, cancelled=result.cancelled))
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("defend", help="predict through input-transform defenses",
                            description="Put input transforms (JPEG, bit depth, median, noise) in front of the "
                            "model and predict the images through them. Every command takes the same --defense.")
    add_model_flags(parser)
    parser.add_argument("images", nargs="+", help="image files or folders")
    parser.set_defaults(func=cmd_defend)
