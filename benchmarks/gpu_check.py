"""The CUDA path, checked on a machine with a GPU, and the GPU figures (by hand, never in CI).

1. The demo CNN on CUDA against the CPU: each attack through `core.tasks.attack` on the 450 demo
   images; robust accuracy on both devices (they must agree up to float noise) and times.
2. `evaluate` and `certify` through `core.tasks` on CUDA, to completion.
3. resnet18 at 224x224 (random weights, labels = its own predictions so every image is attacked):
   PGD-40 and AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square) at eps 8/255, images/s of
   advinspect against torchattacks in the same run, and the GPU utilisation while each runs
   (nvidia-smi sampled every 100 ms).

Run: python benchmarks/gpu_check.py [--n-resnet 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]


class Utilisation:
    """Mean GPU utilisation (%) reported by nvidia-smi while the block runs."""

    def __enter__(self) -> Utilisation:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100"],
            stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self.samples.append(float(line.strip().split(",")[0]))
            except ValueError:
                continue

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=5)

    @property
    def mean(self) -> float | None:
        busy = self.samples[2:] or self.samples  # the first samples precede the work
        return float(np.mean(busy)) if busy else None


def sync() -> None:
    torch.cuda.synchronize()


def demo_on(device: str):
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.data.demo import DEMO_SAMPLES, RESOURCES
    from advinspect.core.tasks import open
    from advinspect.core.tasks.base import Images

    path = RESOURCES / "models" / "digits_cnn_state_dict.pt"  # opens on any torch version
    clf = open.run(open.Inputs(path), open.Config(arch="advinspect.zoo.digits:DigitsCNN", device=device)).clf
    batch = load_images(collect_images([DEMO_SAMPLES], clf.spec), clf.spec)
    return clf, Images.from_batch(batch)


ATTACKS = {
    "fgsm": {"eps": "0.1"},
    "pgd": {"eps": "0.1", "steps": "40"},
    "deepfool": {},
    "cw": {"steps": "100", "binary_search_steps": "5"},
    "apgd": {"eps": "0.1", "steps": "50"},
    "fab": {"eps": "0.1", "steps": "20"},
    "square": {"eps": "0.1", "n_queries": "500"},
}


def check_demo(report: dict) -> None:
    from advinspect.core.tasks import attack, certify, evaluate
    from advinspect.core.tasks.base import make_config

    rows = []
    models = {d: demo_on(d) for d in ("cpu", "cuda")}
    for name, params in ATTACKS.items():
        row = {"attack": name}
        for device, (clf, images) in models.items():
            try:
                config = make_config(attack.Config, {"attack": name, "params": params})
            except Exception as exc:  # a parameter this version names differently: say so, go on
                row[device] = f"config: {exc}"
                continue
            if device == "cuda":
                sync()
            started = time.perf_counter()
            result = attack.run(attack.Inputs(clf, images), config)
            if device == "cuda":
                sync()
            s = result.summary()
            row[device] = {"robust_accuracy": s["robust_accuracy"], "success_rate": s["success_rate"],
                           "median_l2": s["median_l2"], "seconds": round(time.perf_counter() - started, 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    report["demo_attacks"] = rows
    clf, images = models["cuda"]
    started = time.perf_counter()
    ev = evaluate.run(evaluate.Inputs(clf, images), make_config(evaluate.Config, {"attacks": "pgd,fgsm",
                                                                                  "eps": "0,0.05,0.1"}))
    report["demo_evaluate_cuda"] = {"summary": ev.summary(), "seconds": round(time.perf_counter() - started, 3)}
    print("evaluate on cuda:", ev.summary_text(), flush=True)
    started = time.perf_counter()
    cert = certify.run(certify.Inputs(clf, images.subset(np.arange(0, 450, 9))), certify.Config(n0=100, n=1000))
    report["demo_certify_cuda"] = {"summary": cert.summary(), "seconds": round(time.perf_counter() - started, 3)}
    print("certify on cuda:", cert.summary_text(), flush=True)


def resnet_speed(report: dict, n: int, batch: int, tuned: bool = False) -> None:
    """`tuned`: cuDNN autotuning and channels-last weights, for both contenders (same module)."""
    import torchvision

    from advinspect.core.models import ModelSpec
    from advinspect.core.models.torch_backend import TorchClassifier
    from advinspect.core.tasks import attack
    from advinspect.core.tasks.base import Images, make_config

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    spec = ModelSpec(input_shape=(3, 224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     labels=tuple(str(i) for i in range(10)))
    torch.backends.cudnn.benchmark = tuned
    if tuned:
        net = net.to(memory_format=torch.channels_last)
    clf = TorchClassifier(net, spec, torch.device("cuda"))
    x = torch.rand(n, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    y = clf.predict(x).cpu()
    images = Images(x.numpy(), y.numpy())
    module = clf.as_module()
    from advinspect.core.tasks.base import with_plugins

    with_plugins()  # once per process (the CLI at start, the GUI when it lists the attacks): not per run
    for _ in range(3):  # warm-up (cuDNN autotuning, allocator) so the first contender pays nothing extra
        xb = x[:batch].cuda().requires_grad_(True)
        torch.nn.functional.cross_entropy(module(xb), y[:batch].cuda()).backward()
    sync()
    rows = []
    import torchattacks

    def pgd(early_stop: bool):
        return lambda: attack.run(attack.Inputs(clf, images), make_config(
            attack.Config, {"attack": "pgd", "batch_size": batch,
                            "params": {"eps": "1/255", "steps": "40", "step_size": "0.25/255",
                                       "early_stop": str(early_stop)}}))

    def torch_pgd():
        return _torchattacks(torchattacks.PGD(module, eps=1 / 255, alpha=0.25 / 255, steps=40, random_start=True),
                             x, y, batch)

    def pgd8():  # the usual budget: most images break within a few steps, and our default early stop skips the rest
        return attack.run(attack.Inputs(clf, images), make_config(
            attack.Config, {"attack": "pgd", "batch_size": batch,
                            "params": {"eps": "8/255", "steps": "40", "step_size": "2/255"}}))

    def torch_pgd8():
        return _torchattacks(torchattacks.PGD(module, eps=8 / 255, alpha=2 / 255, steps=40, random_start=True),
                             x, y, batch)

    contenders = {
        "pgd40_eps8_default": (pgd8, torch_pgd8),
        # every step of every image (torchattacks' budget), then with our per-sample early stop
        "pgd40_all_steps": (pgd(False), torch_pgd),
        "pgd40_early_stop": (pgd(True), torch_pgd),
        "autoattack": (lambda: attack.run(attack.Inputs(clf, images), make_config(
                           attack.Config, {"attack": "autoattack", "batch_size": batch, "params": {"eps": "8/255"}})),
                       lambda: _torchattacks(torchattacks.AutoAttack(module, norm="Linf", eps=8 / 255,
                                                                     version="standard", n_classes=10, seed=0),
                                             x, y, batch)),
    }
    for name, (ours, theirs) in contenders.items():
        row = {"attack": name, "n": n, "batch": batch, "tuned": tuned}
        for who, fn in (("advinspect", ours), ("torchattacks", theirs)):
            sync()
            with Utilisation() as util:
                started = time.perf_counter()
                out = fn()
                sync()
                seconds = time.perf_counter() - started
            robust = out.summary()["robust_accuracy"] if who == "advinspect" else out
            row[who] = {"seconds": round(seconds, 2), "images_per_s": round(n / seconds, 1),
                        "gpu_util_mean": util.mean, "robust_accuracy": robust}
        row["ratio_time_ours_over_theirs"] = round(row["advinspect"]["seconds"] / row["torchattacks"]["seconds"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    report["resnet18_224" + ("_tuned" if tuned else "")] = rows


def _torchattacks(atk, x, y, batch) -> float:
    """Robust accuracy of a torchattacks attack run in batches on the GPU."""
    atk.set_device(torch.device("cuda"))  # its own guess fails on a wrapped module
    correct = 0
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch].cuda(), y[start:start + batch].cuda()
        adv = atk(xb, yb)
        with torch.no_grad():
            correct += int((atk.get_logits(adv).argmax(1) == yb).sum())
    return correct / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-resnet", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--tuned", action="store_true", help="also with cuDNN autotuning and channels-last weights")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    assert torch.cuda.is_available(), "no CUDA device here"
    report: dict = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
    print(report, flush=True)
    if not args.skip_demo:
        check_demo(report)
    resnet_speed(report, args.n_resnet, args.batch)
    if args.tuned:
        resnet_speed(report, args.n_resnet, args.batch, tuned=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
