"""What every command shares: flags generated from a verb's Config, the model flags, loading
models and images, progress bars, Ctrl-C as a cancel, and printing a result's summary."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError
from advinspect.core.params import config_fields

# --- flags from a Config ----------------------------------------------------------------------


def flag_name(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_config_flags(parser: Any, config_type: type, *, skip: Sequence[str] = ()) -> None:
    """One flag per `param()` field of `config_type`: the same names, help, choices and defaults
    the GUI form shows. Values stay strings here; `config_from_args` converts and checks them."""
    defaults = config_type()
    for f in config_fields(config_type):
        if f.name in skip:
            continue
        meta, default = f.metadata, getattr(defaults, f.name)
        text = meta["help"]
        if default not in (None, "", ()):
            shown = ",".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in default) \
                if isinstance(default, tuple) else default
            text += f" (default {shown})"
        if "min" in meta or "max" in meta:
            text += f" [{meta.get('min', '-inf')}, {meta.get('max', 'inf')}]"
        kind = str(f.type)
        if kind.startswith("bool"):
            parser.add_argument(flag_name(f), dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=text)
        elif kind.startswith("tuple"):
            parser.add_argument(flag_name(f), dest=f.name, action="append", default=None, metavar="A,B,...",
                                help=text)
        else:
            choices = tuple(c for c in meta.get("choices", ()) if c) or None
            parser.add_argument(flag_name(f), dest=f.name, default=None, choices=choices,
                                metavar=None if choices else f.name.upper(), help=text)


def config_from_args(config_type: type, args: argparse.Namespace, **extra: Any) -> Any:
    """The Config from parsed flags (absent flags keep the Config's defaults) plus `extra`."""
    from advinspect.core.tasks.base import make_config

    values: dict[str, Any] = {}
    for f in config_fields(config_type):
        value = getattr(args, f.name, None)
        if isinstance(value, list):
            value = ",".join(value)
        if value is not None:
            values[f.name] = value
    return make_config(config_type, values, **extra)


# --- models and images ------------------------------------------------------------------------


def add_model_flags(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    from advinspect.core.tasks import defend, open

    group = parser.add_argument_group("model")
    if positional:
        group.add_argument("model", help="model file: TorchScript, torch.export .pt2, ONNX, or a state_dict with --arch")
    add_config_flags(group, open.Config)
    defense = parser.add_argument_group("input-transform defense")
    add_config_flags(defense, defend.Config, skip=("seed",))  # the command's own --seed seeds it


def load_model(args: argparse.Namespace, path: str | None = None) -> Any:
    """The model of `args` (or `path` with the same flags), behind `--defense` when given."""
    from advinspect.core.tasks import defend, open

    config = config_from_args(open.Config, args)
    clf = open.run(open.Inputs(Path(path or args.model)), config).clf
    if getattr(args, "defense", None):
        clf = defend.defended(clf, config_from_args(defend.Config, args, seed=getattr(args, "seed", None)))
    elif getattr(args, "adaptive", None):
        raise AdvInspectError("--adaptive needs a --defense to adapt to")
    return clf


def load_images(clf: Any, paths: Sequence[str], *, labelled_for: str | None = None) -> Any:
    """The images at `paths` fitted to the model, as core.tasks Images; broken files are warned
    about and skipped. `labelled_for` names the verb that needs labels."""
    from advinspect.core.data import collect_images
    from advinspect.core.data import load_images as load
    from advinspect.core.tasks.base import Images

    items = collect_images(paths, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(paths)}")
    with progress_bar("loading images") as progress:
        batch = load(items, clf.spec, progress=progress)
    for message in batch.errors:
        warn(f"skipped {message}")
    if not len(batch):
        raise AdvInspectError("none of the images could be loaded")
    images = Images.from_batch(batch)
    images.items = batch.items  # type: ignore[attr-defined]  # the files, for the results writers
    if labelled_for:
        images.require_labels(labelled_for)
    return images


def add_stream_flags(parser: Any, *, image_batch: bool = False) -> None:
    """`--workers` (and, for a verb whose --batch-size means something else, `--image-batch`)
    for the commands that decode their images batch by batch (`open_stream`)."""
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="image-decoding processes (0: decode in the main process; default 2)")
    if image_batch:
        parser.add_argument("--image-batch", type=int, default=64, metavar="N",
                            help="images decoded at a time (memory only: the results do not change; default 64)")


def open_stream(args: argparse.Namespace, clf: Any, paths: Sequence[str], batch_size: int, *,
                labelled_for: str | None = None) -> Any:
    """The images at `paths` as a core.data ImageStream for the model: decoded `batch_size` at
    a time by `args.workers` processes, so memory holds a batch, not the set. Fails before any
    work when there are no images, or no labels where `labelled_for` (a verb) needs them."""
    from advinspect.core.data import collect_images
    from advinspect.core.data.stream import ImageStream

    items = collect_images(paths, clf.spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(paths)}")
    if labelled_for and any(item.label is None for item in items):
        raise AdvInspectError(f"{labelled_for} needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    return ImageStream(items, clf.spec, batch_size=batch_size, workers=args.workers,
                       pin_memory=str(clf.device).startswith("cuda"))


def warn_skipped(result: Any) -> None:
    """One warning line per file a streamed run could not decode; none decoded at all is an error."""
    for message in result.errors:
        warn(f"skipped {message}")
    if not result.rows and not result.cancelled:
        raise AdvInspectError("none of the images could be loaded")


# --- progress, cancel, output -----------------------------------------------------------------


class progress_bar:
    """A terminal progress bar (tqdm) that appears only for work longer than a second."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: Any = None

    def __enter__(self) -> Any:
        from tqdm import tqdm

        from advinspect.core.jobs import Progress

        if os.environ.get("ADVINSPECT_PROGRESS") == "lines":  # for logs and scripts: one line a second
            return Progress(self._lines)

        def update(event: Any) -> None:
            if self.bar is None:
                self.bar = tqdm(total=event.total, desc=self.description, delay=1.0, leave=False,
                                file=sys.stderr, dynamic_ncols=True, disable=not sys.stderr.isatty())
            self.bar.total = event.total
            if event.message:
                self.bar.set_postfix_str(event.message, refresh=False)
            self.bar.update(event.step - self.bar.n)  # respects the one-second delay

        return Progress(update)

    def _lines(self, event: Any) -> None:
        import time

        now = time.monotonic()
        if now - getattr(self, "_last", 0.0) >= 1.0 or event.step >= event.total:
            self._last = now
            print(f"{self.description}: {event.step}/{event.total} {event.message}", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def cancel_on_sigint() -> Iterator[Any]:
    """A CancelToken that the first Ctrl-C (SIGINT) sets: the task stops at its next step and its
    partial result is written, marked cancelled. A second Ctrl-C stops at once."""
    from advinspect.core.jobs import CancelToken

    token = CancelToken()
    if threading.current_thread() is not threading.main_thread():
        yield token  # signals reach the main thread only (e.g. the CLI called from a test thread)
        return

    def handle(signum: int, frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nadvinspect: cancelling after the current step (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def warn(message: str) -> None:
    print(f"advinspect: warning: {message}", file=sys.stderr)


def print_summary(result: Any) -> None:
    """The result's summary lines, as the GUI shows them; warnings and cancel notes on stderr."""
    for line in result.summary_text():
        if line.startswith("warning: "):
            warn(line[len("warning: "):])
        elif line.startswith("cancelled"):
            print(f"advinspect: {line}", file=sys.stderr)
        else:
            print(line)


def exit_code(result: Any) -> int:
    return 130 if getattr(result, "cancelled", False) else 0


def command_line(args: argparse.Namespace) -> str:
    """The exact command that reproduces this run (the argv main() was given), for provenance."""
    argv = getattr(args, "argv", None)
    return "advinspect " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))


def parse_param_pairs(pairs: list[str] | None) -> dict[str, str]:
    """`--param key=value` flags into a dict."""
    values: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise AdvInspectError(f"--param takes key=value, got {pair!r}")
        values[key.strip().replace("-", "_")] = value.strip()
    return values


def add_param_flag(parser: argparse.ArgumentParser, help: str = "any other attack parameter") -> None:
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help=help)


def refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise AdvInspectError(f"{path} exists; pass --force to overwrite")


def check_writable(folder: Path) -> None:
    """Fail before a long computation, not after it, when the output folder cannot be written.
    (For the folders written as a whole — results, reports, evaluations — use
    core.report.staging.check_writable, which also refuses a folder of the user's own.)"""
    import os
    import tempfile

    folder = Path(folder)
    probe_dir = folder
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise AdvInspectError(f"cannot write to {folder}: {probe_dir} is not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".advinspect-probe-", dir=probe_dir)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise AdvInspectError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def write_result(args: argparse.Namespace, clf: Any, result: Any, json_path: Path, title: str,
                 extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """A verb's outputs, written the same way by every command: `json_path` (the Result's
    `to_dict()`, `extra`, and provenance with the command line) and `report.html` beside it
    (the Result's report section, with the command that reproduces it)."""
    from advinspect.core.report.jsonio import write_json
    from advinspect.core.report.results import provenance
    from advinspect.core.report.sections import write_sections_report

    command = command_line(args)
    data = {**result.to_dict(), **(extra or {}), "provenance": {**provenance(clf), "command": command}}
    path = write_json(json_path, data)
    section = result.report_section()
    section.command = command
    report = write_sections_report(title, [section], json_path.parent / "report.html")
    return path, report
