"""The bundle's entry point: `advinspect --smoke` runs the self-test (gui/smoke.py); anything
else is the normal `advinspect` command line (no arguments: the desktop app on the demo)."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()  # DataLoader workers re-enter a frozen executable
    if sys.argv[1:2] == ["--smoke"]:
        from advinspect.gui.smoke import run_smoke

        return run_smoke(sys.argv[2] if len(sys.argv) > 2 else None)
    from advinspect.cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
