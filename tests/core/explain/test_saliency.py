"""Saliency through captum: every method on every back end, and Grad-CAM looks where the model does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.errors import AdvInspectError, GradientsUnavailableError
from advinspect.core.explain import METHODS, conv_layers, saliency
from advinspect.core.models import ModelSpec, load_model
from advinspect.core.models.torch_backend import TorchClassifier


class TopLeftOnly(torch.nn.Module):
    """Only the top-left quadrant of the image reaches the convolution (no bias, so features
    elsewhere are zero) and the classifier."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
        mask = torch.zeros(1, 1, 16, 16)
        mask[..., :8, :8] = 1
        self.register_buffer("mask", mask)
        self.fc = torch.nn.Linear(4 * 16 * 16, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x * self.mask)).flatten(1))


SPEC = ModelSpec(input_shape=(1, 16, 16), labels=("a", "b"))


def _quadrant_share(maps: np.ndarray) -> np.ndarray:
    return maps[:, :8, :8].sum((1, 2)) / maps.sum((1, 2))


@pytest.mark.parametrize("as_export", [False, True])
def test_gradcam_peaks_in_the_quadrant_the_model_looks_at(tmp_path, as_export):
    module = TopLeftOnly().eval()
    if as_export:
        path = tmp_path / "quadrant.pt2"
        torch.export.save(torch.export.export(module, (torch.zeros(2, 1, 16, 16),),
                                              dynamic_shapes=({0: torch.export.Dim("n", min=1)},)), path)
        clf = load_model(path, SPEC, device="cpu")
    else:
        clf = TorchClassifier(module, SPEC, torch.device("cpu"))
    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    before = clf.logits_batched(x)
    maps = saliency(clf, x, method="gradcam")
    assert torch.allclose(clf.logits_batched(x), before)  # the inserted hook changes nothing
    peaks = [np.unravel_index(m.argmax(), m.shape) for m in maps]
    assert all(r < 8 and c < 8 for r, c in peaks)
    # a 3x3 convolution sees one pixel past the quadrant's edge; nothing lies beyond that
    assert (maps[:, :9, :9].sum((1, 2)) / maps.sum((1, 2)) > 0.999).all()


@pytest.mark.parametrize("method", ["gradient", "smoothgrad", "integrated_gradients", "occlusion"])
def test_attributions_stay_in_the_quadrant(method):
    clf = TorchClassifier(TopLeftOnly().eval(), SPEC, torch.device("cpu"))
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    maps = saliency(clf, x, method=method, samples=4, ig_steps=8)
    assert maps.shape == (4, 16, 16) and maps.max() == pytest.approx(1.0) and maps.min() >= 0
    # the receptive field of a 3x3 conv reaches one pixel past the quadrant; occlusion windows more
    share = (maps[:, :9, :9].sum((1, 2)) / maps.sum((1, 2))) if method != "occlusion" else _quadrant_share(maps)
    assert (share > (0.99 if method != "occlusion" else 0.6)).all()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_on_the_demo_and_its_onnx(demo_clf, demo_subset, method):
    from advinspect.core.data.demo import DEMO_ONNX

    x = demo_subset[0][:3]
    for clf in (demo_clf, load_model(DEMO_ONNX, device="cpu")):
        maps = saliency(clf, x, method=method, samples=4, ig_steps=8)
        assert maps.shape == (3, 32, 32) and np.isfinite(maps).all() and maps.max() == pytest.approx(1.0)


def test_model_without_gradients_gets_occlusion_only(demo_subset):
    from advinspect.core.data.demo import DEMO_ONNX

    clf = load_model(DEMO_ONNX, device="cpu")
    clf.torch_module = None
    with pytest.raises(GradientsUnavailableError, match="occlusion"):
        saliency(clf, demo_subset[0][:2], method="gradient")
    assert saliency(clf, demo_subset[0][:2], method="occlusion").shape == (2, 32, 32)


def test_layers_are_listed_and_a_chosen_layer_is_used(demo_clf, demo_subset):
    layers = conv_layers(demo_clf)
    assert layers == ["features.0", "features.3"]
    first = saliency(demo_clf, demo_subset[0][:2], method="gradcam", layer="features.0")
    last = saliency(demo_clf, demo_subset[0][:2], method="gradcam")
    assert not np.allclose(first, last)
    with pytest.raises(AdvInspectError, match="no convolution layer"):
        saliency(demo_clf, demo_subset[0][:2], method="gradcam", layer="nope")


def test_target_class_changes_the_map(demo_clf, demo_subset):
    x = demo_subset[0][:1]
    a = saliency(demo_clf, x, target=0, method="gradient")
    b = saliency(demo_clf, x, target=7, method="gradient")
    assert not np.allclose(a, b)
