"""`advinspect gui [MODEL] [IMAGES...]`: the desktop app (the default without a command).

It takes the same model flags as every other command (`--arch`, `--num-classes`, `--input-shape`,
`--value-range`, `--mean`, `--std`, `--labels`, `--resize`, `--device`, `--trust-pickle`), so a
state_dict or a TorchScript model without a sidecar opens from the command line as it does with
`advinspect attack`."""

from __future__ import annotations

import argparse
from typing import Any

from advinspect.cli.common import add_config_flags


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The open.Config fields given on the command line, as the text the GUI's model dialog holds."""
    from advinspect.core.params import config_fields
    from advinspect.core.tasks import open as open_task

    options: dict[str, Any] = {}
    for f in config_fields(open_task.Config):
        if f.name in ("device", "trust_pickle"):
            continue
        value = getattr(args, f.name, None)
        if isinstance(value, list):
            value = ",".join(value)
        if value not in (None, ""):
            options[f.name] = value
    return options


def cmd_gui(args: argparse.Namespace) -> int:
    from advinspect.gui.app import run_gui

    demo = args.demo or args.model is None
    return run_gui(args.model, list(args.images), demo, args.screenshot, args.device or "auto",
                   bool(args.trust_pickle), options=model_options(args))


def register(sub: Any) -> None:
    from advinspect.core.tasks import open as open_task

    parser = sub.add_parser("gui", help="open the desktop app", description="Open the desktop app.")
    parser.add_argument("model", nargs="?", help="model to open (default: the demo); a state_dict with --arch")
    parser.add_argument("images", nargs="*", help="images or folders to open")
    parser.add_argument("--demo", action="store_true", help="open the demo model and images")
    parser.add_argument("--screenshot", metavar="FILE", help="run FGSM on the first image, save a PNG of the window, exit")
    add_config_flags(parser.add_argument_group("model"), open_task.Config)
    parser.set_defaults(func=cmd_gui)
