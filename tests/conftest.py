"""Shared fixtures. Qt runs offscreen; faulthandler shows where a crash happened."""

from __future__ import annotations

import faulthandler
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
faulthandler.enable()

import pytest  # noqa: E402
import torch  # noqa: E402

from advinspect.core.models import ModelSpec  # noqa: E402
from advinspect.core.models.torch_backend import TorchClassifier  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"


class TinyCNN(torch.nn.Module):
    """2-layer CNN on 8x8 inputs: attacks on it run in milliseconds."""

    def __init__(self, channels: int = 1, classes: int = 3) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture
def tiny_module() -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def tiny_spec() -> ModelSpec:
    return ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))


@pytest.fixture
def tiny_clf(tiny_module: torch.nn.Module, tiny_spec: ModelSpec) -> TorchClassifier:
    return TorchClassifier(tiny_module, tiny_spec, torch.device("cpu"))


@pytest.fixture
def tiny_batch() -> torch.Tensor:
    return torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def demo_clf():
    """The shipped demo model (digits CNN, torch.export)."""
    from advinspect.core.data.demo import DEMO_MODEL
    from advinspect.core.models import load_model

    return load_model(DEMO_MODEL, device="cpu")


@pytest.fixture(scope="session")
def demo_batch(demo_clf):
    """All 450 demo test images with labels."""
    from advinspect.core.data import collect_images, load_images
    from advinspect.core.data.demo import DEMO_SAMPLES

    return load_images(collect_images([DEMO_SAMPLES], demo_clf.spec), demo_clf.spec)


@pytest.fixture(scope="session")
def demo_subset(demo_batch):
    """A stratified 100-image subset (every 4th/5th image): enough for oracle comparisons."""
    idx = torch.arange(0, len(demo_batch.x), 4)[:100]
    return demo_batch.x[idx], demo_batch.labels[idx]
