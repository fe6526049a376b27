"""`advinspect open MODEL` (alias `info`): describe a model — format, spec, parameters, sha256."""

from __future__ import annotations

import argparse
import json
from typing import Any

from advinspect.cli.common import add_model_flags, load_model, print_summary


def cmd_open(args: argparse.Namespace) -> int:
    from advinspect.core.tasks import open

    clf = load_model(args)
    result = open.Result(clf, clf.describe())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_summary(result)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("open", aliases=["info"], help="describe a model: format, spec, parameters, sha256",
                            description="Open a model and describe it: format, spec, parameters, device, sha256.")
    add_model_flags(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=cmd_open)
