"""Per-sample randomness: every sample draws from its own generator, seeded from (run seed,
global sample index), so a sample's random start is the same whatever batch or shard it lands
in. One generator per run (the old way) hands a sample different numbers when the batch size or
the number of shards changes, and the per-sample rows then differ."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch


def sample_seed(seed: int, index: int) -> int:
    """A 63-bit seed for one sample, mixed (SplitMix64-like) so neighbouring indices and
    neighbouring run seeds give unrelated streams."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


class SampleRandom:
    """Random tensors whose row i comes from sample i's own generator (created on first use,
    so attacks without randomness pay nothing). Draws are made on the CPU and moved to
    `device`: the same numbers on every device and every batch layout."""

    def __init__(self, seed: int, index: Sequence[int] | np.ndarray, device: torch.device | str = "cpu",
                 generators: dict[int, torch.Generator] | None = None) -> None:
        self.seed = int(seed)
        self.index = np.asarray(index, dtype=np.int64)
        self.device = torch.device(device)
        self._generators = {} if generators is None else generators  # by global index, shared with subsets

    def subset(self, rows: torch.Tensor | Sequence[int]) -> SampleRandom:
        """The same streams seen through batch rows `rows` (a restart over the samples still
        robust): row j of a draw continues the stream of batch row rows[j]."""
        picked = self.index[np.asarray(torch.as_tensor(rows).cpu().flatten().tolist(), dtype=np.int64)]
        return SampleRandom(self.seed, picked, self.device, self._generators)

    def _generator(self, row: int) -> torch.Generator:
        key = int(self.index[row])
        gen = self._generators.get(key)
        if gen is None:
            gen = self._generators[key] = torch.Generator().manual_seed(sample_seed(self.seed, key))
        return gen

    def _draw(self, draw: Callable[..., torch.Tensor], shape: Sequence[int],
              rows: torch.Tensor | Sequence[int] | None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        rows_list = list(range(shape[0])) if rows is None else [int(r) for r in torch.as_tensor(rows).flatten().tolist()]
        if len(rows_list) != shape[0]:
            raise ValueError(f"{len(rows_list)} rows for a draw of {shape[0]}")
        if not rows_list:
            return torch.empty(tuple(shape), dtype=dtype, device=self.device)
        parts = [draw(tuple(shape[1:]), generator=self._generator(r)) for r in rows_list]
        return torch.stack(parts).to(self.device)

    def rand(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Uniform [0, 1) of `shape`; row j from the generator of batch row `rows[j]` (default j)."""
        return self._draw(torch.rand, shape, rows)

    def randn(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Standard normal of `shape`, one generator per row as in `rand`."""
        return self._draw(torch.randn, shape, rows)

    def randint(self, low: int, high: int, shape: Sequence[int],
                rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """Integers in [low, high) of `shape` (int64), one generator per row as in `rand`."""
        return self._draw(partial(torch.randint, int(low), int(high)), shape, rows, torch.int64)

    def sign(self, shape: Sequence[int], rows: torch.Tensor | Sequence[int] | None = None) -> torch.Tensor:
        """±1.0 of `shape`, one generator per row as in `rand`."""
        return self.randint(0, 2, shape, rows).float() * 2 - 1
