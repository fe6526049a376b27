"""`advinspect` opens the GUI; `advinspect <command>` does the same work headless.

Errors are one readable line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advinspect import __version__
from advinspect.core.errors import AdvInspectError

COMMANDS = ("gui", "info", "predict", "attack", "evaluate", "saliency", "report")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,224,224, got {text!r}") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers C,H,W, got {text!r}")
    return parts  # type: ignore[return-value]


def _floats(text: str) -> tuple[float, ...]:
    from advinspect.core.attacks.base import parse_number

    try:
        return tuple(parse_number(p) for p in text.split(","))
    except AdvInspectError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("model", help="model file: TorchScript, torch.export .pt2, ONNX, or a state_dict with --arch")
    group.add_argument("--input-shape", type=_shape, metavar="C,H,W", help="input shape without batch")
    group.add_argument("--value-range", type=_floats, metavar="LO,HI", help="pixel value range (default 0,1)")
    group.add_argument("--mean", type=_floats, metavar="M[,M,M]", help="normalization mean, applied inside the model")
    group.add_argument("--std", type=_floats, metavar="S[,S,S]", help="normalization std, applied inside the model")
    group.add_argument("--labels", type=Path, metavar="FILE", help="class names, one per line (or a JSON list)")
    group.add_argument("--resize", choices=("resize", "center-crop", "none"), help="how images are fitted to the input")
    group.add_argument("--arch", help="architecture for a state_dict: torchvision name (resnet18) or package.module:Class")
    group.add_argument("--num-classes", type=int, help="number of classes of the architecture")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    group.add_argument("--trust-pickle", action="store_true",
                       help="allow loading a pickled model (runs code from the file: only for files you trust)")


def _load_model(args: argparse.Namespace) -> Any:
    from advinspect.core.models import ModelSpec, load_model
    from advinspect.core.models.spec import read_labels_file

    fields: dict[str, Any] = {}
    if args.input_shape:
        fields["input_shape"] = args.input_shape
    if args.value_range:
        if len(args.value_range) != 2:
            raise AdvInspectError("--value-range takes two numbers LO,HI")
        fields["value_range"] = args.value_range
    for name in ("mean", "std", "resize"):
        if getattr(args, name):
            fields[name] = getattr(args, name)
    if args.labels:
        fields["labels"] = read_labels_file(args.labels)
    spec = ModelSpec(**fields) if fields else None
    return load_model(args.model, spec, arch=args.arch, num_classes=args.num_classes, device=args.device,
                      trust_pickle=args.trust_pickle)


def _load_images(clf: Any, paths: Sequence[str]) -> Any:
    from advinspect.core.data import collect_images, load_images

    items = collect_images(paths, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(paths)}")
    with _progress_bar("loading images") as progress:
        batch = load_images(items, clf.spec, progress=progress)
    for message in batch.errors:
        print(f"advinspect: warning: skipped {message}", file=sys.stderr)
    if not len(batch):
        raise AdvInspectError("none of the images could be loaded")
    return batch


class _progress_bar:
    """A terminal progress bar (tqdm) that appears only for work longer than a second."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: Any = None

    def __enter__(self) -> Any:
        from tqdm import tqdm

        from advinspect.core.jobs import Progress

        def update(event: Any) -> None:
            if self.bar is None:
                self.bar = tqdm(total=event.total, desc=self.description, delay=1.0, leave=False,
                                file=sys.stderr, dynamic_ncols=True, disable=not sys.stderr.isatty())
            self.bar.total = event.total
            if event.message:
                self.bar.set_postfix_str(event.message, refresh=False)
            self.bar.update(event.step - self.bar.n)  # respects the one-second delay

        return Progress(update)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


# --- commands ----------------------------------------------------------------------------

def cmd_info(args: argparse.Namespace) -> int:
    import json

    clf = _load_model(args)
    info = clf.describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    spec = info.pop("spec")
    for key, value in info.items():
        if key == "parameters" and value is not None:
            value = f"{value:,}"
        print(f"{key:>16}: {value}")
    labels = spec.pop("labels")
    for key, value in spec.items():
        print(f"{key:>16}: {value}")
    shown = ", ".join(labels[:10]) + (f", … ({len(labels)} in all)" if len(labels) > 10 else "")
    print(f"{'labels':>16}: {shown}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from advinspect.core.report.results import write_json

    started = time.perf_counter()
    clf = _load_model(args)
    batch = _load_images(clf, args.images)
    probs = clf.probabilities(batch.x).cpu()
    k = max(1, min(args.top_k, probs.shape[1]))
    top = probs.topk(k, dim=1)
    spec = clf.spec
    rows = []
    for i, item in enumerate(batch.items):
        label = None if item.label is None else spec.label_name(item.label)
        topk = [{"index": int(j), "name": spec.label_name(int(j)), "probability": round(float(p), 6)}
                for p, j in zip(top.values[i], top.indices[i], strict=True)]
        rows.append({"file": item.name, "label": label, "pred": topk[0]["index"], "pred_name": topk[0]["name"],
                     "top_k": topk})
    labelled = [r for r in rows if r["label"] is not None]
    summary: dict[str, Any] = {"n": len(rows), "errors": batch.errors, "device": str(clf.device),
                               "seconds": round(time.perf_counter() - started, 3)}
    if labelled:
        summary["n_labelled"] = len(labelled)
        summary["accuracy"] = sum(r["label"] == r["pred_name"] for r in labelled) / len(labelled)
    width = min(40, max(len(r["file"]) for r in rows))
    print(f"{'file':<{width}}  {'label':>8}  {'predicted':>10}  top-{k}")
    for r in rows:
        tops = "  ".join(f"{t['name']}:{t['probability']:.3f}" for t in r["top_k"])
        mark = "" if r["label"] in (None, r["pred_name"]) else "  ✗"
        print(f"{r['file'][-width:]:<{width}}  {r['label'] or '-':>8}  {r['pred_name']:>10}  {tops}{mark}")
    if labelled:
        print(f"accuracy: {summary['accuracy']:.4f} on {len(labelled)} labelled images")
    if args.json:
        write_json(args.json, {"summary": summary, "rows": rows})
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The exact command that reproduces this run (the argv main() was given), for provenance."""
    argv = getattr(args, "argv", None)
    return "advinspect " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))


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
    for fmt in args.report_format:
        if (out / f"report.{fmt}").exists() and not args.force:
            raise AdvInspectError(f"{out / f'report.{fmt}'} exists; pass --force to overwrite")


def _write_report(args: argparse.Namespace, results: dict[str, Any], out: Path, base_dir: Path) -> Any:
    from advinspect.core.report.build import build_report

    pdf_writer = None
    if "pdf" in args.report_format:
        from advinspect.pdf import write_pdf as pdf_writer
    with _progress_bar("report") as progress:
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
    from advinspect.core.report.results import add_saliency, attack_results, write_attack_outputs

    attack_cls = get_attack(args.attack)
    values: dict[str, Any] = {}
    for flag in ("eps", "steps", "step_size", "norm"):
        value = getattr(args, flag)
        if value is not None:
            values[flag] = value
    for pair in args.param or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise AdvInspectError(f"--param takes key=value, got {pair!r}")
        values[key.strip()] = value.strip()
    params = build_params(attack_cls.params_type, values)
    attack = attack_cls(params)
    if args.out is None and args.report is None:
        raise AdvInspectError("give --out DIR (results and adversarial PNGs), --report DIR, or both")
    out = Path(args.out if args.out is not None else args.report)
    if (out / "results.json").exists() and not args.force:
        raise AdvInspectError(f"{out / 'results.json'} exists; pass --force to overwrite")
    if args.report is not None:
        _check_report_target(args, Path(args.report))
    clf = _load_model(args)
    batch = _load_images(clf, args.images)
    target = None
    if args.target is not None:
        if args.target in ("least-likely", "ll"):
            from advinspect.core.attacks.base import least_likely_targets

            target = least_likely_targets(clf, batch.x)
        else:
            target = torch.full((len(batch),), clf.spec.label_index(args.target), dtype=torch.long)
    labels = batch.labels if batch.has_labels else None
    with _progress_bar(attack_cls.name) as progress:
        result = attack.run(clf, batch.x, labels, target=target, progress=progress, seed=args.seed,
                            batch_size=args.batch_size)
    s = result.summary()
    print(f"{attack_cls.name}: {s['n']} images, clean accuracy {s['clean_accuracy']:.4f}, "
          f"robust accuracy {s['robust_accuracy']:.4f}, success rate {s['success_rate']:.4f}, "
          f"median Linf {_fmt(s['median_linf'])}, median L2 {_fmt(s['median_l2'])}, {s['seconds']:.2f} s on {s['device']}")
    if result.cancelled:
        print("cancelled: results hold the samples attacked so far", file=sys.stderr)
    results = attack_results(result, batch.items, clf, _command_line(args), x=batch.x)
    if args.saliency:
        add_saliency(results, out, clf, batch.x, result.x_adv, args.saliency, seed=args.seed)
    path = write_attack_outputs(out, result, batch.items, clf, results=results)
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
    for pair in args.param or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise AdvInspectError(f"--param takes key=value, got {pair!r}")
        params[key.strip()] = value.strip()
    out = Path(args.out)
    if (out / "evaluation.json").exists() and not args.force:
        raise AdvInspectError(f"{out / 'evaluation.json'} exists; pass --force to overwrite")
    if args.report is not None:
        _check_report_target(args, Path(args.report))
    started = time.perf_counter()
    clf = _load_model(args)
    batch = _load_images(clf, args.data)
    if not batch.has_labels:
        raise AdvInspectError("evaluate needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    config = EvaluationConfig(attacks=attacks, params=params, calibration_split=args.calibration_split,
                              n_bins=args.bins, seed=args.seed, batch_size=args.batch_size,
                              sanity_checks=not args.no_sanity_checks, **({"eps": eps} if eps else {}))
    with _progress_bar("evaluate") as progress:
        result = evaluate(clf, batch.x, batch.labels, config, progress=progress)
    from advinspect.core.report.results import provenance

    data = {**result.data, "provenance": {**provenance(clf), "command": _command_line(args)}}
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

    clf = _load_model(args)
    batch = _load_images(clf, args.images)
    target = None if args.target is None else clf.spec.label_index(args.target)
    out = Path(args.out)
    with _progress_bar("saliency") as progress:
        for start in range(0, len(batch), 32):
            stop = min(len(batch), start + 32)
            maps = saliency(clf, batch.x[start:stop], target, args.method, layer=args.layer, seed=args.seed)
            for i, heat in zip(range(start, stop), maps, strict=True):
                image = overlay(batch.x[i].numpy(), heat, clf.spec.value_range, opacity=args.opacity)
                save_png(image, out / Path(batch.items[i].name).with_suffix(".png"), (0.0, 1.0))
            progress(stop, len(batch), f"{stop}/{len(batch)}")
    shown = "predicted class" if target is None else f"class {clf.spec.label_name(target)}"
    print(f"{args.method} saliency for the {shown} of {len(batch)} images written to {out}")
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def cmd_gui(args: argparse.Namespace) -> int:
    from advinspect.gui.app import run_gui

    demo = args.demo or args.model is None
    return run_gui(args.model, list(args.images), demo, args.screenshot, args.device, args.trust_pickle)


# --- parser ------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advinspect",
        description="Inspect the adversarial robustness of image classifiers. "
                    "Without a command, opens the desktop app on the demo.")
    parser.add_argument("--version", action="version", version=f"advinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop app", description="Open the desktop app.")
    gui.add_argument("model", nargs="?", help="model to open (default: the demo)")
    gui.add_argument("images", nargs="*", help="images or folders to open")
    gui.add_argument("--demo", action="store_true", help="open the demo model and images")
    gui.add_argument("--screenshot", metavar="FILE", help="run FGSM on the first image, save a PNG of the window, exit")
    gui.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    gui.add_argument("--trust-pickle", action="store_true", help="allow loading a pickled model you trust")
    gui.set_defaults(func=cmd_gui)

    info = sub.add_parser("info", help="describe a model: format, spec, parameters, device, sha256",
                          description="Describe a model: format, spec, parameters, device, sha256.")
    _add_model_flags(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)

    predict = sub.add_parser("predict", help="classify images", description="Classify images (files or folders; "
                             "a folder of class folders gives labels and accuracy).")
    _add_model_flags(predict)
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--top-k", type=int, default=3, help="how many classes to show (default 3)")
    predict.add_argument("--json", type=Path, metavar="FILE", help="also write the predictions as JSON")
    predict.set_defaults(func=cmd_predict)

    attack = sub.add_parser("attack", help="run an evasion attack", description="Run an evasion attack and write "
                            "DIR/results.json and DIR/adversarial/*.png.")
    _add_model_flags(attack)
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
    _add_model_flags(evaluate)
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
    _add_model_flags(sal)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["gui", "--demo"]
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AdvInspectError as exc:
        print(f"advinspect: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # full disk, unwritable folder, ...
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"advinspect: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("advinspect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
