"""Commands about attacks: attack, evaluate, saliency, report."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_model_flags,
    command_line,
    fmt,
    load_images,
    load_model,
    parse_param_pairs,
    progress_bar,
)
from advinspect.core.errors import AdvInspectError


def _report_formats(text: str) -> tuple[str, ...]:
    from advinspect.core.report.build import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(f"formats are {', '.join(FORMATS)} (comma-separated), got {text!r}")
    return formats


def _add_report_flags(parser: argparse.ArgumentParser, *, with_dir: bool) -> None:
    from advinspect.core.report.build import DEFAULT_MAX_CARDS

    group = parser.add_argument_group("report")
    if with_dir:
        group.add_argument("--report", metavar="DIR", help="also write a report (HTML, PDF, CSV, PNGs) into DIR")
    group.add_argument("--format", dest="report_format", type=_report_formats, default=("html", "pdf"),
                       metavar="html,pdf", help="report formats (default html,pdf)")
    group.add_argument("--flipped-only", action="store_true", help="cards only for samples the attack flipped")
    group.add_argument("--select", action="append", metavar="FILE",
                       help="cards only for these samples (file name as in results.json; repeat)")
    group.add_argument("--max-cards", type=int, default=DEFAULT_MAX_CARDS,
                       help=f"at most this many cards; the rest are in samples.csv (default {DEFAULT_MAX_CARDS})")
    group.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF paper size (default a4)")


def _check_report_target(args: argparse.Namespace, out: Path) -> None:
    """Fail before a long run, not after it, when the report would overwrite one."""
    from advinspect.core.report.staging import check_writable

    for kind in args.report_format:
        if (out / f"report.{kind}").exists() and not args.force:
            raise AdvInspectError(f"{out / f'report.{kind}'} exists; pass --force to overwrite")
    check_writable(out, "the report")


def _write_report(args: argparse.Namespace, results: dict[str, Any], out: Path, base_dir: Path) -> Any:
    from advinspect.core.report.build import build_report

    pdf_writer = None
    if "pdf" in args.report_format:
        from advinspect.pdf import write_pdf as pdf_writer
    with progress_bar("report") as progress:
        report = build_report(results, out, base_dir=base_dir, formats=args.report_format,
                              selection=args.select, flipped_only=args.flipped_only, max_cards=args.max_cards,
                              paper=args.paper, pdf_writer=pdf_writer, force=args.force, progress=progress)
    more = f", {report.more} more in samples.csv" if report.more else ""
    names = ", ".join(f"report.{f}" for f in args.report_format)
    print(f"wrote {names} ({len(report.cards)} cards{more}) in {out}")
    return report


def cmd_report(args: argparse.Namespace) -> int:
    from advinspect.core.report.build import load_results

    results_path = Path(args.results)
    results = load_results(results_path)
    _write_report(args, results, Path(args.out), results_path.parent)
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    import torch

    from advinspect.core.attacks import build_params, get_attack
    from advinspect.core.report.results import attack_results, write_attack_outputs
    from advinspect.core.report.staging import check_writable

    attack_cls = get_attack(args.attack)
    values: dict[str, Any] = {}
    for flag in ("eps", "steps", "step_size", "norm"):
        value = getattr(args, flag)
        if value is not None:
            values[flag] = value
    values.update(parse_param_pairs(args.param))
    params = build_params(attack_cls.params_type, values)
    attack = attack_cls(params)
    if args.out is None and args.report is None:
        raise AdvInspectError("give --out DIR (results and adversarial PNGs), --report DIR, or both")
    out = Path(args.out if args.out is not None else args.report)
    if (out / "results.json").exists() and not args.force:
        raise AdvInspectError(f"{out / 'results.json'} exists; pass --force to overwrite")
    check_writable(out)
    if args.report is not None:
        _check_report_target(args, Path(args.report))
    clf = load_model(args)
    batch = load_images(clf, args.images)
    target = None
    if args.target is not None:
        if args.target in ("least-likely", "ll"):
            from advinspect.core.attacks.base import least_likely_targets

            target = least_likely_targets(clf, batch.x)
        else:
            target = torch.full((len(batch),), clf.spec.label_index(args.target), dtype=torch.long)
    labels = batch.labels if batch.has_labels else None
    with progress_bar(attack_cls.name) as progress:
        result = attack.run(clf, batch.x, labels, target=target, progress=progress, seed=args.seed,
                            batch_size=args.batch_size)
    s = result.summary()
    print(f"{attack_cls.name}: {s['n']} images, clean accuracy {s['clean_accuracy']:.4f}, "
          f"robust accuracy {s['robust_accuracy']:.4f}, success rate {s['success_rate']:.4f}, "
          f"median Linf {fmt(s['median_linf'])}, median L2 {fmt(s['median_l2'])}, {s['seconds']:.2f} s on {s['device']}")
    if result.cancelled:
        print("cancelled: results hold the samples attacked so far", file=sys.stderr)
    results = attack_results(result, batch.items, clf, command_line(args), x=batch.x)
    path = write_attack_outputs(out, result, batch.items, clf, results=results, x=batch.x, saliency=args.saliency,
                                seed=args.seed)
    print(f"wrote {path} and {out / 'adversarial'}")
    if args.report is not None:
        _write_report(args, results, Path(args.report), out)
    return 130 if result.cancelled else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from advinspect.core.attacks import get_attack
    from advinspect.core.attacks.base import parse_number
    from advinspect.core.evaluate import EvaluationConfig, evaluate
    from advinspect.core.report.plots import write_evaluation_plots
    from advinspect.core.report.results import write_json

    attacks = tuple(args.attack or ["pgd"])
    for name in attacks:
        get_attack(name)  # fail on a typo before loading anything
    eps = tuple(parse_number(e) for e in args.eps.split(",")) if args.eps else None
    params: dict[str, Any] = {}
    if args.steps is not None:
        params["steps"] = args.steps
    params.update(parse_param_pairs(args.param))
    out = Path(args.out)
    if (out / "evaluation.json").exists() and not args.force:
        raise AdvInspectError(f"{out / 'evaluation.json'} exists; pass --force to overwrite")
    if args.report is not None:
        _check_report_target(args, Path(args.report))
    started = time.perf_counter()
    clf = load_model(args)
    batch = load_images(clf, args.data)
    if not batch.has_labels:
        raise AdvInspectError("evaluate needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    config = EvaluationConfig(attacks=attacks, params=params, calibration_split=args.calibration_split,
                              n_bins=args.bins, seed=args.seed, batch_size=args.batch_size,
                              sanity_checks=not args.no_sanity_checks, **({"eps": eps} if eps else {}))
    with progress_bar("evaluate") as progress:
        result = evaluate(clf, batch.x, batch.labels, config, progress=progress)
    from advinspect.core.report.results import provenance

    data = {**result.data, "provenance": {**provenance(clf), "command": command_line(args)}}
    path = write_json(out / "evaluation.json", data)
    write_evaluation_plots(data, out)
    calib = data["calibration"]
    print(f"clean accuracy {data['clean_accuracy']:.4f} on {data['n']} images; ECE {calib['ece']:.4f} "
          f"(after temperature T={calib['temperature']:.3f}: {calib['ece_after_temperature']:.4f} held-out, "
          f"was {calib['held_out_before']['ece']:.4f}); NLL {calib['nll']:.4f}; Brier {calib['brier']:.4f}")
    for curve in data["curves"]:
        points = ", ".join(f"{e:.4g}: {a:.4f}" for e, a in zip(curve["eps"], curve["robust_accuracy"], strict=True))
        print(f"{curve['attack']} robust accuracy by eps: {points}")
    for warning in data["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {path} and plots in {out}")
    if args.report is not None:
        from advinspect.core.report.results import evaluation_results, write_adversarial_pngs

        results, reference = evaluation_results(result, batch.items, batch.x, clf, data["provenance"]["command"],
                                                params=params, seed=args.seed,
                                                seconds=time.perf_counter() - started)
        if reference is not None:
            write_adversarial_pngs(out, reference.x_adv, batch.items, clf)
        _write_report(args, results, Path(args.report), out)
    return 130 if result.cancelled else 0


def cmd_saliency(args: argparse.Namespace) -> int:
    from advinspect.core.data.images import save_png
    from advinspect.core.explain import saliency
    from advinspect.core.explain.overlay import overlay

    clf = load_model(args)
    batch = load_images(clf, args.images)
    target = None if args.target is None else clf.spec.label_index(args.target)
    out = Path(args.out)
    with progress_bar("saliency") as progress:
        for start in range(0, len(batch), 32):
            stop = min(len(batch), start + 32)
            maps = saliency(clf, batch.x[start:stop], target, args.method, layer=args.layer, seed=args.seed)
            for i, heat in zip(range(start, stop), maps, strict=True):
                image = overlay(batch.x[i].numpy(), heat, clf.spec.value_range, opacity=args.opacity)
                save_png(image, out / Path(batch.items[i].name).with_suffix(".png"), (0.0, 1.0))
            progress(stop, len(batch), f"{stop}/{len(batch)}")
    shown = "predicted class" if target is None else f"class {clf.spec.label_name(target)}"
    print(f"{args.method} saliency for the {shown} of {len(batch)} images written to {out}")

def register(sub: Any) -> None:
    attack = sub.add_parser("attack", help="run an evasion attack", description="Run an evasion attack and write "
                            "DIR/results.json and DIR/adversarial/*.png.")
    add_model_flags(attack)
    attack.add_argument("images", nargs="+", help="image files or folders")
    attack.add_argument("--attack", required=True, help="attack name (fgsm, bim, pgd, ill, deepfool, cw, ...)")
    attack.add_argument("--eps", help="budget in the model's value range; fractions allowed (8/255)")
    attack.add_argument("--steps", help="iterations")
    attack.add_argument("--step-size", help="step per iteration; fractions allowed")
    attack.add_argument("--norm", choices=("linf", "l2"), help="threat model")
    attack.add_argument("--target", help="target class (index or name) or least-likely")
    attack.add_argument("--param", action="append", metavar="KEY=VALUE", help="any other attack parameter")
    attack.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    attack.add_argument("--batch-size", type=int, help="samples per batch (halved on CUDA out-of-memory)")
    attack.add_argument("--saliency", choices=("gradient", "smoothgrad", "integrated_gradients", "gradcam",
                                               "occlusion"), help="also compute saliency maps (shown on report cards)")
    attack.add_argument("--out", help="output folder for results.json and adversarial PNGs (default: --report)")
    attack.add_argument("--force", action="store_true", help="overwrite existing results in --out and the report")
    _add_report_flags(attack, with_dir=True)
    attack.set_defaults(func=cmd_attack)

    evaluate = sub.add_parser("evaluate", help="robustness curves, calibration, histograms over a labelled set",
                              description="Evaluate a model over a labelled set (a folder of class folders): "
                              "clean accuracy, robust accuracy versus epsilon per attack, confidence histograms, "
                              "calibration with temperature scaling, per-class accuracy, confusion matrices and "
                              "sanity checks. Writes DIR/evaluation.json and PNG plots.")
    add_model_flags(evaluate)
    evaluate.add_argument("data", nargs="+", help="labelled set: folder of class folders")
    evaluate.add_argument("--attack", action="append", help="attack to run (repeat for several; default pgd)")
    evaluate.add_argument("--eps", help="comma-separated budgets, fractions allowed (default 0,1/255,2/255,4/255,8/255)")
    evaluate.add_argument("--steps", type=int, help="attack iterations")
    evaluate.add_argument("--param", action="append", metavar="KEY=VALUE", help="other attack parameters")
    evaluate.add_argument("--calibration-split", type=float, default=0.5,
                          help="fraction held out to evaluate temperature scaling (default 0.5)")
    evaluate.add_argument("--bins", type=int, default=15, help="reliability bins (default 15)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--batch-size", type=int)
    evaluate.add_argument("--no-sanity-checks", action="store_true", help="skip the gradient-masking checks")
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.add_argument("--force", action="store_true", help="overwrite existing results in --out and the report")
    _add_report_flags(evaluate, with_dir=True)
    evaluate.set_defaults(func=cmd_evaluate)

    sal = sub.add_parser("saliency", help="saliency maps as overlays",
                         description="Saliency maps (captum) overlaid on the images, one PNG per image.")
    add_model_flags(sal)
    sal.add_argument("images", nargs="+", help="image files or folders")
    sal.add_argument("--method", default="gradcam",
                     choices=("gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion"))
    sal.add_argument("--target", help="class to explain (default: the predicted class)")
    sal.add_argument("--layer", help="Grad-CAM layer (default: the last convolution)")
    sal.add_argument("--opacity", type=float, default=0.5, help="heat-map opacity (default 0.5)")
    sal.add_argument("--seed", type=int, default=0)
    sal.add_argument("--out", required=True, help="output folder")
    sal.set_defaults(func=cmd_saliency)

    report = sub.add_parser("report", help="(re)build a report from results.json",
                            description="Build a report (self-contained HTML, PDF, samples.csv, results.json, "
                            "PNGs) from a saved results.json, the adversarial PNGs beside it and the original "
                            "images at each sample's source path.")
    report.add_argument("results", help="results.json written by attack, evaluate --report or an earlier report")
    report.add_argument("--out", required=True, help="report folder")
    report.add_argument("--force", action="store_true", help="overwrite an existing report")
    _add_report_flags(report, with_dir=False)
    report.set_defaults(func=cmd_report)
