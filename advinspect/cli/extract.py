"""`advinspect extract VICTIM POOL --test DIR --budget N --out DIR`: steal the victim through its
answers, fidelity and thief accuracy per budget, then a transfer attack from the thief."""

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
from advinspect.core.tasks import extract


def cmd_extract(args: argparse.Namespace) -> int:
    from advinspect.core.defenses.training import save_defended_model

    config = config_from_args(extract.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "extraction.json", args.force)
    check_writable(out)
    victim = load_model(args)
    pool = None if args.pool == ["noise"] else load_images(victim, args.pool)
    test = load_images(victim, args.test)
    with cancel_on_sigint() as cancel:
        with progress_bar("extract") as progress:
            result = extract.run(extract.Inputs(victim, pool, test), config, progress=progress, cancel=cancel)
        path, report = write_result(args, victim, result, out / "extraction.json", "Model extraction")
        thief = save_defended_model(result.thief_training, out / "thief.pt") if result.thief_training else None
    print_summary(result)
    print(f"wrote {path}")
    if thief is not None:
        print(f"wrote {thief} (the last thief: TorchScript with its spec, opens like any model)")
    print(f"wrote {report}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("extract", help="model extraction: train a thief on the victim's answers",
                            description="Query the victim (only its outputs: ONNX black boxes work) with images "
                            "from POOL, train a thief on the answers, report fidelity and accuracy per query "
                            "budget, then attack the victim with PGD adversarials crafted on the thief.")
    add_model_flags(parser)
    parser.add_argument("pool", nargs="+", help="query pool: image folder(s), or the word noise")
    parser.add_argument("--test", nargs="+", required=True, help="test images (class folders for accuracy)")
    add_config_flags(parser, extract.Config)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_extract)
