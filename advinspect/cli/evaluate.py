"""`advinspect evaluate MODEL DATA --out DIR`: robustness curves, calibration, histograms,
confusion matrices and sanity checks over a labelled set; DIR/evaluation.json and PNG plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    add_param_flag,
    cancel_on_sigint,
    command_line,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    parse_param_pairs,
    print_summary,
    progress_bar,
    refuse_overwrite,
)
from advinspect.cli.report import add_report_flags, check_report_target, write_report
from advinspect.core.tasks import evaluate


def cmd_evaluate(args: argparse.Namespace) -> int:
    from advinspect.core.report.plots import write_evaluation_plots
    from advinspect.core.report.results import provenance, write_json
    from advinspect.core.report.staging import check_writable, staged_folder

    config = config_from_args(evaluate.Config, args, params=parse_param_pairs(args.param))
    out = Path(args.out)
    refuse_overwrite(out / "evaluation.json", args.force)
    check_writable(out)
    if args.report is not None:
        check_report_target(args, Path(args.report))
    started = time.perf_counter()
    clf = load_model(args)
    images = load_images(clf, args.data, labelled_for="evaluate")
    with cancel_on_sigint() as cancel:
        with progress_bar("evaluate") as progress:
            result = evaluate.run(evaluate.Inputs(clf, images), config, progress=progress, cancel=cancel)
        data = {**result.to_dict(), "provenance": {**provenance(clf), "command": command_line(args)}}
        results = None
        with staged_folder(out) as stage:  # the whole folder appears at once, or the old one stays
            write_json(stage / "evaluation.json", data)
            write_evaluation_plots(data, stage)
            if args.report is not None:
                from advinspect.core.report.results import (
                    evaluation_results,
                    write_adversarial_pngs,
                )

                results, reference = evaluation_results(result.evaluation, images.items, images.tensor(), clf,
                                                        data["provenance"]["command"],
                                                        params=config.core_config().params, seed=config.seed,
                                                        seconds=time.perf_counter() - started)
                if reference is not None:
                    write_adversarial_pngs(stage, reference.x_adv, images.items, clf)
        print_summary(result)
        print(f"wrote {out / 'evaluation.json'} and plots in {out}")
        if results is not None:
            write_report(args, results, Path(args.report), out)
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("evaluate", help="robustness curves, calibration, histograms over a labelled set",
                            description="Evaluate a model over a labelled set (a folder of class folders): "
                            "clean accuracy, robust accuracy versus epsilon per attack, confidence histograms, "
                            "calibration with temperature scaling, per-class accuracy, confusion matrices and "
                            "sanity checks. Writes DIR/evaluation.json and PNG plots.")
    add_model_flags(parser)
    parser.add_argument("data", nargs="+", help="labelled set: folder of class folders")
    add_config_flags(parser, evaluate.Config)
    add_param_flag(parser, "other attack parameters")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite existing results in --out and the report")
    add_report_flags(parser, with_dir=True)
    parser.set_defaults(func=cmd_evaluate)
