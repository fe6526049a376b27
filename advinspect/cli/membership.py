"""`advinspect membership MODEL --members DIR --non-members DIR --out DIR`: membership inference
(threshold, offline LiRA, shadow models); members positive, balanced sets."""

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
from advinspect.core.tasks import membership


def cmd_membership(args: argparse.Namespace) -> int:

    config = config_from_args(membership.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "membership.json", args.force)
    check_writable(out)
    with cancel_on_sigint() as cancel:
        inputs = _inputs(args, cancel)
        clf = inputs.clf
        with progress_bar("membership") as progress:
            result = membership.run(inputs, config, progress=progress, cancel=cancel)
        path, report = write_result(args, clf, result, out / "membership.json", "Membership inference")
    print_summary(result)
    print(f"wrote {path}")
    print(f"wrote {report}")
    return exit_code(result)


def _inputs(args: argparse.Namespace, cancel: Any) -> membership.Inputs:
    """The demo (a target trained here on a known half of the digits) or the given model and sets."""
    from advinspect.core.errors import AdvInspectError

    if args.model == "demo":
        with progress_bar("training the demo target") as progress:
            return membership.demo_inputs(args.target_epochs, progress=progress, cancel=cancel)
    if not args.members or not args.non_members:
        raise AdvInspectError("membership needs --members DIR and --non-members DIR (or the model 'demo')")
    clf = load_model(args)
    members = load_images(clf, args.members, labelled_for="membership")
    non_members = load_images(clf, args.non_members, labelled_for="membership")
    population = load_images(clf, args.population, labelled_for="membership") if args.population else None
    return membership.Inputs(clf, members, non_members, population)


def register(sub: Any) -> None:
    parser = sub.add_parser("membership", help="membership inference: which images did the model train on?",
                            description="Membership inference against MODEL: the loss threshold (Yeom et al. "
                            "2018), offline LiRA with reference models (Carlini et al. 2022) and a shadow-model "
                            "attack (Shokri et al. 2017). Members are the positive class; the two sets are "
                            "balanced; AUC and TPR at 0.1%% and 1%% FPR with bootstrap intervals.")
    add_model_flags(parser)
    parser.add_argument("--members", nargs="+", help="the model's training images (class folders)")
    parser.add_argument("--non-members", nargs="+", help="held-out images of the same distribution (class folders)")
    parser.add_argument("--target-epochs", type=int, default=30, help="MODEL 'demo': the target is a cnn trained "
                        "here on a seeded random half of the 1797 digits for this many epochs; the rest are the "
                        "non-members")
    parser.add_argument("--population", nargs="+", help="images to train the reference models on "
                        "(default: the members and non-members together, in random halves)")
    add_config_flags(parser, membership.Config)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_membership)
