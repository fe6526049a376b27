"""`advinspect evaluate MODEL DATA --out DIR`: robustness curves, calibration, histograms,
confusion matrices and sanity checks over a labelled set; DIR/evaluation.json (aggregates and
per-sample `samples` rows), PNG plots and DIR/report.html.

The set is streamed: images are decoded by loader workers a batch at a time, and each batch's
rows are appended to DIR/shards/ as they are produced, so memory is bounded by the batch size.
Under torchrun (`torchrun --nproc-per-node K -m advinspect evaluate ...`, or `--shards K`) each
rank takes a contiguous slice and rank 0 merges the rows once all are done; `--resume`
continues a killed run; `advinspect merge DIR` rebuilds the outputs from the shards.
`--report DIR` (the attack-style report with image cards) needs every image and adversarial at
once, so it runs the in-memory evaluation in one process.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from advinspect.cli import shards
from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    add_param_flag,
    cancel_on_sigint,
    check_writable,
    command_line,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    parse_param_pairs,
    print_summary,
    progress_bar,
    refuse_overwrite,
    warn,
)
from advinspect.cli.report import add_report_flags, check_report_target, write_report
from advinspect.cli.shards import SHARDS
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import evaluate, merge


def cmd_evaluate(args: argparse.Namespace) -> int:
    config = config_from_args(evaluate.Config, args, params=parse_param_pairs(args.param))
    evaluate.check_streamable(config)  # a typo fails before any work, in every rank
    if args.shards:
        if args.report is not None:
            raise AdvInspectError("--report builds image cards from the whole set in one process; "
                                  "leave it out with --shards (DIR/report.html is written)")
        return shards.launch(args)
    if args.report is not None:
        return evaluate_in_memory(args, config)
    return evaluate_streamed(args, config)


def evaluate_streamed(args: argparse.Namespace, config: evaluate.Config) -> int:
    from advinspect.core.data import collect_images
    from advinspect.core.data.stream import ImageStream
    from advinspect.core.report.results import provenance
    from advinspect.core.shard import ShardFiles, fingerprint, merge_shards

    out = Path(args.out)
    folder = out / SHARDS
    rank = shards.start(args, out, ())
    if rank.leader:
        refuse_overwrite(out / "evaluation.json", args.force or args.resume)
        check_writable(out)
    clf = load_model(args)
    device = str(clf.device)
    items = collect_images(args.data, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(args.data)}")
    if any(item.label is None for item in items):
        raise AdvInspectError("evaluate needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    shards.join(rank, device)
    started = time.perf_counter()
    stream = ImageStream(items, clf.spec, batch_size=config.batch_size or 64, workers=args.workers,
                         pin_memory=device.startswith("cuda"))
    what = {"verb": "evaluate", "config": _config_dict(config), "files": [(i.name, i.label) for i in items],
            "model": getattr(clf, "sha256", None)}
    meta = {"verb": "evaluate", "fingerprint": fingerprint(what), "config": _config_dict(config),
            "n_total": len(items), "spec": clf.spec.to_dict(),
            "provenance": {**provenance(clf), "command": command_line(args)}}
    files = ShardFiles(folder, rank.rank, rank.world)
    done = files.open(meta, resume=args.resume)
    part = stream.shard(rank.rank, rank.world)
    part = part.window(part.start + len(done), part.end)
    with cancel_on_sigint() as cancel:
        with progress_bar("evaluate") as bar:
            rows, cancelled = evaluate.stream_rows(clf, part, config, sink=files.append, done=done, cancel=cancel,
                                                   progress=shards.leader_progress(rank, folder, len(items), bar))
            warnings = []
            if rank.leader and config.sanity_checks and not cancelled:
                bar(len(items), len(items), "sanity checks")
                warnings = evaluate.model_warnings(clf, stream, config, cancel=cancel)
        for row in rows[len(done):]:
            if "error" in row:
                warn(f"skipped {row['error']}")
        shards.end(rank, files, device, cancelled=cancelled or cancel.cancelled,
                   notes={"warnings": warnings, "seconds": round(time.perf_counter() - started, 3), "device": device})
        if not rank.leader:
            return 130 if cancelled else 0
        result = write_outputs(out, merge_shards(folder, allow_incomplete=True))
    print_summary(result)
    print(f"wrote {out / 'evaluation.json'}, plots and {out / 'report.html'}")
    return exit_code(result)


def _config_dict(config: evaluate.Config) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def write_outputs(out: Path, merged: Any) -> Any:
    """evaluation.json, the PNG plots and report.html from the merged rows (computed once)."""
    from advinspect.core.report.plots import write_evaluation_plots
    from advinspect.core.report.results import write_json
    from advinspect.core.report.sections import write_sections_report

    result = merge.evaluation(merged)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "evaluation.json", result.data)
    write_evaluation_plots(result.data, out)
    write_sections_report("advinspect evaluate", [result.report_section()], out / "report.html")
    return result


def evaluate_in_memory(args: argparse.Namespace, config: evaluate.Config) -> int:
    """`--report DIR`: the whole set in memory (the cards show every image and adversarial)."""
    from advinspect.core.report.plots import write_evaluation_plots
    from advinspect.core.report.results import (
        evaluation_results,
        provenance,
        write_adversarial_pngs,
        write_json,
    )
    from advinspect.core.report.staging import check_writable as check_results_folder
    from advinspect.core.report.staging import staged_folder
    from advinspect.core.shard import Rank

    if Rank.from_env().world > 1:
        raise AdvInspectError("--report builds image cards from the whole set in one process; "
                              "leave it out under torchrun (DIR/report.html is written)")
    out = Path(args.out)
    refuse_overwrite(out / "evaluation.json", args.force)
    check_results_folder(out)
    check_report_target(args, Path(args.report))
    started = time.perf_counter()
    clf = load_model(args)
    images = load_images(clf, args.data, labelled_for="evaluate")
    with cancel_on_sigint() as cancel:
        with progress_bar("evaluate") as progress:
            result = evaluate.run(evaluate.Inputs(clf, images), config, progress=progress, cancel=cancel)
        data = {**result.to_dict(), "provenance": {**provenance(clf), "command": command_line(args)}}
        with staged_folder(out) as stage:  # the whole folder appears at once, or the old one stays
            write_json(stage / "evaluation.json", data)
            write_evaluation_plots(data, stage)
            results, reference = evaluation_results(result.evaluation, images.items, images.tensor(), clf,
                                                    data["provenance"]["command"],
                                                    params=config.core_config().params, seed=config.seed,
                                                    seconds=time.perf_counter() - started)
            if reference is not None:
                write_adversarial_pngs(stage, reference.x_adv, images.items, clf)
        print_summary(result)
        print(f"wrote {out / 'evaluation.json'} and plots in {out}")
        write_report(args, results, Path(args.report), out)
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("evaluate", help="robustness curves, calibration, histograms over a labelled set",
                            description="Evaluate a model over a labelled set (a folder of class folders): "
                            "clean accuracy, robust accuracy versus epsilon per attack, confidence histograms, "
                            "calibration with temperature scaling, per-class accuracy, confusion matrices and "
                            "sanity checks. Streams the set batch by batch; writes DIR/evaluation.json (with "
                            "per-sample rows), PNG plots and DIR/report.html. Runs sharded under torchrun.")
    add_model_flags(parser)
    parser.add_argument("data", nargs="+", help="labelled set: folder of class folders")
    add_config_flags(parser, evaluate.Config)
    add_param_flag(parser, "other attack parameters")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="overwrite existing results in --out and the report")
    shards.add_scale_flags(parser)
    add_report_flags(parser, with_dir=True)
    parser.set_defaults(func=cmd_evaluate)
