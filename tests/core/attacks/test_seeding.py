"""Per-sample randomness: a sample's numbers depend on (seed, global index) and on its own
earlier draws, never on the batch it lands in; both the CPU generators and the counter-based
hash used on GPUs (exercised here on the CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks.seeding import SampleRandom


def streams(index, counter_based: bool) -> SampleRandom:
    sr = SampleRandom(7, np.asarray(index), "cpu")
    sr.counter_based = counter_based
    return sr


@pytest.mark.parametrize("counter_based", [False, True])
def test_a_sample_draws_the_same_numbers_in_any_batch(counter_based):
    whole = streams(range(10), counter_based)
    first = [whole.rand((10, 3, 4)), whole.randn((10, 5))]
    halves = [streams(range(0, 4), counter_based), streams(range(4, 10), counter_based)]
    parts = [[h.rand((len(h.index), 3, 4)), h.randn((len(h.index), 5))] for h in halves]
    assert torch.equal(first[0], torch.cat([parts[0][0], parts[1][0]]))
    assert torch.equal(first[1], torch.cat([parts[0][1], parts[1][1]]))
    other_seed = SampleRandom(8, np.arange(10), "cpu")
    other_seed.counter_based = counter_based
    assert not torch.equal(first[0], other_seed.rand((10, 3, 4)))


@pytest.mark.parametrize("counter_based", [False, True])
def test_a_subset_continues_each_samples_stream(counter_based):
    a, b = streams(range(6), counter_based), streams(range(6), counter_based)
    a.rand((6, 8))
    b.rand((6, 8))
    rows = torch.tensor([1, 4])
    assert torch.equal(a.subset(rows).rand((2, 8)), b.rand((2, 8), rows=rows))
    assert not torch.equal(a.rand((6, 8))[1], streams(range(6), counter_based).rand((6, 8))[1])  # moved on


def test_the_counter_hash_is_uniform_and_normal_where_it_should_be():
    sr = streams(range(4), True)
    u = sr.rand((4, 50_000))
    z = sr.randn((4, 50_000))
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.005 and abs(float(u.std()) - 12 ** -0.5) < 0.005
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1.0) < 0.01
    assert torch.isfinite(z).all()
    assert abs(float(np.corrcoef(u[0].numpy(), u[1].numpy())[0, 1])) < 0.02  # rows are independent
