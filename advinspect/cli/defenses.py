"""Commands about defenses: certify (randomized smoothing), detect (feature squeezing), compare
models, and train defended models. Input-transform defenses themselves are the shared
`--defense` flag, so every command can run on a defended model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_model_flags,
    command_line,
    load_images,
    load_model,
    parse_param_pairs,
    progress_bar,
)
from advinspect.core.errors import AdvInspectError


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise AdvInspectError(f"{path} exists; pass --force to overwrite")


def _labelled(clf: Any, paths: list[str], what: str) -> Any:
    batch = load_images(clf, paths)
    if not batch.has_labels:
        raise AdvInspectError(f"{what} needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    return batch


def cmd_certify(args: argparse.Namespace) -> int:
    from advinspect.core.defenses.smoothing import certify_set
    from advinspect.core.report.results import provenance, write_json

    out = Path(args.out)
    _refuse_overwrite(out / "certification.json", args.force)
    clf = load_model(args)
    batch = _labelled(clf, args.data, "certify")
    with progress_bar("certify") as progress:
        result = certify_set(clf, batch.x, batch.labels, args.sigma, n0=args.n0, n=args.n, alpha=args.alpha,
                             batch=args.batch_size, seed=args.seed, progress=progress)
    data = {**result.to_dict(), "files": [i.name for i in batch.items[: len(result.radii)]],
            "provenance": {**provenance(clf), "command": command_line(args)}}
    path = write_json(out / "certification.json", data)
    correct = [r for r, c in zip(result.radii, result.correct, strict=True) if c]
    abstain = sum(p < 0 for p in result.predictions)
    print(f"sigma {args.sigma}: certified accuracy {result.curve_certified_accuracy[0]:.4f} at radius 0, "
          f"{sum(r > 0 for r in correct)}/{len(result.radii)} correct with a non-zero radius, "
          f"median radius of those {_median(correct):.4f}, {abstain} abstained")
    print(f"wrote {path}")
    return 130 if result.cancelled else 0


def _median(values: list[float]) -> float:
    import numpy as np

    return float(np.median(values)) if values else 0.0


def cmd_detect(args: argparse.Namespace) -> int:
    import torch

    from advinspect.core.attacks import build_params, get_attack
    from advinspect.core.defenses.detection import evaluate_detector
    from advinspect.core.report.results import write_json

    out = Path(args.out)
    _refuse_overwrite(out / "detection.json", args.force)
    attack_cls = get_attack(args.attack)
    values = {**({"eps": args.eps} if args.eps else {}), **parse_param_pairs(args.param)}
    attack = attack_cls(build_params(attack_cls.params_type, values))
    clf = load_model(args)
    batch = load_images(clf, args.data)
    with progress_bar(args.attack) as progress:
        result = attack.run(clf, batch.x, batch.labels if batch.has_labels else None, progress=progress,
                            seed=args.seed)
    adversarial = torch.as_tensor(result.x_adv[result.success])
    if not len(adversarial):
        raise AdvInspectError(f"{args.attack} produced no successful adversarials to detect; raise --eps")
    report = evaluate_detector(clf, batch.x, adversarial, target_fpr=args.fpr)
    path = write_json(out / "detection.json", {**report.to_dict(), "attack": args.attack, "params": result.params,
                                               "command": command_line(args)})
    print(f"feature squeezing: threshold {report.threshold:.4f} (clean false positives {report.clean_fpr:.2%}), "
          f"detects {report.detection_rate:.2%} of {report.n_adversarial} {args.attack} adversarials, "
          f"ROC AUC {report.auc:.4f}")
    print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from advinspect.core.attacks.base import parse_number
    from advinspect.core.compare import compare_models
    from advinspect.core.report.results import write_json

    out = Path(args.out)
    _refuse_overwrite(out / "comparison.json", args.force)
    *more_models, data_path = args.paths
    model_paths = [args.model, *more_models]
    models = {}
    for path in model_paths:
        args.model = path
        clf = load_model(args)
        name = Path(path).name
        models[name if name not in models else path] = clf
    first = next(iter(models.values()))
    batch = _labelled(first, [data_path], "compare")
    eps = tuple(parse_number(e) for e in args.eps.split(","))
    params = {**({"steps": args.steps} if args.steps else {}), **parse_param_pairs(args.param)}
    with progress_bar("compare") as progress:
        result = compare_models(models, batch.x, batch.labels, attack=args.attack, eps=eps, params=params,
                                seed=args.seed, progress=progress)
    maps = result.pop("saliency")
    write_json(out / "comparison.json", {**result, "command": command_line(args)})
    _plot_comparison(result, maps, batch.x[result["saliency_index"]].numpy(), out)
    print(f"{'model':<32} {'clean':>7} {'robust':>7} {'ECE':>7}  (robust at eps={eps[-1]:.4g}, {args.attack})")
    for row in result["models"]:
        print(f"{row['model'][-32:]:<32} {row['clean_accuracy']:7.4f} {row['robust_accuracy']:7.4f} {row['ece']:7.4f}")
    print(f"wrote {out / 'comparison.json'}, comparison.png and saliency.png")
    return 0


def _plot_comparison(result: dict[str, Any], maps: dict[str, Any], image: Any, out: Path) -> None:
    from advinspect.core.explain.overlay import overlay
    from advinspect.core.report.plots import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for row in result["models"]:
        axes[0].plot(row["curve"]["eps"], row["curve"]["robust_accuracy"], marker="o", label=row["model"])
        axes[1].scatter(row["clean_accuracy"], row["robust_accuracy"], s=40)
        axes[1].annotate(row["model"], (row["clean_accuracy"], row["robust_accuracy"]), fontsize=8)
    axes[0].set(xlabel="epsilon", ylabel="robust accuracy", ylim=(0, 1.02), title="Robust accuracy vs epsilon")
    axes[0].legend(fontsize=8)
    axes[1].set(xlabel="clean accuracy", ylabel="robust accuracy", title="Trade-off")
    _save(fig, out / "comparison.png")
    fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps), 2.9), squeeze=False)
    for ax, (name, heat) in zip(axes[0], maps.items(), strict=True):
        ax.imshow(overlay(image, heat, opacity=0.7).transpose(1, 2, 0))
        ax.set_title(name[-24:], fontsize=8)
        ax.axis("off")
    _save(fig, out / "saliency.png")


def cmd_train(args: argparse.Namespace) -> int:
    from advinspect.core.defenses.training import (
        TrainingConfig,
        demo_training_set,
        folder_training_set,
        save_defended_model,
        train_defense,
    )

    out = Path(args.out)
    _refuse_overwrite(out, args.force)
    values: dict[str, Any] = {"defense": args.defense}
    for name in ("epochs", "eps", "lr", "steps", "batch_size", "seed", "device"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    values.update(parse_param_pairs(args.param))
    config = TrainingConfig.from_values(values)
    spec = None
    start: Any = args.arch
    if args.start_from:
        from advinspect.core.models import load_model as open_model

        start = open_model(args.start_from, device="cpu", trust_pickle=args.trust_pickle)
        spec = start.spec
    if args.data == "demo":
        from advinspect.zoo.digits import DigitsCNN

        x, y, _, _ = demo_training_set(config.seed)
        spec = spec or DigitsCNN.default_spec()
        start = start or "advinspect.zoo.digits:DigitsCNN"
    else:
        if start is None:
            raise AdvInspectError("give the architecture to train (--arch NAME or package.module:Class) "
                                  "or a model to start from (--from MODEL)")
        if spec is None:
            from advinspect.core.models.loader import build_architecture

            spec = build_architecture(start, None)[1]
        if spec.input_shape is None:
            raise AdvInspectError(f"{start} does not say its input shape; start --from a model with a spec")
        x, y, errors = folder_training_set(args.data, spec)
        for message in errors:
            print(f"advinspect: warning: skipped {message}", file=sys.stderr)
    with progress_bar(f"train {config.defense}") as progress:
        result = train_defense(config, x, y, spec, start, progress=progress)
    for row in result.history:
        pgd = "-" if row.get("val_pgd_accuracy") is None else f"{row['val_pgd_accuracy']:.4f}"
        flag = "  catastrophic overfitting" if row.get("catastrophic_overfitting") else ""
        best = "  *best" if row.get("best") else ""
        print(f"{row['phase']} epoch {row['epoch']:>3}: loss {row['loss']:.4f}, val clean "
              f"{row['val_clean_accuracy']:.4f}, val PGD {pgd}{flag}{best}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    path = save_defended_model(result, out)
    print(f"wrote {path} (+ sidecar spec and {path.name}.training.json); {config.defense}, "
          f"{len(result.history)} epochs, "
          f"{'cancelled, best checkpoint kept' if result.cancelled else 'done'}")
    return 130 if result.cancelled else 0


def register(sub: Any) -> None:
    certify = sub.add_parser("certify", help="randomized smoothing: certified L2 radius per image",
                             description="Randomized smoothing (Cohen et al. 2019): smoothed prediction with "
                             "abstain and a certified L2 radius per image; certified accuracy versus radius.")
    add_model_flags(certify)
    certify.add_argument("data", nargs="+", help="labelled set: folder of class folders")
    certify.add_argument("--sigma", type=float, default=0.25, help="noise level as a fraction of the value range")
    certify.add_argument("--n0", type=int, default=100, help="samples to guess the class (default 100)")
    certify.add_argument("--n", type=int, default=1000, help="samples to bound its probability (default 1000)")
    certify.add_argument("--alpha", type=float, default=0.001, help="failure probability (default 0.001)")
    certify.add_argument("--batch-size", type=int, default=1000)
    certify.add_argument("--seed", type=int, default=0)
    certify.add_argument("--out", required=True)
    certify.add_argument("--force", action="store_true")
    certify.set_defaults(func=cmd_certify)

    detect = sub.add_parser("detect", help="feature-squeezing detector: detection rate and ROC",
                            description="Feature squeezing (Xu et al. 2018): threshold at a false-positive rate "
                            "on the clean images, detection rate on an attack's adversarials, ROC AUC.")
    add_model_flags(detect)
    detect.add_argument("data", nargs="+", help="images or folders")
    detect.add_argument("--attack", default="pgd", help="attack whose adversarials to detect (default pgd)")
    detect.add_argument("--eps", help="attack budget")
    detect.add_argument("--param", action="append", metavar="KEY=VALUE")
    detect.add_argument("--fpr", type=float, default=0.05, help="false-positive rate on clean data (default 0.05)")
    detect.add_argument("--seed", type=int, default=0)
    detect.add_argument("--out", required=True)
    detect.add_argument("--force", action="store_true")
    detect.set_defaults(func=cmd_detect)

    compare = sub.add_parser("compare", help="compare models: clean vs robust accuracy, curves, ECE, saliency",
                             description="Compare models on one labelled set: MODEL... DATA.")
    add_model_flags(compare)
    compare.add_argument("paths", nargs="+", metavar="[MODEL...] DATA",
                         help="more models to compare, then the labelled data folder")
    compare.add_argument("--attack", default="pgd")
    compare.add_argument("--eps", default="0,0.05,0.1", help="comma-separated budgets (default 0,0.05,0.1)")
    compare.add_argument("--steps", type=int)
    compare.add_argument("--param", action="append", metavar="KEY=VALUE")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--out", required=True)
    compare.add_argument("--force", action="store_true")
    compare.set_defaults(func=cmd_compare)

    from advinspect.core.defenses.training import DEFENSES

    train = sub.add_parser("train", help="train a defended model (adversarial training, TRADES, ...)",
                           description="Train a model with a training-time defense and save it as TorchScript "
                           "with its sidecar spec. Defenses: " + "; ".join(f"{k}: {v}" for k, v in DEFENSES.items()))
    train.add_argument("data", help="'demo' (the demo digits' training split) or a folder of class folders")
    train.add_argument("--defense", default="standard", choices=tuple(DEFENSES))
    train.add_argument("--arch", help="architecture: torchvision name or package.module:Class (demo: DigitsCNN)")
    train.add_argument("--from", dest="start_from", metavar="MODEL", help="start from this model's weights")
    train.add_argument("--trust-pickle", action="store_true", help="allow a pickled --from model you trust")
    train.add_argument("--epochs", help="passes over the data")
    train.add_argument("--eps", help="training budget (fractions allowed)")
    train.add_argument("--lr", help="learning rate")
    train.add_argument("--steps", help="attack steps per batch (pgd, trades)")
    train.add_argument("--batch-size", help="training batch size")
    train.add_argument("--seed", help="random seed")
    train.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--param", action="append", metavar="KEY=VALUE",
                       help="other settings (trades_beta, smoothing, temperature, gp_lambda, eps_warmup_epochs...)")
    train.add_argument("--out", required=True, help="model file to write (TorchScript)")
    train.add_argument("--force", action="store_true", help="overwrite --out")
    train.set_defaults(func=cmd_train)
