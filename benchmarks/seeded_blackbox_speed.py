"""Wall time of Square, HopSkipJump and one-pixel on the demo digits: what drawing every random
number from a per-sample stream (run seed, global index) costs. Run it on this checkout and on
an older one (PYTHONPATH) to compare; prints seconds and success rates, asserts nothing.

    .venv/bin/python benchmarks/seeded_blackbox_speed.py [--n 200]
"""

from __future__ import annotations

import argparse
import time

import torch

from advinspect.core.attacks import get_attack
from advinspect.core.data import collect_images, load_images
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from advinspect.core.models import load_model

ATTACKS = [
    ("square", {"eps": 0.1, "n_queries": 300}),
    ("square", {"eps": 1.5, "n_queries": 300, "norm": "l2"}),
    ("hopskipjump", {"max_queries": 1000, "max_iter": 10}),
    ("onepixel", {"pixels": 3, "popsize": 50, "max_iter": 30}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    clf = load_model(DEMO_MODEL, device="cpu")
    batch = load_images(collect_images([DEMO_SAMPLES], clf.spec)[: args.n], clf.spec)
    for name, values in ATTACKS:
        attack = get_attack(name).from_values(values)
        started = time.perf_counter()
        result = attack.run(clf, batch.x, batch.labels, seed=0)
        seconds = time.perf_counter() - started
        print(f"{name} {values}: {seconds:.1f} s for {args.n} images, success {result.success.mean():.3f}")


if __name__ == "__main__":
    main()
