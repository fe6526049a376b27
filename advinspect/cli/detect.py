"""`advinspect detect MODEL DATA --out DIR`: the feature-squeezing detector on an attack's adversarials."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.attack import add_attack_param_flags, attack_params
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
from advinspect.core.tasks import attack, detect


def cmd_detect(args: argparse.Namespace) -> int:
    from advinspect.core.report.results import write_json

    config = config_from_args(detect.Config, args, params=attack_params(args))
    attack.build_attack(attack.Config(attack=config.attack, params=config.params))  # fail early on a typo
    out = Path(args.out)
    refuse_overwrite(out / "detection.json", args.force)
    check_writable(out)
    clf = load_model(args)
    images = load_images(clf, args.data)
    with cancel_on_sigint() as cancel:
        with progress_bar(config.attack) as progress:
            result = detect.run(detect.Inputs(clf, images), config, progress=progress, cancel=cancel)
        path = write_json(out / "detection.json", {**result.to_dict(), "command": command_line(args)})
    print_summary(result)
    print(f"wrote {path}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("detect", help="feature-squeezing detector: detection rate and ROC",
                            description="Feature squeezing (Xu et al. 2018): threshold at a false-positive rate "
                            "on the clean images, detection rate on the adversarials that fooled the model, "
                            "ROC AUC.")
    add_model_flags(parser)
    parser.add_argument("data", nargs="+", help="images or folders")
    add_config_flags(parser, detect.Config)
    add_attack_param_flags(parser)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_detect)
