"""`advinspect invert MODEL [--classes 0,1] [--check-model PATH] --out DIR`: MIFace model inversion,
a reconstruction per class, checked by a second model when one is given."""

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
    load_model,
    print_summary,
    progress_bar,
    refuse_overwrite,
    write_result,
)
from advinspect.core.tasks import invert


def cmd_invert(args: argparse.Namespace) -> int:
    import numpy as np


    config = config_from_args(invert.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "inversion.json", args.force)
    check_writable(out)
    clf = load_model(args)
    check = load_model(args, args.check_model) if args.check_model else None
    with cancel_on_sigint() as cancel:
        with progress_bar("invert") as progress:
            result = invert.run(invert.Inputs(clf, check), config, progress=progress, cancel=cancel)
        path, report = write_result(args, clf, result, out / "inversion.json", "Model inversion")
        np.savez_compressed(out / "reconstructions.npz", images=result.inversion.images,
                            classes=np.asarray(result.classes))
    print_summary(result)
    print(f"wrote {path}")
    print(f"wrote {report}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("invert", help="model inversion (MIFace): what the model thinks each class looks like",
                            description="MIFace (Fredrikson et al. 2015): gradient descent on 1 - p_class from a "
                            "gray image, optional total-variation prior, stopped when the cost stops improving; "
                            "--check-model classifies the reconstructions with an independent model.")
    add_model_flags(parser)
    parser.add_argument("--check-model", help="a second, independently trained model that classifies the "
                        "reconstructions (same model flags)")
    add_config_flags(parser, invert.Config)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_invert)
