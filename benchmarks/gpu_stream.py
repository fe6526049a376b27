"""The streamed CLI on a GPU (by hand, never in CI): `advinspect attack` and `evaluate` over a
folder of 224x224 JPEGs with resnet18 (random weights, TorchScript), on one process and with
`--shards 2` (two torchrun processes: NCCL when each has a GPU of its own, gloo when they share
one), end to end (decoding in loader workers, pinned memory, writing rows and PNGs), with the
GPU utilisation while each runs. The per-sample rows of 1 and 2 processes must be identical.

Run: python benchmarks/gpu_stream.py [--n 1024] [--device cuda] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_check import Utilisation  # noqa: E402
from streaming_memory import CACHE, make_images  # noqa: E402


def make_resnet(device: str) -> Path:
    """resnet18 (random weights, 10 classes) as TorchScript with its sidecar."""
    import torch
    import torchvision

    from advinspect.core.models.spec import ModelSpec, write_sidecar

    path = CACHE / "resnet18-224.pt"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        net = torchvision.models.resnet18(num_classes=10).eval()
        torch.jit.save(torch.jit.trace(net, torch.rand(1, 3, 224, 224)), str(path))
        write_sidecar(path, ModelSpec(input_shape=(3, 224, 224), mean=(0.485, 0.456, 0.406),
                                      std=(0.229, 0.224, 0.225), labels=tuple(str(i) for i in range(10))))
    return path


def run(argv: list[str], gpu: bool) -> tuple[float, float | None, int, str]:
    """(seconds, mean GPU utilisation, exit code, last stderr) of `python -m advinspect ARGV`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "ADVINSPECT_PROGRESS": "lines"}
    cmd = [sys.executable, "-m", "advinspect", *argv]
    started = time.perf_counter()
    if gpu:
        with Utilisation() as util:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        mean = util.mean
    else:
        proc, mean = subprocess.run(cmd, env=env, capture_output=True, text=True), None
    return time.perf_counter() - started, mean, proc.returncode, proc.stderr[-1500:]


def rows(out: Path) -> list[dict]:
    """The per-sample rows of a results folder (results.json or evaluation.json)."""
    for name in ("evaluation.json", "results.json"):
        if (out / name).exists():
            return json.loads((out / name).read_text())["samples"]
    raise FileNotFoundError(f"no results in {out}")


def differences(a: list[dict], b: list[dict]) -> dict:
    """How many rows differ, and in which fields (a GPU's kernels need not be bit-reproducible)."""
    fields: dict[str, int] = {}
    differing = 0
    for ra, rb in zip(a, b, strict=True):
        changed = [k for k in sorted(set(ra) | set(rb)) if json.dumps(ra.get(k), sort_keys=True)
                   != json.dumps(rb.get(k), sort_keys=True)]
        differing += bool(changed)
        for k in changed:
            fields[k] = fields.get(k, 0) + 1
    return {"rows": len(a), "rows_identical": differing == 0, "rows_differing": differing, "fields": fields}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    images, model = make_images(args.n), make_resnet(args.device)
    work = Path(tempfile.mkdtemp(prefix="gpu-stream-"))
    common = [str(model), str(images), "--device", args.device, "--batch-size", str(args.batch_size),
              "--workers", str(args.workers)]
    jobs = {
        "attack_pgd40": ["attack", *common, "--attack", "pgd", "--eps", "1/255", "--steps", "40",
                         "--step-size", "0.25/255"],
        "evaluate_pgd10_3eps": ["evaluate", *common, "--attack", "pgd", "--eps", "0,1/255,2/255", "--steps", "10",
                                "--no-sanity-checks"],
    }
    report: list[dict] = []
    for name, argv in jobs.items():
        outs = {}
        for label, shards in (("1", 1), ("1-again", 1), ("2", 2)):
            out = work / f"{name}-{label}"
            extra = ["--out", str(out)] + (["--shards", str(shards)] if shards > 1 else [])
            seconds, util, code, err = run(argv + extra, gpu)
            row = {"job": name, "run": label, "processes": shards, "n": args.n, "seconds": round(seconds, 2),
                   "images_per_s": round(args.n / seconds, 1), "gpu_util_mean": util, "exit": code}
            if code:
                row["stderr"] = err
            else:
                outs[label] = rows(out)
            report.append(row)
            print(json.dumps(row), flush=True)
        for other in ("1-again", "2"):
            if "1" in outs and other in outs:
                report.append({"job": name, "compare": f"1 vs {other}", **differences(outs["1"], outs[other])})
                print(json.dumps(report[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
