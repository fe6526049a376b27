"""Architectures for thieves and reference models, and the check that one fits a target.

`cnn` and `mlp` adapt to any input shape (adaptive pooling), so a thief can be trained against a
victim whose architecture is unknown (an ONNX black box). `same` re-initialises a copy of the
target's own torch module; any other name goes to `build_architecture` (torchvision or
`package.module:Class`)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from advinspect.core.errors import AdvInspectError

BUILTIN = ("cnn", "mlp")


class SmallCNN(nn.Module):
    """Two conv blocks, adaptive pooling to 4x4, two dense layers: any (C, H, W) input."""

    def __init__(self, channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width // 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * 16, 64), nn.ReLU(),
                                        nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SmallMLP(nn.Module):
    """Input pooled to at most 16x16, one hidden layer of 128."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(16), nn.Flatten(), nn.Linear(channels * 256, 128), nn.ReLU(),
                                 nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_net(arch: str, input_shape: tuple[int, int, int], num_classes: int, target: Any = None) -> nn.Module:
    """A fresh, untrained module of `arch` for inputs (C, H, W) and `num_classes` outputs, checked
    to fit them (one clear error otherwise, before any training)."""
    name = arch.strip()
    if not name:
        raise AdvInspectError("give an architecture: cnn, mlp, same or package.module:Class")
    if name == "cnn":
        module: nn.Module = SmallCNN(input_shape[0], num_classes)
    elif name == "mlp":
        module = SmallMLP(input_shape[0], num_classes)
    elif name == "same":
        module = _fresh_copy(target)
    else:
        from advinspect.core.models.loader import build_architecture

        module, _ = build_architecture(name, num_classes)
    check_fits(module, name, input_shape, num_classes)
    return module


def _fresh_copy(target: Any) -> nn.Module:
    """The target's own torch module with every layer's parameters re-initialised."""
    module = getattr(target, "module", None)
    if not isinstance(module, nn.Module) or isinstance(module, torch.jit.ScriptModule) \
            or type(module).__name__ == "GraphModule" or not list(module.parameters()):
        raise AdvInspectError("architecture 'same' needs a target loaded as a torch module (a state_dict with "
                              "--arch); give cnn, mlp or package.module:Class instead")
    fresh = copy.deepcopy(module).cpu()
    for layer in fresh.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return fresh


def check_fits(module: nn.Module, name: str, input_shape: tuple[int, int, int], num_classes: int) -> None:
    """One forward pass on two zero images: the output must be (2, num_classes)."""
    shape = tuple(int(d) for d in input_shape)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, *shape))
    except (RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AdvInspectError(f"architecture {name} does not take the victim's input {shape} (C,H,W): {first}") \
            from None
    finally:
        module.train(was_training)
    if tuple(out.shape) != (2, num_classes):
        raise AdvInspectError(f"architecture {name} gives outputs {tuple(out.shape[1:])} for input {shape}; "
                              f"the victim has {num_classes} classes")


def seeded_net(arch: str, input_shape: tuple[int, int, int], num_classes: int, seed: int,
               target: Any = None) -> nn.Module:
    """`build_net` with its initial weights drawn under `seed` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_net(arch, input_shape, num_classes, target)
