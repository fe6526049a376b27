"""`advinspect poison DATA --attack badnets --ratio 0.1 --target 0 --out DIR`: poison a training
set, write it (PNGs + manifest), train on it and on the clean set, and report C-Acc / ASR / RA."""

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
    warn,
)
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import poison


def _spec(args: argparse.Namespace) -> Any:
    from advinspect.core.models.loader import build_architecture
    from advinspect.core.params import parse_shape

    if not args.arch:
        raise AdvInspectError("give the architecture to train and size the images (--arch NAME or "
                              "package.module:Class), or use DATA 'demo'")
    spec = build_architecture(args.arch, None)[1]
    if args.input_shape:
        spec = spec.merged(input_shape=parse_shape(args.input_shape))
    if spec.input_shape is None:
        raise AdvInspectError(f"{args.arch} does not say its input shape: give --input-shape C,H,W")
    return spec


def _load(folder: str, spec: Any) -> tuple[Any, Any]:
    from advinspect.core.defenses.training import folder_training_set

    with progress_bar(f"loading {folder}") as progress:
        x, y, errors = folder_training_set(folder, spec, progress=progress)
    for message in errors:
        warn(f"skipped {message}")
    return x, y.numpy()


def _inputs(args: argparse.Namespace, config: poison.Config) -> poison.Inputs:
    if args.data == "demo":
        return poison.Inputs(arch=args.arch)
    spec = _spec(args)
    x, y = _load(args.data, spec)
    test = _load(args.test, spec) if args.test else None  # None: a stratified quarter is held out
    return poison.held_out(x, y, spec, args.arch, config.seed, test)


def cmd_poison(args: argparse.Namespace) -> int:
    from advinspect.core.poisoning.store import save_trained_model, write_poisoned_set
    from advinspect.core.report.jsonio import write_json
    from advinspect.core.report.sections import write_sections_report

    config = config_from_args(poison.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "poison.json", args.force)
    check_writable(out)
    inputs = _inputs(args, config)
    with cancel_on_sigint() as cancel:
        with progress_bar(f"poison {config.attack}") as progress:
            result = poison.run(inputs, config, progress=progress, cancel=cancel)
        from dataclasses import asdict

        manifest = write_poisoned_set(out / "poisoned", result.poisoned, result.label_names, result.value_range,
                                      asdict(config))
        model = None
        if result.training is not None:
            model = save_trained_model(result.training, out / "poisoned_model.pt2")
        data = {**result.to_dict(), "manifest": str(manifest), "model": None if model is None else str(model),
                "provenance": {"command": command_line(args), "arch": args.arch or poison.DEMO_ARCH}}
        path = write_json(out / "poison.json", data)
        section = result.report_section()
        section.command = command_line(args)
        report = write_sections_report("advinspect poison", [section], out / "report.html")
    print_summary(result)
    print(f"wrote {path}, {manifest}" + (f", {model}" if model else "") + f", {report}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("poison", help="poison a training set (BadNets, blend, clean-label, label flip)",
                            description="Poison a training set, write it as class folders with a manifest of "
                            "the poisoned files, train on it (and on the clean set) through the training "
                            "defenses, and measure clean accuracy, attack success rate and robust accuracy.")
    parser.add_argument("data", help="'demo' (the demo digits) or a folder of class folders")
    add_config_flags(parser, poison.Config)
    parser.add_argument("--arch", help="architecture to train: torchvision name or package.module:Class "
                                       "(demo: DigitsCNN)")
    parser.add_argument("--input-shape", help="C,H,W the images are fitted to, when the architecture does not say")
    parser.add_argument("--test", help="test folder of class folders for the metrics (default: a held-out quarter)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite the output")
    parser.set_defaults(func=cmd_poison)
