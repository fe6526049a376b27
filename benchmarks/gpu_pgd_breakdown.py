"""Where PGD's time goes on a GPU (by hand): a raw autograd loop on the same module, the engine's
inner loop alone, the whole Attack.run, and the whole task, on resnet18 224x224 (random weights).

Run: python benchmarks/gpu_pgd_breakdown.py [--n 512] [--batch 128]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import torchvision

from advinspect.core.attacks import get_attack
from advinspect.core.attacks.base import AttackContext
from advinspect.core.attacks.gradient import iterative_attack
from advinspect.core.jobs import NEVER, NO_PROGRESS
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.tasks import attack
from advinspect.core.tasks.base import Images, make_config


def timed(fn) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    spec = ModelSpec(input_shape=(3, 224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     labels=tuple(str(i) for i in range(10)))
    clf = TorchClassifier(torchvision.models.resnet18(num_classes=10).eval(), spec, torch.device("cuda"))
    x = torch.rand(args.n, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    y = clf.predict(x).cpu()
    module = clf.as_module()
    eps, alpha, steps = 1 / 255, 0.25 / 255, 40

    def raw():
        for s in range(0, args.n, args.batch):
            xb, yb = x[s:s + args.batch].cuda(), y[s:s + args.batch].cuda()
            xa = xb.clone()
            for _ in range(steps):
                xa.requires_grad_(True)
                (g,) = torch.autograd.grad(F.cross_entropy(module(xa), yb), xa)
                xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), xb - eps), xb + eps).clamp(0, 1)

    def inner():
        ctx = AttackContext(NO_PROGRESS, NEVER, 0, clf.device, steps, args.n)
        for s in range(0, args.n, args.batch):
            xb, yb = x[s:s + args.batch].cuda(), y[s:s + args.batch].cuda()
            iterative_attack(clf, xb, yb, None, ctx, eps=eps, steps=steps, step_size=alpha, early_stop=False)

    pgd = get_attack("pgd").from_values({"eps": eps, "steps": steps, "step_size": alpha, "early_stop": False,
                                         "random_start": False})

    def engine():
        pgd.run(clf, x, y, batch_size=args.batch)

    config = make_config(attack.Config, {"attack": "pgd", "batch_size": args.batch, "params": {
        "eps": eps, "steps": steps, "step_size": alpha, "early_stop": False, "random_start": False}})

    def task():
        attack.run(attack.Inputs(clf, Images(x.numpy(), y.numpy())), config)

    timed(raw)  # warm-up
    task()  # and the task's once-per-process start (plugin discovery), which is not per run
    for name, fn in (("raw autograd loop", raw), ("engine inner loop", inner), ("Attack.run", engine),
                     ("core.tasks.attack.run", task), ("raw again", raw)):
        print(f"{name:24s} {timed(fn):7.3f} s", flush=True)


if __name__ == "__main__":
    main()
