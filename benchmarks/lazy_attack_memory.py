"""Peak memory of the GUI's "attack all" on a large folder (issue 16): the set is decoded on demand
(`LazyPixels`, what the GUI opens for more than 1,000 files) and the adversarials go to a
disk-backed array, against the same attack over the images held in memory (what it did before).
Each run is a fresh process; a tiny model at 3x224x224, FGSM 8/255, batch 64.

    .venv/bin/python benchmarks/lazy_attack_memory.py [--sizes 500,2000] [--eager-max 2000]

Prints peak RSS and images/s per size and mode; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_folder(root: Path, n: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        path = root / str(i % 10) / f"{i:06d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(path, compress_level=1)


def child(folder: str, n: int, mode: str) -> None:
    import torch

    from advinspect.core.data import collect_images
    from advinspect.core.data.lazy import LazyPixels
    from advinspect.core.models import ModelSpec
    from advinspect.core.models.torch_backend import TorchClassifier
    from advinspect.core.tasks import attack
    from advinspect.core.tasks.base import Images, make_config

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 8, stride=8), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 28 * 28, 10)).eval()
    spec = ModelSpec(input_shape=(3, 224, 224), labels=tuple(str(i) for i in range(10)))
    clf = TorchClassifier(net, spec, torch.device("cpu"))
    items = collect_images([folder], spec)[:n]
    labels = np.array([i.label for i in items], np.int64)
    pixels = LazyPixels(items, spec)
    started = time.perf_counter()  # decoding counts in both modes
    x = pixels if mode == "lazy" else np.asarray(pixels)  # eager: the whole set decoded first, as before
    images = Images(x, labels, [i.name for i in items])
    result = attack.run(attack.Inputs(clf, images), make_config(
        attack.Config, {"attack": "fgsm", "batch_size": 64, "params": {"eps": "8/255"}}))
    seconds = time.perf_counter() - started
    print(json.dumps({"n": n, "mode": mode, "seconds": round(seconds, 2), "images_per_s": round(n / seconds, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "success_rate": round(result.summary()["success_rate"], 4)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000")
    parser.add_argument("--eager-max", type=int, default=2000, help="largest size also run held in memory")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        make_folder(Path(tmp), max(sizes))
        print(f"wrote {max(sizes)} PNGs of 224x224 in {time.perf_counter() - started:.1f} s", flush=True)
        rows = []
        for n in sizes:
            for mode in ("lazy", "eager"):
                if mode == "eager" and n > args.eager_max:
                    continue
                out = subprocess.run([sys.executable, __file__, "--child", tmp, str(n), mode], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                rows.append(json.loads(out))
                print(out, flush=True)
        lazy = [r for r in rows if r["mode"] == "lazy"]
        if len(lazy) > 1:
            print(f"lazy peak RSS, largest over smallest set: {lazy[-1]['peak_rss_mb'] / lazy[0]['peak_rss_mb']:.2f} "
                  f"for {lazy[-1]['n'] / lazy[0]['n']:.0f}x the images")


if __name__ == "__main__":
    main()
