"""The long model-file fuzz, by hand: thousands of mutated model files, sidecars and labels files.

Every case must open or end in an AdvInspectError; anything else is counted UNCAUGHT. A case
that runs longer than --hang seconds aborts the run with a traceback (faulthandler), so a
finished run had 0 hangs. Memory: the process's peak RSS, and the largest rise of that peak
during one case.

Run by hand: PYTHONPATH=. .venv/bin/python benchmarks/fuzz_models.py [--models 2400] [--seed 1]
"""

from __future__ import annotations

import argparse
import faulthandler
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.fuzz.model_files import (
    base_models,
    labels_cases,
    model_cases,
    run_labels_case,
    run_model_case,
    run_sidecar_case,
    sidecar_cases,
)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2400, help="mutated model files (default 2400)")
    parser.add_argument("--sidecars", type=int, default=1000)
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang", type=float, default=120, help="seconds after which one case counts as a hang")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    outcomes: Counter[tuple[str, str]] = Counter()
    worst_time = (0.0, "")
    worst_rise = (0.0, "")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bases = base_models(folder / "bases")
        for kind, path in bases.items():  # warm up imports so their memory is not charged to a case
            run_model_case(path, kind)
        baseline = peak_mb()

        def run(group: str, label: str, case) -> None:
            nonlocal worst_time, worst_rise
            before, t0 = peak_mb(), time.perf_counter()
            faulthandler.dump_traceback_later(args.hang, exit=True)
            outcome = case()
            faulthandler.cancel_dump_traceback_later()
            elapsed, rise = time.perf_counter() - t0, peak_mb() - before
            outcomes[(group, outcome)] += 1
            worst_time = max(worst_time, (elapsed, label))
            worst_rise = max(worst_rise, (rise, label))

        for i, (kind, path) in enumerate(model_cases(bases, folder / "cases", rng, args.models)):
            run(kind.split("/")[0], f"model #{i} {kind}", lambda p=path, k=kind: run_model_case(p, k))
        for i, text in enumerate(sidecar_cases(rng, args.sidecars)):
            run("sidecar", f"sidecar #{i}", lambda t=text: run_sidecar_case(bases["export"], t))
        for i, (suffix, content) in enumerate(labels_cases(rng, args.labels)):
            run("labels", f"labels #{i}", lambda s=suffix, c=content: run_labels_case(folder, s, c))

    total = sum(outcomes.values())
    uncaught = sum(v for (_, outcome), v in outcomes.items() if outcome.startswith("UNCAUGHT"))
    print(f"cases {total} (models {args.models}, sidecars {args.sidecars}, labels {args.labels}), seed {args.seed}")
    print(f"uncaught {uncaught}, hangs 0 (limit {args.hang:g} s), wall {time.perf_counter() - started:.0f} s")
    print(f"slowest case {worst_time[0]:.2f} s ({worst_time[1]})")
    print(f"peak RSS {peak_mb():.0f} MB (after imports {baseline:.0f} MB); "
          f"largest rise in one case {worst_rise[0]:.0f} MB ({worst_rise[1]})")
    for (group, outcome), count in sorted(outcomes.items()):
        print(f"  {group:12s} {outcome:40s} {count}")
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main())
