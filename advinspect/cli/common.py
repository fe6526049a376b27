"""What every command shares: model flags, loading models and images, progress bars, params."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,224,224, got {text!r}") from None
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three numbers C,H,W, got {text!r}")
    return parts  # type: ignore[return-value]


def parse_floats(text: str) -> tuple[float, ...]:
    from advinspect.core.attacks.base import parse_number

    try:
        return tuple(parse_number(p) for p in text.split(","))
    except AdvInspectError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("model", help="model file: TorchScript, torch.export .pt2, ONNX, or a state_dict with --arch")
    group.add_argument("--input-shape", type=parse_shape, metavar="C,H,W", help="input shape without batch")
    group.add_argument("--value-range", type=parse_floats, metavar="LO,HI", help="pixel value range (default 0,1)")
    group.add_argument("--mean", type=parse_floats, metavar="M[,M,M]", help="normalization mean, applied inside the model")
    group.add_argument("--std", type=parse_floats, metavar="S[,S,S]", help="normalization std, applied inside the model")
    group.add_argument("--labels", type=Path, metavar="FILE", help="class names, one per line (or a JSON list)")
    group.add_argument("--resize", choices=("resize", "center-crop", "none"), help="how images are fitted to the input")
    group.add_argument("--arch", help="architecture for a state_dict: torchvision name (resnet18) or package.module:Class")
    group.add_argument("--num-classes", type=int, help="number of classes of the architecture")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    group.add_argument("--trust-pickle", action="store_true",
                       help="allow loading a pickled model (runs code from the file: only for files you trust)")
    group.add_argument("--defense", metavar="T[:V],...",
                       help="input-transform defense in front of the model, e.g. jpeg:75,bits:4,median:3,noise:0.1")
    group.add_argument("--adaptive", action="store_true",
                       help="attack the defense adaptively: BPDA through non-differentiable transforms, EOT over random ones")
    group.add_argument("--eot-samples", type=int, default=8, help="EOT samples per gradient step (default 8)")


def load_model(args: argparse.Namespace) -> Any:
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
    clf = load_model(args.model, spec, arch=args.arch, num_classes=args.num_classes, device=args.device,
                     trust_pickle=args.trust_pickle)
    if getattr(args, "defense", None):
        from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense

        clf = DefendedClassifier(clf, parse_defense(args.defense), adaptive=args.adaptive,
                                 eot_samples=args.eot_samples, seed=getattr(args, "seed", 0) or 0)
    elif getattr(args, "adaptive", False):
        raise AdvInspectError("--adaptive needs a --defense to adapt to")
    return clf


def load_images(clf: Any, paths: Sequence[str]) -> Any:
    from advinspect.core.data import collect_images, load_images

    items = collect_images(paths, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(paths)}")
    with progress_bar("loading images") as progress:
        batch = load_images(items, clf.spec, progress=progress)
    for message in batch.errors:
        print(f"advinspect: warning: skipped {message}", file=sys.stderr)
    if not len(batch):
        raise AdvInspectError("none of the images could be loaded")
    return batch


class progress_bar:
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



def command_line(args: argparse.Namespace) -> str:
    """The exact command that reproduces this run (the argv main() was given), for provenance."""
    argv = getattr(args, "argv", None)
    return "advinspect " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))



def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"



def parse_param_pairs(pairs: list[str] | None) -> dict[str, str]:
    """`--param key=value` flags into a dict."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise AdvInspectError(f"--param takes key=value, got {pair!r}")
        values[key.strip()] = value.strip()
    return values
