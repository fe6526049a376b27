"""A tiny overfit target for the privacy tests: 3 classes of 8x8 noisy images, 30 members and 30
non-members (10 per class each), an MLP trained until it memorises its members."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.tasks.base import Images


def tiny_privacy_data(n: int = 60, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    y = np.arange(n) % 3
    centers = torch.rand(3, 1, 8, 8, generator=g)
    x = (0.5 * centers[torch.as_tensor(y)] + 0.5 * torch.rand(n, 1, 8, 8, generator=g)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="session")
def privacy_split() -> tuple[Images, Images]:
    x, y = tiny_privacy_data()
    return (Images(x[:30].numpy(), y[:30], [f"m{i}.png" for i in range(30)]),
            Images(x[30:].numpy(), y[30:], [f"n{i}.png" for i in range(30)]))


@pytest.fixture(scope="session")
def overfit_target(privacy_split):
    """The MLP trained on the members only (60 epochs, no regularisation): it memorises them."""
    from advinspect.core.defenses.training import TrainingConfig, train_defense
    from advinspect.core.models import ModelSpec
    from advinspect.core.privacy.nets import seeded_net

    members = privacy_split[0]
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))
    config = TrainingConfig(epochs=60, val_fraction=0.0, keep_best=False, lr=3e-3, batch_size=16, device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # see one_thread
    try:
        trained = train_defense(config, members.tensor(), members.labels_tensor(), spec,
                                seeded_net("mlp", (1, 8, 8), 3, 0))
    finally:
        torch.set_num_threads(before)
    return trained.classifier("cpu")


class BlackBox:
    """A victim that only answers `logits` (no gradients), like an ONNX model served remotely."""

    has_gradients = False

    def __init__(self, clf) -> None:
        self.clf, self.spec, self.num_classes, self.device = clf, clf.spec, clf.num_classes, clf.device
        self.calls = 0

    def logits(self, x):
        self.calls += len(x)
        with torch.no_grad():
            return self.clf.logits(x)

    def logits_batched(self, x, batch_size: int = 256):
        return torch.cat([self.logits(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def predict(self, x, batch_size: int = 256):
        return self.logits_batched(x, batch_size).argmax(1)

    def describe_short(self) -> str:
        return "black box"

    def gradient(self, *args, **kwargs):
        raise AssertionError("the victim's gradients must never be used")


@pytest.fixture(scope="module", autouse=False)
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the threads
    of parallel sessions fight each other (a 10x slowdown measured): one thread while a module runs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
