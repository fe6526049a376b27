"""Peak memory and images/s of the streamed `attack` and `evaluate` at 1,000 / 5,000 / 20,000
synthetic 224x224 RGB JPEGs, with a tiny TorchScript model (issue 16: peak RSS flat within 20 %
from 1,000 to 20,000 images, below 2 GB).

Each run is a fresh `python -m advinspect` subprocess. Peak RSS is measured two ways: the main
process's own peak (`os.wait4`'s ru_maxrss), and the whole process tree (main + loader workers,
its proportional set size sampled from /proc every 0.1 s, so a short spike can be missed).
`--root /path/to/other/checkout --legacy` measures another checkout (e.g. main before
streaming; --legacy leaves out the --workers flag it does not know).

    python benchmarks/streaming_memory.py                 # 1000 5000 20000, attack and evaluate
    python benchmarks/streaming_memory.py --sizes 1000 --verbs attack
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(tempfile.gettempdir()) / "advinspect-streaming-bench"


def make_images(n: int) -> Path:
    """n random 224x224 JPEGs in 10 class folders (made once, kept in the cache)."""
    from PIL import Image

    folder = CACHE / f"images-{n}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    rng = np.random.default_rng(n)
    base = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
    for i in range(n):
        cls = folder / str(i % 10)
        cls.mkdir(parents=True, exist_ok=True)
        dy, dx = rng.integers(0, 32, 2)
        Image.fromarray(base[dy:dy + 224, dx:dx + 224]).save(cls / f"{i:06d}.jpg", quality=85)
    marker.touch()
    return folder


def make_model() -> Path:
    """A tiny TorchScript CNN for 3x224x224 inputs, with its sidecar."""
    import torch

    from advinspect.core.models.spec import ModelSpec, write_sidecar

    path = CACHE / "tiny224.pt"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 5, stride=4), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(128, 10)).eval()
    torch.jit.save(torch.jit.script(net), str(path))
    write_sidecar(path, ModelSpec(input_shape=(3, 224, 224), labels=tuple(str(i) for i in range(10))))
    return path


def tree_pss(pid: int) -> int:
    """Proportional set size in bytes of `pid` and all its descendants (from /proc: pages
    shared between the main process and its forked loader workers are counted once)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return total


def measure(argv: list[str], root: Path = ROOT) -> tuple[float, int, int, int]:
    """(seconds, exit code, main-process peak RSS, sampled tree peak PSS) of one command."""
    env = {**os.environ, "PYTHONPATH": str(root), "ADVINSPECT_PROGRESS": "lines"}
    started = time.perf_counter()
    # run from the cache folder: `python -m` puts the working folder first on sys.path, which
    # would measure the checkout the benchmark was started in instead of `root`
    proc = subprocess.Popen([sys.executable, "-m", "advinspect", *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=CACHE)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], tree_pss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(err[-2000:], file=sys.stderr)
    return seconds, code, usage.ru_maxrss * 1024, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--verbs", nargs="+", default=["attack", "evaluate"], choices=["attack", "evaluate"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--root", type=Path, default=ROOT, help="the advinspect checkout to measure")
    parser.add_argument("--legacy", action="store_true", help="a checkout without --workers")
    args = parser.parse_args()
    model = make_model()
    print(f"{'verb':<9} {'images':>7} {'seconds':>8} {'images/s':>9} {'main peak MB':>13} {'tree PSS MB':>12}")
    for n in args.sizes:
        images = make_images(n)
        for verb in args.verbs:
            out = Path(tempfile.mkdtemp(prefix=f"bench-{verb}-{n}-", dir=CACHE))
            common = [str(model), str(images), "--out", str(out), "--batch-size", str(args.batch_size),
                      "--device", "cpu"] + ([] if args.legacy else ["--workers", str(args.workers)])
            if verb == "attack":
                argv = ["attack", *common, "--attack", "fgsm", "--eps", "8/255"]
            else:
                argv = ["evaluate", *common, "--attack", "fgsm", "--eps", "0,8/255", "--no-sanity-checks"]
            seconds, code, main_peak, tree_peak = measure(argv, args.root)
            print(f"{verb:<9} {n:>7} {seconds:>8.1f} {n / seconds:>9.1f} {main_peak / 2**20:>13.0f} "
                  f"{tree_peak / 2**20:>12.0f}" + ("" if code == 0 else f"  (exit {code})"), flush=True)


if __name__ == "__main__":
    main()
