"""`advinspect` opens the GUI; `advinspect <command>` does the same work headless.

Exit codes a script can rely on: 0 done; 1 bad input (one readable line on stderr); 2 wrong
usage; 3 an internal error (one line; `--debug` prints the traceback); 130 cancelled by Ctrl-C
(what was done is written, marked cancelled).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from advinspect import __version__
from advinspect.core.errors import AdvInspectError

EXIT_BAD_INPUT = 1
EXIT_INTERNAL = 3
EXIT_CANCELLED = 130

COMMAND_MODULES = ("open", "predict", "attack", "evaluate", "merge", "saliency", "report", "defend", "certify",
                   "detect", "compare", "train", "synthesize", "train_generator", "membership", "extract", "invert",
                   "poison", "sanitize", "scan", "gui", "doctor")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="advinspect",
        description="Inspect the adversarial robustness of image classifiers. "
                    "Without a command, opens the desktop app on the demo.")
    parser.add_argument("--version", action="version", version=f"advinspect {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"advinspect.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from advinspect.core.memory import fix_mmap_threshold

    fix_mmap_threshold()  # long streamed runs stay flat (see core/memory.py)
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    argv = [a for a in argv if a != "--debug"]
    if not argv:
        argv = ["gui", "--demo"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    args.debug = debug
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AdvInspectError as exc:
        print(f"advinspect: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # full disk, unwritable folder, ...
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"advinspect: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("advinspect: interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except MemoryError:
        print("advinspect: error: out of memory; try a smaller --batch-size or fewer images", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug or a library failure: one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"advinspect: internal error: {type(exc).__name__}: {first[:300]}"
              f"{'' if args.debug else ' (run with --debug for the traceback)'}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
