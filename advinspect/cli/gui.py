"""`advinspect gui [MODEL] [IMAGES...]`: the desktop app (the default without a command)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_gui(args: argparse.Namespace) -> int:
    from advinspect.gui.app import run_gui

    demo = args.demo or args.model is None
    return run_gui(args.model, list(args.images), demo, args.screenshot, args.device, args.trust_pickle)


def register(sub: Any) -> None:
    parser = sub.add_parser("gui", help="open the desktop app", description="Open the desktop app.")
    parser.add_argument("model", nargs="?", help="model to open (default: the demo)")
    parser.add_argument("images", nargs="*", help="images or folders to open")
    parser.add_argument("--demo", action="store_true", help="open the demo model and images")
    parser.add_argument("--screenshot", metavar="FILE", help="run FGSM on the first image, save a PNG of the window, exit")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--trust-pickle", action="store_true", help="allow code from a model file you trust to run")
    parser.set_defaults(func=cmd_gui)
