"""`advinspect train DATA --defense NAME --out MODEL`: train a defended model, saved as
TorchScript with its sidecar spec and training history."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    cancel_on_sigint,
    check_writable,
    config_from_args,
    exit_code,
    parse_param_pairs,
    print_summary,
    progress_bar,
    refuse_overwrite,
    warn,
)
from advinspect.core.defenses.training_config import DEFENSES
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import train


def _inputs(args: argparse.Namespace, config: Any) -> train.Inputs:
    spec, start = None, args.arch
    if args.start_from:
        from advinspect.core.models import load_model

        start = load_model(args.start_from, device="cpu", trust_pickle=args.trust_pickle)
        spec = start.spec
    if args.data == "demo":
        return train.Inputs(start=start, spec=spec)
    if start is None:
        raise AdvInspectError("give the architecture to train (--arch NAME or package.module:Class) "
                              "or a model to start from (--from MODEL)")
    if spec is None:
        from advinspect.core.models.loader import build_architecture

        spec = build_architecture(start, None)[1]
    if spec.input_shape is None:
        raise AdvInspectError(f"{start} does not say its input shape; start --from a model with a spec")
    from advinspect.core.defenses.training import folder_training_set

    x, y, errors = folder_training_set(args.data, spec)
    for message in errors:
        warn(f"skipped {message}")
    return train.Inputs(start=start, spec=spec, x=x, labels=y)


def cmd_train(args: argparse.Namespace) -> int:
    from advinspect.core.defenses.training import save_defended_model

    config = config_from_args(train.Config, args, **parse_param_pairs(args.param))
    config.check()
    out = Path(args.out)
    refuse_overwrite(out, args.force)
    check_writable(out.parent)
    inputs = _inputs(args, config)
    with cancel_on_sigint() as cancel:
        with progress_bar(f"train {config.defense}") as progress:
            result = train.run(inputs, config, progress=progress, cancel=cancel)
        print_summary(result)
        path = save_defended_model(result.training, out)
    print(f"wrote {path} (+ sidecar spec and {path.name}.training.json); {config.defense}, "
          f"{len(result.training.history)} epochs, {'cancelled, best checkpoint kept' if result.cancelled else 'done'}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("train", help="train a defended model (adversarial training, TRADES, ...)",
                            description="Train a model with a training-time defense and save it as TorchScript "
                            "with its sidecar spec. Defenses: " + "; ".join(f"{k}: {v}" for k, v in DEFENSES.items()))
    parser.add_argument("data", help="'demo' (the demo digits' training split) or a folder of class folders")
    add_config_flags(parser, train.Config)
    parser.add_argument("--arch", help="architecture: torchvision name or package.module:Class (demo: DigitsCNN)")
    parser.add_argument("--from", dest="start_from", metavar="MODEL", help="start from this model's weights")
    parser.add_argument("--trust-pickle", action="store_true", help="allow a pickled --from model you trust")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="any setting above as key=value")
    parser.add_argument("--out", required=True, help="model file to write (TorchScript)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    parser.set_defaults(func=cmd_train)
