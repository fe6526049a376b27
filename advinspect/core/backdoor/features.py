"""A layer's features for a batch, for torch models: plain modules (forward hooks) and
torch.export programs (an fx Interpreter records node outputs: their layers are graph nodes).

Outputs are cloned as they are produced: an in-place ReLU after a hooked layer would otherwise
overwrite what was recorded (captum #156). TorchScript hides its layers from both routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError

_SKIP_OPS = ("placeholder", "output", "get_attr")


class LayerError(AdvInspectError):
    """A layer that does not exist, or a model whose layers cannot be read."""


def _module(clf: Any) -> torch.nn.Module:
    module = getattr(clf, "module", None)
    if not isinstance(module, torch.nn.Module):
        raise LayerError("reading a layer's features needs a PyTorch model (torch.export .pt2, or a state_dict "
                         "with its architecture); this model has no layers to read")
    if isinstance(module, torch.jit.ScriptModule):
        raise LayerError("a TorchScript model hides its layers: give the model as torch.export .pt2 or as a "
                         "state_dict with --arch")
    return module


def layer_names(clf: Any) -> list[str]:
    """The layers whose outputs can be read, in forward order (graph nodes or leaf modules)."""
    module = _module(clf)
    if isinstance(module, torch.fx.GraphModule):
        return [n.name for n in module.graph.nodes if n.op not in _SKIP_OPS and not str(n.target).startswith("_guards")]
    return [name for name, m in module.named_modules() if name and not list(m.children())]


def default_layer(clf: Any) -> str:
    """The penultimate layer: the input of the last layer (the one the field usually picks)."""
    names = layer_names(clf)
    if len(names) < 2:
        raise LayerError("the model has fewer than two layers to choose from")
    return names[-2]


def check_layers(clf: Any, layers: Sequence[str]) -> list[str]:
    names = layer_names(clf)
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise LayerError(f"no layer {', '.join(map(repr, unknown))}; layers: {', '.join(names)}")
    return list(layers)


def extract_features(clf: Any, x: torch.Tensor, layers: Sequence[str], batch_size: int = 256,
                     cancel: Any = None) -> dict[str, np.ndarray]:
    """{layer: (N, D) float32} for pixel-space `x`, batched, in eval mode without gradients."""
    check_layers(clf, layers)
    module = _module(clf)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for i in range(0, len(x), batch_size):
        if cancel is not None and cancel.cancelled:
            break
        batch = clf.normalize(x[i:i + batch_size].to(clf.device, dtype=torch.float32))
        with torch.no_grad():
            outputs = _run(module, batch, set(layers))
        for name in layers:
            parts[name].append(outputs[name].reshape(len(batch), -1).float().cpu().numpy())
    return {name: np.concatenate(p) if p else np.zeros((0, 0), np.float32) for name, p in parts.items()}


def _run(module: torch.nn.Module, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
    store: dict[str, torch.Tensor] = {}
    if isinstance(module, torch.fx.GraphModule):
        class Recorder(torch.fx.Interpreter):
            def run_node(self, node: torch.fx.Node) -> Any:
                out = super().run_node(node)
                if node.name in wanted:
                    store[node.name] = out.detach().clone()
                return out

        Recorder(module).run(x)
        return store
    handles = []
    for name, layer in module.named_modules():
        if name in wanted:
            handles.append(layer.register_forward_hook(
                lambda _m, _i, out, name=name: store.__setitem__(name, out.detach().clone())))
    try:
        module(x)
    finally:
        for handle in handles:
            handle.remove()
    return store
