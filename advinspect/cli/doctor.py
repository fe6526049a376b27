"""`advinspect doctor`: one table of what advinspect will use here, each row OK or the fix."""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print the table (or JSON); exit 1 when a row needs its fix, so scripts can gate on it."""
    from advinspect.core import plugins
    from advinspect.core.doctor import FAIL, format_table, run_checks, to_dicts
    from advinspect.gui.platform_check import qt_checks

    if args.enable_plugin_folder:
        plugins.enable_folder()
    checks = run_checks(qt_checks())
    if args.json:
        print(json.dumps(to_dicts(checks), indent=2))
    else:
        print(format_table(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def register(sub: Any) -> None:
    doctor = sub.add_parser(
        "doctor", help="check this machine: Python, torch/CUDA, onnxruntime, Qt, display, plugins",
        description="Check what advinspect will use here: Python, torch and its CUDA build, CUDA devices, "
                    "onnxruntime providers, Qt and its platform plugin, display, settings folder, plugins. "
                    "Each row is OK, NOTE or FAIL with the fix; exits 1 when a row fails.")
    doctor.add_argument("--json", action="store_true", help="print the rows as JSON")
    doctor.add_argument("--enable-plugin-folder", action="store_true",
                        help="also load plugins from the plugins folder (runs their code)")
    doctor.set_defaults(func=cmd_doctor)
