"""`advinspect predict MODEL IMAGES...`: classify images, top-k per image, accuracy when labelled."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    add_stream_flags,
    cancel_on_sigint,
    config_from_args,
    exit_code,
    load_model,
    open_stream,
    print_summary,
    progress_bar,
    warn_skipped,
)


def cmd_predict(args: argparse.Namespace) -> int:
    from advinspect.core.report.results import write_json
    from advinspect.core.tasks import predict

    config = config_from_args(predict.Config, args)
    clf = load_model(args)
    stream = open_stream(args, clf, args.images, config.batch_size)
    k = max(1, min(config.top_k, clf.num_classes))
    width = min(40, max(len(i.name) for i in stream.items))
    print(f"{'file':<{width}}  {'label':>8}  {'predicted':>10}  top-{k}")

    def show(rows: list[dict[str, Any]]) -> None:  # printed as each batch is classified
        for r in rows:
            tops = "  ".join(f"{t['name']}:{t['probability']:.3f}" for t in r["top_k"])
            mark = "" if r["label"] in (None, r["pred_name"]) else "  ✗"
            print(f"{r['file'][-width:]:<{width}}  {r['label'] or '-':>8}  {r['pred_name']:>10}  {tops}{mark}")

    with cancel_on_sigint() as cancel, progress_bar("predict") as progress:
        result = predict.run_stream(clf, stream, config, on_rows=show, progress=progress, cancel=cancel)
    warn_skipped(result)
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
    add_stream_flags(parser)
    parser.set_defaults(func=cmd_predict)
