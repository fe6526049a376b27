"""Models that output probabilities (a final Softmax): detected on open, attacked through their
log-probabilities, and their confidences reported as the model's own.

The ONNX model is the common export: NHWC input, per-channel mean/std in the sidecar, a dynamic
batch, a final Softmax node. The same network without the Softmax gives the reference figures.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.models import ModelSpec, load_model, write_sidecar
from advinspect.core.models.base import looks_like_probabilities
from advinspect.core.models.torch_backend import TorchClassifier

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LABELS = tuple("abcdef")


class NHWCNet(torch.nn.Module):
    """A small CNN taking NHWC input; `softmax` appends the final Softmax of many exports."""

    def __init__(self, softmax: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 8 * 8, len(LABELS))
        self.softmax = softmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(torch.relu(self.conv(x.permute(0, 3, 1, 2))).flatten(1)) * 30
        return z.softmax(1) if self.softmax else z


def _export(tmp_path, softmax: bool):
    path = tmp_path / f"net_{'prob' if softmax else 'logits'}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(NHWCNet(softmax).eval(), (torch.zeros(2, 8, 8, 3),), path,
                          input_names=["image"], dynamic_axes={"image": {0: "batch"}},
                          opset_version=17, dynamo=False)
    write_sidecar(path, ModelSpec(input_shape=(3, 8, 8), mean=MEAN, std=STD, labels=LABELS))
    return load_model(path, device="cpu")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prob")
    return _export(tmp, softmax=False), _export(tmp, softmax=True)


@pytest.fixture(scope="module")
def images():
    return torch.rand(48, 3, 8, 8, generator=torch.Generator().manual_seed(5))


def test_detected_and_described(pair) -> None:
    logits_model, prob_model = pair
    assert prob_model.layout == "NHWC" and prob_model.final_softmax
    assert prob_model.has_gradients and prob_model._log_softmax_swapped
    assert prob_model.outputs_probabilities and not logits_model.outputs_probabilities
    assert prob_model.describe()["outputs"].startswith("probabilities")
    assert logits_model.describe()["outputs"] == "logits"


def test_log_probabilities_are_logits_up_to_a_constant(pair, images) -> None:
    logits_model, prob_model = pair
    z = logits_model.logits_batched(images)
    lp = prob_model.logits_batched(images)
    np.testing.assert_allclose((lp - z.log_softmax(1)).numpy(), 0, atol=1e-4)
    with torch.enable_grad():  # the differentiable path (converted graph) agrees
        lp_grad_path = prob_model.logits(images[:4])
    np.testing.assert_allclose(lp_grad_path.detach().numpy(), lp[:4].numpy(), atol=1e-4)


def test_confidence_is_the_models_own_probability(pair, images) -> None:
    logits_model, prob_model = pair
    normalized = (images - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    own = prob_model.session.run(None, {"image": normalized.permute(0, 2, 3, 1).numpy()})[0]
    np.testing.assert_allclose(prob_model.probabilities(images).numpy(), own, atol=1e-5)
    result = get_attack("fgsm").from_values({"eps": 0.01}).run(prob_model, images)
    np.testing.assert_allclose(result.clean_confidence, own.max(1), atol=1e-5)


@pytest.mark.parametrize("name, values", [("deepfool", {}),
                                          ("cw", {"binary_search_steps": 3, "steps": 50})])
def test_minimal_attacks_match_the_logits_model(pair, images, name, values) -> None:
    logits_model, prob_model = pair
    y = logits_model.predict(images)
    attack = get_attack(name).from_values(values)
    on_logits = attack.run(logits_model, images, y).summary()
    on_probs = attack.run(prob_model, images, y).summary()
    assert on_logits["success_rate"] == 1.0
    assert on_probs["success_rate"] >= 0.95 * on_logits["success_rate"]
    assert on_probs["median_l2"] == pytest.approx(on_logits["median_l2"], rel=0.05)


def test_torch_module_ending_in_softmax_is_probed() -> None:
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3), torch.nn.Softmax(1))
    spec = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))
    clf = TorchClassifier(module.eval(), spec, torch.device("cpu"))
    x = torch.rand(5, 1, 8, 8)
    assert clf.outputs_probabilities
    np.testing.assert_allclose(clf.probabilities(x).numpy(), module(x).detach().numpy(), atol=1e-6)


def test_probability_rule() -> None:
    assert looks_like_probabilities(torch.tensor([[0.2, 0.8], [1.0, 0.0]]))
    assert not looks_like_probabilities(torch.tensor([[0.2, 0.7], [1.0, 0.0]]))  # a row sums to 0.9
    assert not looks_like_probabilities(torch.tensor([[-0.1, 1.1]]))
    assert not looks_like_probabilities(torch.tensor([[1.0]]))  # one class: nothing to tell
    assert not looks_like_probabilities(torch.tensor([[float("nan"), 1.0]]))
