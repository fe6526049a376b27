"""`advinspect train-generator DATA --out GENERATOR.pt`: train the generator that
`--defense purify:GENERATOR` projects inputs onto; saved as TorchScript with its sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    cancel_on_sigint,
    check_writable,
    command_line,
    config_from_args,
    exit_code,
    print_summary,
    progress_bar,
    refuse_overwrite,
)
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import train_generator


def _inputs(args: argparse.Namespace) -> train_generator.Inputs:
    if args.data == "demo":
        return train_generator.Inputs()
    if not args.model:
        raise AdvInspectError("give --model MODEL: the generator is trained at that model's input shape")
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.tasks import open

    spec = open.run(open.Inputs(Path(args.model)), open.Config(device="cpu")).clf.spec
    batch = load_images(collect_images([args.data], spec), spec)
    if len(batch) < 2:
        raise AdvInspectError(f"found {len(batch)} image(s) in {args.data}; a generator needs at least 2")
    return train_generator.Inputs(batch.x, tuple(spec.value_range))


def cmd_train_generator(args: argparse.Namespace) -> int:
    from advinspect.core.defenses.purify import save_generator
    from advinspect.core.report.sections import write_sections_report

    config = config_from_args(train_generator.Config, args)
    out = Path(args.out)
    refuse_overwrite(out, args.force)
    check_writable(out.parent)
    inputs = _inputs(args)
    with cancel_on_sigint() as cancel:
        with progress_bar("train generator") as progress:
            result = train_generator.run(inputs, config, progress=progress, cancel=cancel)
        print_summary(result)
        path = save_generator(result.generator.decoder, result.generator.latent_dim, out)
        section = result.report_section()
        section.command = command_line(args)
        report = write_sections_report("advinspect train-generator", [section], Path(str(out) + ".report.html"))
    print(f"wrote {path} (+ {path.name}.generator.json) and {report}; use it as --defense purify:{path}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("train-generator", help="train a generator for --defense purify:GENERATOR",
                            description="Train a small VAE on the images; its decoder is the generator that "
                            "purification (Defense-GAN style) projects inputs onto. Saved as TorchScript.")
    parser.add_argument("data", help="'demo' (the demo digits' training split) or a folder of images")
    parser.add_argument("--model", help="the classifier the generator is for (its input shape and value range)")
    add_config_flags(parser, train_generator.Config)
    parser.add_argument("--out", required=True, help="generator file to write (TorchScript)")
    parser.add_argument("--force", action="store_true", help="overwrite --out")
    parser.set_defaults(func=cmd_train_generator)
