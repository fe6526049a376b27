"""`advinspect predict MODEL IMAGES...`: classify images, top-k per image, accuracy when labelled."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    cancel_on_sigint,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    print_summary,
    progress_bar,
)


def cmd_predict(args: argparse.Namespace) -> int:
    from advinspect.core.report.results import write_json
    from advinspect.core.tasks import predict

    config = config_from_args(predict.Config, args)
    clf = load_model(args)
    images = load_images(clf, args.images)
    with cancel_on_sigint() as cancel, progress_bar("predict") as progress:
        result = predict.run(predict.Inputs(clf, images), config, progress=progress, cancel=cancel)
    rows = result.rows
    k = len(rows[0]["top_k"]) if rows else config.top_k
    width = min(40, max((len(r["file"]) for r in rows), default=4))
    print(f"{'file':<{width}}  {'label':>8}  {'predicted':>10}  top-{k}")
    for r in rows:
        tops = "  ".join(f"{t['name']}:{t['probability']:.3f}" for t in r["top_k"])
        mark = "" if r["label"] in (None, r["pred_name"]) else "  ✗"
        print(f"{r['file'][-width:]:<{width}}  {r['label'] or '-':>8}  {r['pred_name']:>10}  {tops}{mark}")
    print_summary(result)
    if args.json:
        write_json(args.json, result.to_dict())
    return exit_code(result) or (1 if result.n_nonfinite else 0)  # written, but not a success


def register(sub: Any) -> None:
    parser = sub.add_parser("predict", help="classify images", description="Classify images (files or folders; "
                            "a folder of class folders gives labels and accuracy).")
    add_model_flags(parser)
    parser.add_argument("images", nargs="+", help="image files or folders")
    add_config_flags(parser, __import__("advinspect.core.tasks.predict", fromlist=["Config"]).Config)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the predictions as JSON")
    parser.set_defaults(func=cmd_predict)
