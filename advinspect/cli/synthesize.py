"""`advinspect synthesize MODEL [DATA...] --out DIR`: draw images of chosen classes with the
model's gradients (robust models draw the class; standard models draw noise), with an optional
A/B model (`--compare`) and an independent judge (`--judge`). Writes DIR/<class>/*.png (the
compared model's under DIR/compare/), contact_sheet.png, synthesis.json and report.html."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from advinspect.cli.common import (
    add_config_flags,
    add_model_flags,
    cancel_on_sigint,
    check_writable,
    config_from_args,
    exit_code,
    load_images,
    load_model,
    print_summary,
    progress_bar,
    refuse_overwrite,
    write_result,
)
from advinspect.core.tasks import synthesize


def _open_plain(args: argparse.Namespace, path: str | None) -> Any:
    """A second model (the A/B or the judge) with the same opening flags, no input defense."""
    if not path:
        return None
    from advinspect.core.tasks import open

    return open.run(open.Inputs(Path(path)), config_from_args(open.Config, args)).clf


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "class"


def write_images(result: synthesize.Result, out: Path) -> list[Path]:
    """DIR/<class>/NNN.png for the first model, DIR/<name>/<class>/NNN.png for the compared one."""
    from advinspect.core.data.images import save_png

    written = []
    for k, run in enumerate(result.runs):
        root = out if k == 0 else out / _safe(run.name)
        for i, (image, target) in enumerate(zip(run.images, result.targets, strict=False)):
            path = root / _safe(result.labels[int(target)]) / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            written.append(save_png(image, path, result.value_range))
    return written


def cmd_synthesize(args: argparse.Namespace) -> int:
    from advinspect.core.data.images import save_png

    config = config_from_args(synthesize.Config, args)
    out = Path(args.out)
    refuse_overwrite(out / "synthesis.json", args.force)
    check_writable(out)
    clf = load_model(args)
    images = load_images(clf, args.data) if args.data else None
    inputs = synthesize.Inputs(clf, images, compare=_open_plain(args, args.compare), judge=_open_plain(args, args.judge),
                               names=("model", "compare"))
    with cancel_on_sigint() as cancel:
        with progress_bar("synthesize") as progress:
            result = synthesize.run(inputs, config, progress=progress, cancel=cancel)
        write_images(result, out)
        save_png(result.contact_sheet().transpose(2, 0, 1), out / "contact_sheet.png")
        path, _ = write_result(args, clf, result, out / "synthesis.json", "advinspect synthesize")
    print_summary(result)
    print(f"wrote {path}, {out / 'contact_sheet.png'} and {out / 'report.html'}")
    return exit_code(result)


def register(sub: Any) -> None:
    parser = sub.add_parser("synthesize", help="draw class images with a (robust) model's gradients",
                            description="Image synthesis with a single robust classifier (Santurkar et al. 2019): "
                            "targeted L2 descent from per-class Gaussian, noise or image seeds; or representation "
                            "inversion (--mode invert). --compare runs the same seeds through a second model (A/B), "
                            "--judge labels the drawn images with an independent classifier.")
    add_model_flags(parser)
    parser.add_argument("data", nargs="*", help="labelled images (class folders) for Gaussian seeds, image seeds "
                        "or inversion; not needed with --seed-kind noise")
    add_config_flags(parser, synthesize.Config)
    parser.add_argument("--compare", metavar="MODEL", help="a second model on the same seeds (e.g. the standard one)")
    parser.add_argument("--judge", metavar="MODEL", help="an independent classifier that labels the drawn images")
    parser.add_argument("--out", required=True)
    parser.add_argument("--force", action="store_true")
    parser.set_defaults(func=cmd_synthesize)
