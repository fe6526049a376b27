"""`advinspect merge DIR`: build DIR/evaluation.json and its plots (or, for `attack`,
DIR/results.json) and DIR/report.html from the per-rank row files in DIR/shards/ (what rank 0
does at the end of a sharded run; run it by hand after shards ran on several machines, or to see
a partial result with --partial)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    config_from_args,
    exit_code,
    print_summary,
    refuse_overwrite,
)


def cmd_merge(args: argparse.Namespace) -> int:
    from advinspect.cli.attack import attack_outputs
    from advinspect.cli.evaluate import write_outputs
    from advinspect.cli.shards import SHARDS
    from advinspect.core.tasks import merge

    out = Path(args.dir)
    folder = out / SHARDS if (out / SHARDS).is_dir() else out
    config = config_from_args(merge.Config, args)
    result = merge.run(merge.Inputs(folder), config)
    target = Path(args.out) if args.out else (out if folder != out else out.parent)
    name = "evaluation.json" if result.verb == "evaluate" else "results.json"
    refuse_overwrite(target / name, args.force)
    target.mkdir(parents=True, exist_ok=True)
    if result.verb == "evaluate":
        result = write_outputs(target, result.merged)
    else:  # the adversarial PNGs stay where the ranks wrote them (the run's folder)
        result, _ = attack_outputs(target, result.merged)
    print_summary(result)
    print(f"merged the shards of {folder}: wrote {target / name} and {target / 'report.html'}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("merge", help="merge the shards of a sharded run into one result",
                            description="Merge the per-rank row files of a sharded `evaluate` or `attack` "
                            "(DIR/shards/) into DIR/evaluation.json and its plots (or DIR/results.json) and "
                            "DIR/report.html; aggregates are computed once from the merged rows.")
    parser.add_argument("dir", help="the run's --out folder (or its shards/ folder)")
    parser.add_argument("--out", help="write the merged result here instead of DIR")
    add_config_flags(parser, __import__("advinspect.core.tasks.merge", fromlist=["Config"]).Config)
    parser.add_argument("--force", action="store_true", help="overwrite an existing evaluation.json")
    parser.set_defaults(func=cmd_merge)
