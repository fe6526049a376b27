"""`advinspect sanitize MODEL DATA --out DIR`: a suspicion score per training file on a layer's
features, the detection AUC per layer when DATA has a poison manifest, optionally a retrained
model's C-Acc / ASR / RA on the cleaned set."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    cancel_on_sigint,
    check_writable,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    print_summary,
    progress_bar,
    refuse_overwrite,
    write_result,
)
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import sanitize


def _manifest(args: argparse.Namespace) -> dict[str, Any] | None:
    from advinspect.core.poisoning.store import MANIFEST, read_manifest

    if args.manifest:
        return read_manifest(args.manifest)
    default = Path(args.data) / MANIFEST
    return read_manifest(default) if default.is_file() else None


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["path", "score"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def cmd_sanitize(args: argparse.Namespace) -> int:
    from advinspect.core.poisoning.store import poisoned_mask
    from advinspect.core.tasks import poison
    from advinspect.core.tasks.base import make_config

    config = config_from_args(sanitize.Config, args)
    if config.retrain and not (args.arch and args.test):
        raise AdvInspectError("--retrain needs --arch (to train from scratch) and --test (to measure)")
    out = Path(args.out)
    refuse_overwrite(out / "sanitize.json", args.force)
    check_writable(out)
    manifest = _manifest(args)
    clf = load_model(args)
    images = load_images(clf, [args.data], labelled_for="sanitize")
    poisoned = poisoned_mask(images.paths, manifest) if manifest is not None else None
    attack = None
    if manifest is not None and manifest.get("attack"):
        attack = make_config(poison.Config, {k: v for k, v in manifest["attack"].items() if k != "sweep"})
    test = load_images(clf, [args.test], labelled_for="sanitize") if args.test else None
    inputs = sanitize.Inputs(clf, images, poisoned, attack, args.arch or None, test)
    with cancel_on_sigint() as cancel:
        with progress_bar(f"sanitize {config.method}") as progress:
            result = sanitize.run(inputs, config, progress=progress, cancel=cancel)
        rows = write_rows(out / "scores.csv", result.rows())
        path, report = write_result(args, clf, result, out / "sanitize.json", "advinspect sanitize")
    print_summary(result)
    print(f"wrote {rows}, {path}, {report}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("sanitize", help="score every training file for poison (activation clustering, "
                            "spectral signatures, outliers, loss)",
                            description="Per-sample suspicion scores on a layer's features; with the poison "
                            "manifest (DATA/manifest.json) the detection AUC of every layer; --retrain measures "
                            "C-Acc / ASR / RA of a model retrained without the flagged files.")
    add_model_flags(parser)
    parser.add_argument("data", help="the training set: a folder of class folders")
    add_config_flags(parser, sanitize.Config)
    parser.add_argument("--manifest", help="poison manifest (default: DATA/manifest.json when present)")
    parser.add_argument("--test", help="test folder of class folders: C-Acc / ASR / RA before (and after)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite the output")
    parser.set_defaults(func=cmd_sanitize)
