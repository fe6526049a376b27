"""Square, HopSkipJump and the one-pixel attack draw every random number from (run seed, global
sample index): a sample's adversarial is the same for any batch size and any split of the data
set into shards (index slices, as `core/shard.py` hands them out).

The model scores one image at a time, so its logits are bit-for-bit the same whatever batch an
image sits in (a convolution's float rounding may change with the batch size on some back ends);
any difference left is then the attacks' own randomness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier
from tests.conftest import TinyCNN

CASES = {
    "square-linf": ("square", {"eps": 0.1, "n_queries": 20}),
    "square-l2": ("square", {"eps": 1.0, "n_queries": 20, "norm": "l2"}),
    "hopskipjump-l2": ("hopskipjump", {"max_queries": 150, "max_iter": 3, "init_evals": 10, "init_tries": 5}),
    "hopskipjump-linf": ("hopskipjump", {"max_queries": 100, "max_iter": 2, "init_evals": 10, "norm": "linf",
                                         "init_tries": 5}),
    "onepixel": ("onepixel", {"pixels": 2, "popsize": 12, "max_iter": 6}),
}
N = 23  # odd, so every split leaves ragged batches and shards


class OneAtATime(torch.nn.Module):
    """Scores each image on its own: logits that cannot depend on the batch."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.inner(x[i : i + 1]) for i in range(len(x))])


@pytest.fixture(scope="module")
def clf() -> TorchClassifier:
    torch.manual_seed(0)
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))
    return TorchClassifier(OneAtATime(TinyCNN().eval()), spec, torch.device("cpu"))


@pytest.fixture(scope="module")
def images(clf):
    x = torch.rand(N, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    return x, clf.logits_batched(x).argmax(1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rows_do_not_depend_on_batch_size_or_shards(clf, images, case):
    name, values = CASES[case]
    attack = get_attack(name).from_values(values)
    x, y = images
    whole = attack.run(clf, x, y, seed=3, batch_size=64)
    small = attack.run(clf, x, y, seed=3, batch_size=7)
    cut = 10  # two shards: indices 0..9 and 10..22, each attacked on its own
    first = attack.run(clf, x[:cut], y[:cut], seed=3, batch_size=4, index=np.arange(cut))
    second = attack.run(clf, x[cut:], y[cut:], seed=3, batch_size=64, index=np.arange(cut, N))
    assert 0 < whole.success.sum() < N  # some samples kept drawing to the end, some stopped early
    assert np.array_equal(whole.x_adv, small.x_adv)
    assert np.array_equal(whole.x_adv, np.concatenate([first.x_adv, second.x_adv]))
    assert np.array_equal(whole.queries, small.queries)
    assert np.array_equal(whole.queries, np.concatenate([first.queries, second.queries]))


@pytest.mark.parametrize("case", ["square-linf", "hopskipjump-l2", "onepixel"])
def test_the_seed_and_the_index_change_the_draws(clf, images, case):
    name, values = CASES[case]
    attack = get_attack(name).from_values(values)
    x, y = images
    base = attack.run(clf, x, y, seed=3)
    other_seed = attack.run(clf, x, y, seed=4)
    shifted = attack.run(clf, x, y, seed=3, index=np.arange(100, 100 + N))
    assert not np.array_equal(base.x_adv, other_seed.x_adv)
    assert not np.array_equal(base.x_adv, shifted.x_adv)
