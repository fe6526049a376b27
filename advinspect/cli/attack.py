"""`advinspect attack MODEL IMAGES... --attack NAME`: one evasion attack; writes
DIR/results.json and DIR/adversarial/*.png (and a report with --report DIR)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli import shards
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
from advinspect.cli.shards import SHARDS
from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import attack, merge
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
    from advinspect.core.shard import Rank

    config = config_from_args(attack.Config, args, params=attack_params(args))
    attack.build_attack(config)  # an unknown attack or a bad parameter fails before any work
    if args.out is None and args.report is None:
        raise AdvInspectError("give --out DIR (results and adversarial PNGs), --report DIR, or both")
    out = Path(args.out if args.out is not None else args.report)
    if args.shards:
        if args.saliency:
            raise AdvInspectError("--saliency needs every image in one process; leave it out with --shards")
        return shards.launch(args)
    if Rank.from_env().leader:
        refuse_overwrite(out / "results.json", args.force or args.resume)
        check_results_folder(out)  # writable, and not a folder of the user's own, which the swap would replace
        if args.report is not None:
            check_report_target(args, Path(args.report))
    if args.saliency:
        if Rank.from_env().world > 1:
            raise AdvInspectError("--saliency needs every image in one process; leave it out under torchrun")
        return attack_in_memory(args, config, out)
    return attack_streamed(args, config, out)


def attack_streamed(args: argparse.Namespace, config: attack.Config, out: Path) -> int:
    """Batch by batch: each batch's adversarial PNGs and sample rows are written as they are
    made (rows to DIR/shards/), so memory holds one batch; under torchrun each rank takes a
    contiguous slice and rank 0 writes results.json from the merged rows."""
    import time
    from functools import partial

    from advinspect.core.data import collect_images, save_png
    from advinspect.core.data.stream import ImageStream
    from advinspect.core.data.writer import BatchWriter
    from advinspect.core.report.results import adversarial_name, provenance, sample_rows
    from advinspect.core.shard import ShardFiles, fingerprint, merge_shards

    folder = out / SHARDS
    rank = shards.start(args, out, ("adversarial",))
    clf = load_model(args)
    device = str(clf.device)
    items = collect_images(args.images, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(args.images)}")
    shards.join(rank, device)
    started = time.perf_counter()
    stream = ImageStream(items, clf.spec, batch_size=config.batch_size or 64, workers=args.workers,
                         pin_memory=device.startswith("cuda"))
    settings = {"attack": config.attack, "target": config.target, "seed": config.seed,
                "params": dict(config.params)}
    what = {"verb": "attack", "config": settings, "files": [(i.name, i.label) for i in items],
            "model": getattr(clf, "sha256", None)}
    meta = {"verb": "attack", "fingerprint": fingerprint(what), "config": settings, "n_total": len(items),
            "spec": clf.spec.to_dict(), "provenance": {**provenance(clf), "device": device,
                                                       "command": command_line(args), "gui_parameters": None}}
    files = ShardFiles(folder, rank.rank, rank.world)
    done = files.open(meta, resume=args.resume)
    part = stream.shard(rank.rank, rank.world)
    part = part.window(part.start + len(done), part.end)

    def on_batch(batch: Any, result: Any) -> None:
        for _, _, message in batch.errors:
            warn(f"skipped {message}")
        if result is None:
            return
        kept = [items[int(i)] for i in batch.index]
        new = sample_rows(result, kept, clf, batch.x)
        for row, index in zip(new, batch.index, strict=True):
            row["index"] = int(index)
        writes = [partial(save_png, result.x_adv[i], out / adversarial_name(item.name), clf.spec.value_range)
                  for i, item in enumerate(kept)]
        writer.submit(writes, partial(files.append, new))  # the rows once their PNGs are on disk

    result = None
    with cancel_on_sigint() as cancel:
        with progress_bar(config.attack) as bar, BatchWriter() as writer:
            if len(part):
                result = attack.run_stream(clf, part, config, on_batch=on_batch, cancel=cancel,
                                           progress=shards.leader_progress(rank, folder, len(items), bar))
        cancelled = cancel.cancelled or (result is not None and result.cancelled)
        shards.end(rank, files, device, cancelled=cancelled, notes={
            "warnings": list(result.warnings) if result else [], "seconds": time.perf_counter() - started})
        if not rank.leader:
            return 130 if cancelled else 0
        merged = merge_shards(folder, allow_incomplete=True)
    outcome, results = attack_outputs(out, merged)
    print_summary(outcome)
    print(f"wrote {out / 'results.json'}, {out / 'report.html'} and {out / 'adversarial'}")
    if args.report is not None and results["samples"]:
        write_report(args, results, Path(args.report), out)
    # NaN/Inf outputs: everything is written (those samples marked), but the run is no success
    return exit_code(outcome) or (1 if results["summary"].get("n_nonfinite") else 0)


def attack_outputs(out: Path, merged: Any) -> tuple[Any, dict[str, Any]]:
    """results.json and report.html from the merged rows; the summary is computed once from
    the rows (never averaged per rank)."""
    from advinspect.core.report.results import write_json
    from advinspect.core.report.sections import write_sections_report

    result = merge.Result("attack", merge.attack_outcome(merged), merged)
    results = result.to_dict()
    write_json(out / "results.json", results)
    write_sections_report("advinspect attack", [result.report_section()], out / "report.html")
    return result, results


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
    shards.add_scale_flags(parser)
    add_report_flags(parser, with_dir=True)
    parser.set_defaults(func=cmd_attack)
