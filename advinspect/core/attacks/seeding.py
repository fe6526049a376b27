"""Per-sample randomness: every sample draws from its own generator, seeded from (run seed,
global sample index), so a sample's random start is the same whatever batch or shard it lands
in. One generator per run (the old way) hands a sample different numbers when the batch size or
the number of shards changes, and the per-sample rows then differ."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch


@lru_cache(maxsize=1 << 16)  # the hash streams need a sample's key at every draw (Square: every step)
def sample_seed(seed: int, index: int) -> int:
    """A 63-bit seed for one sample, mixed (SplitMix64-like) so neighbouring indices and
    neighbouring run seeds give unrelated streams."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


_MASK32 = 0xFFFFFFFF


def _mul32(x: torch.Tensor, m: int) -> torch.Tensor:
    """(x * m) mod 2**32 for x < 2**32, in int64 without overflow (16-bit halves of m)."""
    return (x * (m & 0xFFFF) + (((x * (m >> 16)) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash with good avalanche (Wellons' lowbias32)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def counter_uniform(keys: torch.Tensor, counters: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) float32 from a counter-based hash of (per-row 63-bit key, counter): the
    whole batch in a few elementwise kernels, the same numbers on any device (integer
    arithmetic only, then an exact scaling). `keys` (rows,), `counters` (rows, k), int64."""
    k = keys.view(-1, 1)
    h = _mix32((counters & _MASK32) ^ (k & _MASK32))
    h = _mix32(h ^ (counters >> 32) ^ (k >> 32))
    h = _mix32(h ^ 0x9E3779B9)
    return (h >> 8).to(torch.float32) * (1.0 / (1 << 24))


_SMALL_DRAW = 4096  # per-row values up to which the CPU also draws from the hash (one batch call)


class SampleRandom:
    """Random tensors whose row i comes from sample i's own stream, seeded from (run seed,
    global sample index) and continued draw after draw: the same numbers for every batch
    layout and shard count.

    Two kinds of stream, chosen by the draw alone (device and values per row), so a sample
    always meets the same one:
    - a counter-based hash (`counter_uniform`), the whole batch in a few elementwise kernels:
      on a GPU always (per-sample generators there cost a 224x224 PGD-40 run on an H100 an
      eighth of its time, 0.5 s of 3.95 s for 512 images; drawing on the CPU and copying, a
      fifth), and on the CPU for small draws (Square's window positions and signs: a Python
      loop over per-sample generators made it 1.45x slower);
    - a torch generator per sample for large draws on the CPU (random starts of big images),
      where the hash's integer arithmetic is slower than the generator.
    A CPU and a GPU therefore give different random starts."""

    def __init__(self, seed: int, index: Sequence[int] | np.ndarray, device: torch.device | str = "cpu",
                 state: tuple[dict[int, torch.Generator], dict[int, int]] | None = None) -> None:
        self.seed = int(seed)
        self.index = np.asarray(index, dtype=np.int64)
        self.device = torch.device(device)
        # by global index, shared with subsets: CPU generators, and the hash streams' counters
        self._generators, self._offsets = ({}, {}) if state is None else state
        self.counter_based = self.device.type != "cpu"  # the hash for every draw (tests set it on the CPU)

    def subset(self, rows: torch.Tensor | Sequence[int]) -> SampleRandom:
        """The same streams seen through batch rows `rows` (a restart over the samples still
        robust): row j of a draw continues the stream of batch row rows[j]."""
        picked = self.index[np.asarray(torch.as_tensor(rows).cpu().flatten().tolist(), dtype=np.int64)]
        sub = SampleRandom(self.seed, picked, self.device, (self._generators, self._offsets))
        sub.counter_based = self.counter_based
        return sub

    def _generator(self, row: int) -> torch.Generator:
        key = int(self.index[row])
        gen = self._generators.get(key)
        if gen is None:
            gen = self._generators[key] = torch.Generator().manual_seed(sample_seed(self.seed, key))
        return gen

    def _uniform(self, rows_list: list[int], per_row: int, calls: int) -> torch.Tensor:
        """`calls` blocks of `per_row` uniforms per row from the hash streams: (calls, rows, per_row)."""
        keys, offsets = [], []
        for r in rows_list:
            key = int(self.index[r])
            offset = self._offsets.get(key, 0)
            self._offsets[key] = offset + calls * per_row
            keys.append(sample_seed(self.seed, key))
            offsets.append(offset)
        keys_t = torch.tensor(keys, dtype=torch.int64, device=self.device)
        start = torch.tensor(offsets, dtype=torch.int64, device=self.device).view(-1, 1)
        steps = torch.arange(calls * per_row, dtype=torch.int64, device=self.device).view(1, -1)
        u = counter_uniform(keys_t, start + steps)
        return u.view(len(rows_list), calls, per_row).transpose(0, 1)

    def _rows(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None) -> list[int]:
        rows_list = list(range(shape[0])) if rows is None else [int(r) for r in torch.as_tensor(rows).flatten().tolist()]
        if len(rows_list) != shape[0]:
            raise ValueError(f"{len(rows_list)} rows for a draw of {shape[0]}")
        return rows_list

    def _hashed(self, shape: Sequence[int]) -> bool:
        return self.counter_based or int(np.prod(shape[1:], dtype=np.int64)) <= _SMALL_DRAW

    def _draw(self, kind: str, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None) -> torch.Tensor:
        """Uniform ("rand") or standard normal ("randn") floats of `shape`."""
        rows_list = self._rows(shape, rows)
        if not rows_list:
            return torch.empty(tuple(shape), device=self.device)
        if self._hashed(shape):
            per_row = int(np.prod(shape[1:], dtype=np.int64))
            if kind == "rand":
                return self._uniform(rows_list, per_row, 1)[0].reshape(tuple(shape))
            u1, u2 = self._uniform(rows_list, per_row, 2)  # Box-Muller
            radius = torch.sqrt(-2.0 * torch.log1p(-u1))  # 1 - u1 in (0, 1]: no log(0)
            return (radius * torch.cos(2 * math.pi * u2)).reshape(tuple(shape))
        draw = torch.rand if kind == "rand" else torch.randn
        parts = [draw(tuple(shape[1:]), generator=self._generator(r)) for r in rows_list]
        return torch.stack(parts).to(self.device)

    def rand(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Uniform [0, 1) of `shape`; row j from the stream of batch row `rows[j]` (default j)."""
        return self._draw("rand", shape, rows)

    def randn(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Standard normal of `shape`, one stream per row as in `rand`."""
        return self._draw("randn", shape, rows)

    def randint(self, low: int, high: int, shape: Sequence[int],
                rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Integers in [low, high) of `shape` (int64), one stream per row as in `rand`."""
        low, high = int(low), int(high)
        rows_list = self._rows(shape, rows)
        if not rows_list:
            return torch.empty(tuple(shape), dtype=torch.int64, device=self.device)
        if self._hashed(shape):  # 24-bit uniforms: a bias below 2**-24 * (high - low)
            u = self._draw("rand", shape, rows)
            return (low + (u.double() * (high - low)).floor().long()).clamp_(max=high - 1)
        parts = [torch.randint(low, high, tuple(shape[1:]), generator=self._generator(r)) for r in rows_list]
        return torch.stack(parts).to(self.device)

    def sign(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """±1.0 of `shape`, one stream per row as in `rand`."""
        return self.randint(0, 2, shape, rows).float() * 2 - 1
