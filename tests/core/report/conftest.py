"""A real attack run on a handful of demo images, saved as results.json + PNGs, for the report
tests (module-scoped: the attack runs once)."""

from __future__ import annotations

import pytest

N_IMAGES = 7


@pytest.fixture(scope="session")
def attack_run(demo_clf, tmp_path_factory):
    """PGD (eps 0.1, 5 steps) on 7 demo images of different classes; returns (results, run folder)."""
    from advinspect.core.attacks import get_attack
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.data.demo import DEMO_SAMPLES
    from advinspect.core.report.results import attack_results, write_attack_outputs

    items = collect_images([DEMO_SAMPLES], demo_clf.spec)[::64][:N_IMAGES]
    batch = load_images(items, demo_clf.spec)
    result = get_attack("pgd").from_values({"eps": 0.1, "steps": 5}).run(demo_clf, batch.x, batch.labels, seed=0)
    results = attack_results(result, batch.items, demo_clf, "advinspect attack demo --attack pgd", x=batch.x)
    run = tmp_path_factory.mktemp("run")
    write_attack_outputs(run, result, batch.items, demo_clf, results=results)
    return results, run
