"""`advinspect` opens the GUI; `advinspect <command>` does the same work headless.

Errors are one readable line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from advinspect import __version__
from advinspect.cli import attacks, defenses, doctor, models
from advinspect.core.errors import AdvInspectError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advinspect",
        description="Inspect the adversarial robustness of image classifiers. "
                    "Without a command, opens the desktop app on the demo.")
    parser.add_argument("--version", action="version", version=f"advinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (models, attacks, defenses, doctor):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui", "--demo"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AdvInspectError as exc:
        print(f"advinspect: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # full disk, unwritable folder, ...
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"advinspect: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("advinspect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
