"""Seeded quick fuzz of model files, sidecars and labels files: every case either opens or ends
in an AdvInspectError (one line for the user); nothing else escapes. The long run by hand is
benchmarks/fuzz_models.py."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tests.fuzz.model_files import (
    base_models,
    labels_cases,
    model_cases,
    run_labels_case,
    run_model_case,
    run_sidecar_case,
    sidecar_cases,
)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    return base_models(tmp_path_factory.mktemp("bases"))


def _assert_none_uncaught(outcomes: Counter, total: int) -> None:
    uncaught = {k: v for k, v in outcomes.items() if k.startswith("UNCAUGHT")}
    assert not uncaught, uncaught
    assert sum(outcomes.values()) == total
    # the fuzz must reach both ends, or it tests nothing
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0, outcomes


def test_mutated_model_files(bases, tmp_path):
    rng = random.Random(11)
    outcomes = Counter(run_model_case(path, kind) for kind, path in model_cases(bases, tmp_path, rng, 160))
    _assert_none_uncaught(outcomes, 160)


def test_mutated_sidecars(bases):
    rng = random.Random(12)
    outcomes = Counter(run_sidecar_case(bases["export"], text) for text in sidecar_cases(rng, 160))
    _assert_none_uncaught(outcomes, 160)


def test_mutated_labels_files(tmp_path):
    rng = random.Random(13)
    outcomes = Counter(run_labels_case(tmp_path, suffix, content) for suffix, content in labels_cases(rng, 80))
    _assert_none_uncaught(outcomes, 80)
