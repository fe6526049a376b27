"""`advinspect compare MODEL [MODEL...] DATA --out DIR`: several models on one labelled set.

The images are decoded batch by batch (`--workers`, `--batch-size`) and every model scores and
attacks each batch, so memory holds one batch; DIR/comparison.json has the table and the
per-image rows (`samples`), DIR/report.html the same as a report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    add_param_flag,
    add_stream_flags,
    cancel_on_sigint,
    check_writable,
    command_line,
    config_from_args,
    exit_code,
    load_model,
    open_stream,
    parse_param_pairs,
    print_summary,
    progress_bar,
    refuse_overwrite,
    warn_skipped,
    write_result,
)
from advinspect.core.tasks import compare


def cmd_compare(args: argparse.Namespace) -> int:
    from advinspect.core.report.plots import plot_comparison

    config = config_from_args(compare.Config, args, params=parse_param_pairs(args.param))
    out = Path(args.out)
    refuse_overwrite(out / "comparison.json", args.force)
    check_writable(out)
    *more_models, data_path = args.paths
    models: dict[str, Any] = {}
    for path in [args.model, *more_models]:
        name = Path(path).name
        models[name if name not in models else path] = load_model(args, path)
    compare.check(models, config)
    stream = open_stream(args, next(iter(models.values())), [data_path], config.batch_size, labelled_for="compare")
    with cancel_on_sigint() as cancel:
        with progress_bar("compare") as progress:
            result = compare.run_stream(models, stream, config, progress=progress, cancel=cancel)
        warn_skipped(result)
        write_result(args, next(iter(models.values())), result, out / "comparison.json", "advinspect compare",
                     extra={"command": command_line(args)})
        plot_comparison(result.data, result.saliency, result.image, out)
    print_summary(result)
    print(f"wrote {out / 'comparison.json'}, report.html, comparison.png and saliency.png")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("compare", help="compare models: clean vs robust accuracy, curves, ECE, saliency",
                            description="Compare models on one labelled set: MODEL... DATA.")
    add_model_flags(parser)
    parser.add_argument("paths", nargs="+", metavar="[MODEL...] DATA",
                        help="more models to compare, then the labelled data folder")
    add_config_flags(parser, compare.Config)
    add_param_flag(parser, "other attack parameters")
    add_stream_flags(parser)
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_compare)
