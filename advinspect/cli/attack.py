"""`advinspect attack MODEL IMAGES... --attack NAME`: one evasion attack; writes
DIR/results.json and DIR/adversarial/*.png (and a report with --report DIR)."""

from __future__ import annotations

import argparse
import shutil
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
    warn,
)
from advinspect.cli.report import add_report_flags, check_report_target, write_report
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import attack
from advinspect.core.tasks.saliency import METHODS


def attack_params(args: argparse.Namespace) -> dict[str, Any]:
    """--eps/--steps/--step-size/--norm and --param key=value, as the attack's parameters."""
    values = {name: getattr(args, name) for name in attack.COMMON_PARAMS if getattr(args, name, None) is not None}
    values.update(parse_param_pairs(args.param))
    return values


def add_attack_param_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eps", help="budget in the model's value range; fractions allowed (8/255)")
    parser.add_argument("--steps", help="iterations")
    parser.add_argument("--step-size", help="step per iteration; fractions allowed")
    parser.add_argument("--norm", choices=("linf", "l2", "l1", "l0"),
                        help="threat model (each attack checks the norms it supports)")
    add_param_flag(parser)


def cmd_attack(args: argparse.Namespace) -> int:
    from advinspect.core.report.staging import check_writable as check_results_folder

    config = config_from_args(attack.Config, args, params=attack_params(args))
    attack.build_attack(config)  # an unknown attack or a bad parameter fails before any work
    if args.out is None and args.report is None:
        raise AdvInspectError("give --out DIR (results and adversarial PNGs), --report DIR, or both")
    out = Path(args.out if args.out is not None else args.report)
    refuse_overwrite(out / "results.json", args.force)
    check_results_folder(out)  # writable, and not a folder of the user's own, which the swap would replace
    if args.report is not None:
        check_report_target(args, Path(args.report))
    if args.saliency:
        return attack_in_memory(args, config, out)
    return attack_streamed(args, config, out)


def attack_streamed(args: argparse.Namespace, config: attack.Config, out: Path) -> int:
    """Batch by batch: each batch's adversarial PNGs and sample rows are written as they are
    made (rows to DIR/samples.jsonl too), so memory holds one batch, not the set."""
    from advinspect.core.data import collect_images, save_png
    from advinspect.core.data.stream import ImageStream
    from advinspect.core.report.results import (
        adversarial_name,
        now_iso,
        provenance,
        sample_rows,
        write_json,
    )
    from advinspect.core.report.sections import write_sections_report
    from advinspect.core.shard import row_line

    clf = load_model(args)
    items = collect_images(args.images, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(args.images)}")
    out.mkdir(parents=True, exist_ok=True)
    if args.force:  # no adversarial of the previous run may pass for one of this run
        shutil.rmtree(out / "adversarial", ignore_errors=True)
    stream = ImageStream(items, clf.spec, batch_size=config.batch_size or 64, workers=args.workers,
                         pin_memory=str(clf.device).startswith("cuda"))
    rows: list[dict[str, Any]] = []
    lines = open(out / "samples.jsonl", "w", encoding="utf-8")  # noqa: SIM115 - closed below

    def on_batch(batch: Any, result: Any) -> None:
        for _, _, message in batch.errors:
            warn(f"skipped {message}")
        if result is None:
            return
        kept = [items[int(i)] for i in batch.index]
        for i, item in enumerate(kept):
            save_png(result.x_adv[i], out / adversarial_name(item.name), clf.spec.value_range)
        new = sample_rows(result, kept, clf, batch.x)
        for row, index in zip(new, batch.index, strict=True):
            row["index"] = int(index)
        lines.write("".join(row_line(r) + "\n" for r in new))
        lines.flush()
        rows.extend(new)

    try:
        with cancel_on_sigint() as cancel:
            with progress_bar(config.attack) as progress:
                result = attack.run_stream(clf, stream, config, on_batch=on_batch, progress=progress, cancel=cancel)
    finally:
        lines.close()
    print_summary(result)
    summary = result.attack.summary()
    summary["warnings"] = list(result.warnings)
    results = {"kind": "attack", "created": now_iso(), "summary": summary,
               "provenance": {**provenance(clf), "device": summary["device"], "command": command_line(args),
                              "gui_parameters": None},
               "trace": [], "samples": rows}
    write_json(out / "results.json", results)
    write_sections_report("advinspect attack", [result.report_section()], out / "report.html")
    print(f"wrote {out / 'results.json'}, {out / 'report.html'} and {out / 'adversarial'}")
    if args.report is not None and rows:
        write_report(args, results, Path(args.report), out)
    # NaN/Inf outputs: everything is written (those samples marked), but the run is no success
    return exit_code(result) or (1 if summary.get("n_nonfinite") else 0)


def attack_in_memory(args: argparse.Namespace, config: attack.Config, out: Path) -> int:
    """--saliency needs every clean image and adversarial at once: the in-memory run."""
    from advinspect.core.report.results import attack_results, write_attack_outputs

    clf = load_model(args)
    images = load_images(clf, args.images)
    with cancel_on_sigint() as cancel:
        with progress_bar(config.attack) as progress:
            result = attack.run(attack.Inputs(clf, images), config, progress=progress, cancel=cancel)
        print_summary(result)
        written = attack.completed_only(result)
        items = [images.items[i] for i in written.images.index]
        results = attack_results(written.attack, items, clf, command_line(args), x=written.images.tensor())
        results["summary"]["warnings"] = list(result.warnings)
        path = write_attack_outputs(out, written.attack, items, clf, results=results, x=written.images.tensor(),
                                    saliency=args.saliency, seed=config.seed)
        print(f"wrote {path} and {out / 'adversarial'}")
        if args.report is not None and not (cancel.cancelled and not len(items)):
            write_report(args, results, Path(args.report), out)
    # NaN/Inf outputs: everything is written (those samples marked), but the run is no success
    return exit_code(result) or (1 if result.summary().get("n_nonfinite") else 0)


def register(sub: Any) -> None:
    parser = sub.add_parser("attack", help="run an evasion attack", description="Run an evasion attack and write "
                            "DIR/results.json and DIR/adversarial/*.png. Ctrl-C writes the samples done so far.")
    add_model_flags(parser)
    parser.add_argument("images", nargs="+", help="image files or folders")
    add_config_flags(parser, attack.Config)
    add_attack_param_flags(parser)
    parser.add_argument("--saliency", choices=METHODS, help="also compute saliency maps (shown on report cards)")
    parser.add_argument("--out", help="output folder for results.json and adversarial PNGs (default: --report)")
    parser.add_argument("--force", action="store_true", help="overwrite existing results in --out and the report")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="image-decoding processes (0: decode in the main process; default 2)")
    add_report_flags(parser, with_dir=True)
    parser.set_defaults(func=cmd_attack)
