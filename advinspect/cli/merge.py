"""`advinspect merge DIR`: build DIR/evaluation.json and its plots (or, for `attack`,
DIR/results.json) and DIR/report.html from the per-rank row files in DIR/shards/ (what rank 0
does at the end of a sharded run; run it by hand after shards ran on several machines, or to see
a partial result with --partial)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import exit_code, print_summary, refuse_overwrite


def cmd_merge(args: argparse.Namespace) -> int:
    from advinspect.cli.attack import attack_outputs
    from advinspect.cli.evaluate import write_outputs
    from advinspect.cli.shards import SHARDS
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.models.spec import ModelSpec
    from advinspect.core.shard import merge_shards

    out = Path(args.dir)
    folder = out / SHARDS if (out / SHARDS).is_dir() else out
    merged = merge_shards(folder, allow_incomplete=args.partial)
    target = Path(args.out) if args.out else (out if folder != out else out.parent)
    verb = merged.meta.get("verb")
    if verb == "evaluate":
        refuse_overwrite(target / "evaluation.json", args.force)
        result = write_outputs(target, merged)
        written = target / "evaluation.json"
    elif verb == "attack":  # the adversarial PNGs stay where the ranks wrote them (the run's folder)
        refuse_overwrite(target / "results.json", args.force)
        target.mkdir(parents=True, exist_ok=True)
        result, _ = attack_outputs(target, merged, ModelSpec.from_dict(merged.meta["spec"]))
        written = target / "results.json"
    else:
        raise AdvInspectError(f"{folder}: shards of {verb!r}, which merge cannot build")
    print_summary(result)
    print(f"merged {len(merged.notes)} shards ({len(merged.rows)} rows): wrote {written} and "
          f"{target / 'report.html'}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("merge", help="merge the shards of a sharded run into one result",
                            description="Merge the per-rank row files of a sharded `evaluate` or `attack` "
                            "(DIR/shards/) into DIR/evaluation.json and its plots (or DIR/results.json) and "
                            "DIR/report.html; aggregates are computed once from the merged rows.")
    parser.add_argument("dir", help="the run's --out folder (or its shards/ folder)")
    parser.add_argument("--out", help="write the merged result here instead of DIR")
    parser.add_argument("--partial", action="store_true",
                        help="merge even if some shards did not finish (the result is marked cancelled)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing evaluation.json")
    parser.set_defaults(func=cmd_merge)
