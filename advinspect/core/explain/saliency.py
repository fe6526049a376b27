"""Saliency through captum (well kept; we do not rewrite its methods).

Attribution runs on the pixel-space Classifier (`clf.logits`), so normalization is inside, as
everywhere. Grad-CAM needs a layer to hook: for torch.export programs the convolutions are
inlined graph ops, so an identity module is inserted after the chosen convolution node.
Models without gradients (ONNX that does not convert) get occlusion, which needs only logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError, GradientsUnavailableError
from advinspect.core.models.base import Classifier

METHODS = ("gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion")
GRADIENT_FREE = ("occlusion",)
_CAM_MODULE = "_advinspect_cam"


def _module_of(clf: Classifier) -> torch.nn.Module | None:
    module = getattr(clf, "module", None) or getattr(clf, "torch_module", None)
    return module if isinstance(module, torch.nn.Module) else None


def _conv_nodes(gm: torch.fx.GraphModule) -> list[tuple[str, torch.fx.Node]]:
    conv_ops = {torch.ops.aten.conv2d.default, torch.ops.aten.convolution.default}
    found = []
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in conv_ops:
            stack = node.meta.get("nn_module_stack") or {}
            path = list(stack.values())[-1][0] if stack else node.name
            found.append((str(path), node))
    return found


def conv_layers(clf: Classifier) -> list[str]:
    """Names of the convolution layers Grad-CAM can use, in order (the last one is the default)."""
    module = _module_of(clf)
    if module is None:
        return []
    names = [n for n, m in module.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not names and isinstance(module, torch.fx.GraphModule):
        names = [name for name, _ in _conv_nodes(module)]
    return names


def _cam_layer(clf: Classifier, layer: str | None) -> torch.nn.Module:
    module = _module_of(clf)
    if module is None or isinstance(module, torch.jit.ScriptModule):
        raise AdvInspectError("Grad-CAM needs a PyTorch module with layers to hook; this model "
                              f"({clf.format}) has none: use gradient, smoothgrad or integrated_gradients")
    names = conv_layers(clf)
    if not names:
        raise AdvInspectError("Grad-CAM found no convolution layer in this model")
    name = layer or names[-1]
    if name not in names:
        raise AdvInspectError(f"no convolution layer {name!r}; layers: {', '.join(names)}")
    convs = dict(module.named_modules())
    if isinstance(convs.get(name), torch.nn.Conv2d):
        return convs[name]
    return _insert_identity_after(module, name)


def _insert_identity_after(gm: torch.fx.GraphModule, name: str) -> torch.nn.Module:
    """Hook point for an inlined convolution: an Identity module on the node's output."""
    attr = f"{_CAM_MODULE}_{name.replace('.', '_')}"
    if hasattr(gm, attr):
        return getattr(gm, attr)
    node = dict(_conv_nodes(gm))[name]
    gm.add_submodule(attr, torch.nn.Identity())
    with gm.graph.inserting_after(node):
        hooked = gm.graph.call_module(attr, (node,))
    node.replace_all_uses_with(hooked, delete_user_cb=lambda user: user is not hooked)
    gm.recompile()
    return getattr(gm, attr)


def saliency(clf: Classifier, x: torch.Tensor, target: torch.Tensor | int | None = None, method: str = "gradient",
             *, layer: str | None = None, samples: int = 16, noise: float = 0.1, ig_steps: int = 32,
             internal_batch_size: int = 64, window: int | None = None, seed: int = 0) -> np.ndarray:
    """Attribution maps (N, H, W) >= 0, each scaled to a maximum of 1, for class `target`
    (default: the predicted class). Channels are combined by the absolute sum."""
    from captum.attr import (
        IntegratedGradients,
        LayerAttribution,
        LayerGradCam,
        NoiseTunnel,
        Occlusion,
        Saliency,
    )

    if method not in METHODS:
        raise AdvInspectError(f"unknown saliency method {method!r}; available: {', '.join(METHODS)}")
    if method not in GRADIENT_FREE and not clf.has_gradients:
        raise GradientsUnavailableError(f"{method} needs gradients, which {clf.describe_short()} does not have; "
                                        "use occlusion")
    x = x.to(clf.device).float()
    if target is None:
        target = clf.predict(x)
    elif isinstance(target, int):
        target = torch.full((len(x),), target, dtype=torch.long)
    target = target.to(clf.device)
    forward = clf.logits
    if method not in GRADIENT_FREE:
        x = x.detach().requires_grad_(True)  # captum would set it, with a warning each call
    lo, hi = clf.spec.value_range
    torch.manual_seed(seed)
    if method == "gradient":
        attr = Saliency(forward).attribute(x, target=target, abs=True)
    elif method == "smoothgrad":
        attr = NoiseTunnel(Saliency(forward)).attribute(
            x, target=target, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=internal_batch_size,
            stdevs=noise * (hi - lo), abs=True)
    elif method == "integrated_gradients":
        attr = IntegratedGradients(forward).attribute(
            x, baselines=torch.full_like(x, lo), target=target, n_steps=ig_steps,
            internal_batch_size=internal_batch_size)
    elif method == "gradcam":
        cam = LayerGradCam(forward, _cam_layer(clf, layer)).attribute(x, target=target, relu_attributions=True)
        attr = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")
    else:
        side = window or max(2, min(x.shape[2:]) // 8)
        attr = Occlusion(_no_grad(forward)).attribute(
            x, target=target, sliding_window_shapes=(x.shape[1], side, side),
            strides=(x.shape[1], max(1, side // 2), max(1, side // 2)), baselines=lo,
            perturbations_per_eval=internal_batch_size)
        attr = attr.clamp_min(0)  # evidence for the class: occluding it lowers the score
    maps = attr.detach().abs().sum(1) if method != "gradcam" else attr.detach().clamp_min(0).sum(1)
    peak = maps.flatten(1).max(1).values.clamp_min(1e-12).view(-1, 1, 1)
    return (maps / peak).cpu().numpy().astype(np.float32)


def _no_grad(forward: Any) -> Any:
    def run(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return forward(inputs)

    return run
