"""The defense table of issue 7 on the demo: clean / naive robust / adaptive robust / certified.

For each input-transform defense: clean accuracy; PGD robust accuracy at eps=0.1 attacking the
defended model naively (gradients as the transform gives them: none for JPEG and bit depth); the
same with BPDA+EOT; and randomized smoothing's certified accuracy at radius 0 and 0.25 for the
undefended model. Run by hand:
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/defense_table.py [--n 450] [--steps 40]
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from advinspect.core.attacks import get_attack
from advinspect.core.data import collect_images, load_images
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from advinspect.core.defenses.smoothing import certify_set
from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense
from advinspect.core.models import load_model

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=450, help="images (every k-th of the demo set)")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--certify-n", type=int, default=100, help="images certified (slow: n samples each)")
    args = parser.parse_args()
    clf = load_model(DEMO_MODEL, device="cpu")
    batch = load_images(collect_images([DEMO_SAMPLES], clf.spec), clf.spec)
    step = max(1, len(batch) // args.n)
    x, y = batch.x[::step][: args.n], batch.labels[::step][: args.n]
    attack = get_attack("pgd").from_values({"eps": args.eps, "steps": args.steps})
    print(f"{len(x)} demo images, PGD-{args.steps} Linf eps={args.eps}; adaptive = BPDA + EOT (8 samples)")
    print(f"{'defense':<22} {'clean':>7} {'naive':>7} {'adaptive':>9} {'seconds':>8}")
    for defense in ("none", "jpeg:75", "jpeg:50", "bits:4", "bits:2", "median:3", "noise:0.1", "jpeg:75,bits:4"):
        started = time.perf_counter()
        if defense == "none":
            model = adaptive_model = clf
        else:
            model = DefendedClassifier(clf, parse_defense(defense))
            adaptive_model = DefendedClassifier(clf, parse_defense(defense), adaptive=True, eot_samples=8)
        clean = (model.predict(x) == y).float().mean().item()
        naive = attack.run(model, x, y, seed=0).summary()["robust_accuracy"]
        adaptive = attack.run(adaptive_model, x, y, seed=0).summary()["robust_accuracy"]
        print(f"{defense:<22} {clean:7.4f} {naive:7.4f} {adaptive:9.4f} {time.perf_counter() - started:8.1f}")
    for sigma in (0.12, 0.25):
        started = time.perf_counter()
        n = min(args.certify_n, len(x))
        result = certify_set(clf, x[:n], y[:n], sigma, n0=100, n=1000, alpha=0.001)
        acc = result.curve_certified_accuracy
        radii = torch.tensor(result.radii)
        correct = torch.tensor(result.correct)
        at_025 = ((radii >= 0.25) & correct).float().mean().item()
        nonzero = ((radii > 0) & correct).sum().item() / max(1, correct.sum().item())
        print(f"randomized smoothing sigma={sigma}: certified accuracy {acc[0]:.4f} at r=0, {at_025:.4f} at "
              f"r>=0.25 (L2), non-zero radius for {nonzero:.0%} of correct images, {n} images, "
              f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
