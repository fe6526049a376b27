"""AutoAttack, APGD-CE and PGD-40: our time and robust accuracy against torchattacks, one run.

Run by hand (not a test):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/autoattack_speed.py [--n 200] [--eps 0.05]

On the demo CNN (1x32x32 digits, value range [0, 1]), Linf. The eps is small enough that some
points survive APGD-CE, so every AutoAttack stage (APGD-T, FAB-T, Square) does real work. Robust
accuracy is re-predicted here for both tools (no library's own figure is trusted). Prints the
seconds, the robust accuracy and the time ratio ours/torchattacks (< 1: we are faster).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.data import collect_images, load_images
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from advinspect.core.models import load_model


def robust_accuracy(clf, x: torch.Tensor, y: torch.Tensor, x_adv, eps: float) -> float:
    x_adv = torch.as_tensor(np.asarray(x_adv, dtype=np.float32))
    assert float((x_adv - x).abs().max()) <= eps + 1e-5, "perturbation outside the budget"
    correct = (clf.predict(x) == y) & (clf.predict(x_adv) == y)
    return float(correct.float().mean())


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--aa-steps", nargs="*", type=int, default=(10, 100),
                        help="APGD/APGD-T/FAB steps of AutoAttack (torchattacks' AutoAttack uses 10)")
    parser.add_argument("--skip", nargs="*", default=(), choices=("pgd", "apgd", "autoattack"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    import torchattacks

    clf = load_model(DEMO_MODEL, device="cpu")
    batch = load_images(collect_images([DEMO_SAMPLES], clf.spec), clf.spec)
    x, y = batch.x[: args.n].float(), batch.labels[: args.n]
    module = clf.as_module()
    eps = args.eps
    print(f"{len(x)} demo images, Linf eps {eps}, {args.threads} thread(s); "
          f"clean accuracy {float((clf.predict(x) == y).float().mean()):.3f}")

    rows = []

    def pair(title: str, ours: Callable[[], object], theirs: Callable[[], object]) -> None:
        t_ours, adv_ours = timed(ours)
        t_theirs, adv_theirs = timed(theirs)
        ra_ours = robust_accuracy(clf, x, y, adv_ours, eps)
        ra_theirs = robust_accuracy(clf, x, y, adv_theirs, eps)
        rows.append((title, t_ours, ra_ours, t_theirs, ra_theirs))
        print(f"{title:<24} advinspect {t_ours:7.2f} s  RA {ra_ours:.3f}   torchattacks {t_theirs:7.2f} s  "
              f"RA {ra_theirs:.3f}   time ratio {t_ours / t_theirs:.2f}", flush=True)

    if "pgd" not in args.skip:
        pgd = get_attack("pgd").from_values({"eps": eps, "step_size": eps / 4, "steps": 40})
        ta = torchattacks.PGD(module, eps=eps, alpha=eps / 4, steps=40, random_start=True)
        pair("PGD-40", lambda: pgd.run(clf, x, y).x_adv, lambda: ta(x, y).detach())
    if "apgd" not in args.skip:
        apgd = get_attack("apgd").from_values({"eps": eps, "steps": 100, "loss": "ce"})
        ta = torchattacks.APGD(module, eps=eps, steps=100, loss="ce", n_restarts=1, seed=0)
        pair("APGD-CE 100", lambda: apgd.run(clf, x, y).x_adv, lambda: ta(x, y).detach())
    if "autoattack" not in args.skip:
        # torchattacks' AutoAttack("standard") leaves APGD, APGD-T and FAB at their own default of
        # 10 steps (the reference AutoAttack runs 100): compare at both budgets, stages and
        # order the same (APGD-CE, APGD-T, FAB-T, Square 5000), each on the points still robust
        for steps in args.aa_steps:
            aa = get_attack("autoattack").from_values({"eps": eps, "norm": "linf", "version": "standard",
                                                       "steps": steps})
            ta = torchattacks.MultiAttack([
                torchattacks.APGD(module, eps=eps, norm="Linf", steps=steps, loss="ce", n_restarts=1, seed=0),
                torchattacks.APGDT(module, eps=eps, norm="Linf", steps=steps, n_classes=10, n_restarts=1, seed=0),
                torchattacks.FAB(module, eps=eps, norm="Linf", steps=steps, multi_targeted=True, n_classes=10,
                                 n_restarts=1, seed=0),
                torchattacks.Square(module, eps=eps, norm="Linf", n_queries=5000, n_restarts=1, seed=0),
            ])
            pair(f"AutoAttack {steps} steps", lambda aa=aa: aa.run(clf, x, y).x_adv,
                 lambda ta=ta: ta(x, y).detach())
    print("\nattack, ours s, ours RA, torchattacks s, torchattacks RA, ratio")
    for title, t_o, ra_o, t_t, ra_t in rows:
        print(f"{title}, {t_o:.2f}, {ra_o:.3f}, {t_t:.2f}, {ra_t:.3f}, {t_o / t_t:.2f}")


if __name__ == "__main__":
    main()
