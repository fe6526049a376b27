"""Peak memory of `advinspect certify`, `saliency` and `compare` on synthetic RGB PNGs at two
or more set sizes (issue 16: a verb that walks a data set holds one batch, not the set).

Each run is a fresh `python -m advinspect` subprocess, measured as in streaming_memory.py: the
main process's own peak RSS (`wait4`'s ru_maxrss) and the sampled peak PSS of the process tree
(main + loader workers). The commands run in the cache folder, so `--root` (put on PYTHONPATH)
is the code measured, never the working folder's checkout. `--root` measures another checkout (e.g. the tree before streaming,
exported with `git archive`); `--legacy` leaves out the flags it does not know.

    python benchmarks/verb_streaming_memory.py --sizes 300 1200 --side 64
    python benchmarks/verb_streaming_memory.py --root /tmp/before --legacy

Measured (2-core CPU shared with other jobs, --side 224, --workers 2; main peak RSS / tree PSS
in MB; "before" is commit 37adef3 exported with git archive):
    certify   300: before 1101 / 753, after 1040 / 644;  1200: before 2136 / 1781, after 1032 / 673
    saliency  300: before 1166 / 794, after 1063 / 733;  1200: before 2135 / 1827, after 1088 / 810
    compare   300: before 3095 / 2643, after 1243 / 978; 1200: after 1243 / 989 (before not run)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streaming_memory import CACHE, ROOT, measure  # noqa: E402


def make_images(n: int, side: int) -> Path:
    """n random side x side RGB PNGs in 10 class folders (made once, kept in the cache)."""
    from PIL import Image

    folder = CACHE / f"png{side}-{n}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    rng = np.random.default_rng(n)
    for i in range(n):
        cls = folder / str(i % 10)
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(cls / f"{i:06d}.png")
    marker.touch()
    return folder


def make_model(side: int, seed: int = 0) -> Path:
    """A tiny TorchScript CNN for 3 x side x side inputs, with its sidecar."""
    import torch

    from advinspect.core.models.spec import ModelSpec, write_sidecar

    path = CACHE / f"tiny{side}-{seed}.pt"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(128, 10)).eval()
    torch.jit.save(torch.jit.script(net), str(path))
    write_sidecar(path, ModelSpec(input_shape=(3, side, side), labels=tuple(str(i) for i in range(10))))
    return path


def command(verb: str, side: int, images: Path, out: Path, legacy: bool, workers: int) -> list[str]:
    model = str(make_model(side))
    stream = [] if legacy else ["--workers", str(workers)]
    if verb == "certify":
        return ["certify", model, str(images), "--n0", "4", "--n", "16", "--batch-size", "20", "--out", str(out),
                *stream, *([] if legacy else ["--image-batch", "64"])]
    if verb == "saliency":
        return ["saliency", model, str(images), "--method", "gradient", "--batch-size", "64", "--out", str(out),
                *stream]
    return ["compare", model, str(make_model(side, 1)), str(images), "--attack", "fgsm", "--eps", "0,8/255",
            "--out", str(out), *stream, *([] if legacy else ["--batch-size", "64"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1200])
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--verbs", nargs="+", default=["certify"], choices=["certify", "saliency", "compare"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=ROOT, help="the advinspect checkout to measure")
    parser.add_argument("--legacy", action="store_true", help="a checkout without the streaming flags")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    os.chdir(CACHE)  # `python -m` puts the working folder first on sys.path: measure --root, not this checkout
    print(f"{'verb':<9} {'images':>7} {'side':>5} {'seconds':>8} {'main peak MB':>13} {'tree PSS MB':>12}")
    for n in args.sizes:
        images = make_images(n, args.side)
        for verb in args.verbs:
            out = Path(tempfile.mkdtemp(prefix=f"bench-{verb}-{n}-", dir=CACHE))
            seconds, code, main_peak, tree_peak = measure(command(verb, args.side, images, out, args.legacy,
                                                                  args.workers), args.root)
            print(f"{verb:<9} {n:>7} {args.side:>5} {seconds:>8.1f} {main_peak / 2**20:>13.0f} "
                  f"{tree_peak / 2**20:>12.0f}" + ("" if code == 0 else f"  (exit {code})"), flush=True)


if __name__ == "__main__":
    main()
