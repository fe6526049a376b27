"""Every model format opens from a real file, the spec is settled and checked, bad files say why."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from advinspect.core.errors import ModelLoadError, SpecMismatchError
from advinspect.core.models import ModelSpec, detect_format, load_model, write_sidecar
from advinspect.core.models.spec import read_labels_file, read_sidecar, sidecar_path

X = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))


def _reference(module: torch.nn.Module, x: torch.Tensor = X) -> torch.Tensor:
    with torch.no_grad():
        return module(x)


@pytest.fixture
def files(tmp_path, tiny_module):
    """The tiny CNN saved in every format we read."""
    example = torch.zeros(2, 1, 8, 8)
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths["torchscript"] = tmp_path / "tiny.ts"
        torch.jit.save(torch.jit.trace(tiny_module, example), paths["torchscript"])
        paths["export"] = tmp_path / "tiny.pt2"
        program = torch.export.export(tiny_module, (example,),
                                      dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
        torch.export.save(program, paths["export"])
        paths["onnx"] = tmp_path / "tiny.onnx"
        torch.onnx.export(tiny_module, (example,), paths["onnx"], input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
    paths["state_dict"] = tmp_path / "tiny_sd.pt"
    torch.save(tiny_module.state_dict(), paths["state_dict"])
    paths["pickle"] = tmp_path / "tiny_pickle.pt"
    torch.save(tiny_module, paths["pickle"])
    return paths


@pytest.mark.parametrize("fmt", ["torchscript", "export", "onnx"])
def test_each_format_gives_the_modules_logits(files, tiny_module, fmt):
    path = files[fmt]
    assert detect_format(path) == fmt
    spec = ModelSpec(input_shape=(1, 8, 8)) if fmt == "torchscript" else None
    clf = load_model(path, spec, device="cpu")
    assert clf.format == fmt
    assert clf.num_classes == 3
    assert torch.allclose(clf.logits(X), _reference(tiny_module), atol=1e-4)


def test_format_is_recognised_from_content_not_suffix(files, tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(files["onnx"].read_bytes())
    assert detect_format(renamed) == "onnx"
    renamed.write_bytes(files["export"].read_bytes())
    assert detect_format(renamed) == "export"


def test_export_and_onnx_infer_input_shape(files):
    assert load_model(files["export"], device="cpu").spec.input_shape == (1, 8, 8)
    assert load_model(files["onnx"], device="cpu").spec.input_shape == (1, 8, 8)


def test_torchscript_without_shape_asks_for_it(files):
    with pytest.raises(ModelLoadError, match="--input-shape"):
        load_model(files["torchscript"], device="cpu")


def test_state_dict_needs_architecture_then_loads(files, tiny_module):
    with pytest.raises(ModelLoadError, match="--arch"):
        load_model(files["state_dict"], device="cpu")
    clf = load_model(files["state_dict"], ModelSpec(input_shape=(1, 8, 8)), arch="tests.conftest:TinyCNN",
                     device="cpu")
    assert torch.allclose(clf.logits(X), _reference(tiny_module), atol=1e-6)


def test_state_dict_with_wrong_architecture_names_the_keys(files):
    with pytest.raises(ModelLoadError, match="does not fit|missing"):
        load_model(files["state_dict"], ModelSpec(input_shape=(3, 32, 32)), arch="resnet18", device="cpu")


def test_torchvision_architecture_carries_imagenet_spec(tmp_path):
    import torchvision

    model = torchvision.models.get_model("mobilenet_v3_small", weights=None)
    path = tmp_path / "mnv3.pt"
    torch.save(model.state_dict(), path)
    clf = load_model(path, arch="mobilenet_v3_small", device="cpu")
    assert clf.spec.input_shape == (3, 224, 224)
    assert clf.num_classes == 1000
    assert clf.spec.labels[0] == "tench"  # ImageNet names, offline from torchvision's metadata
    assert clf.spec.mean == pytest.approx((0.485, 0.456, 0.406))


def test_pickle_refused_without_trust_and_loaded_with_it(files, tiny_module):
    with pytest.raises(ModelLoadError, match="--trust-pickle"):
        load_model(files["pickle"], ModelSpec(input_shape=(1, 8, 8)), device="cpu")
    clf = load_model(files["pickle"], ModelSpec(input_shape=(1, 8, 8)), device="cpu", trust_pickle=True)
    assert torch.allclose(clf.logits(X), _reference(tiny_module), atol=1e-6)


def test_spec_mismatch_names_both_shapes(files):
    with pytest.raises(SpecMismatchError, match=r"\(3, 8, 8\).*\(1, 8, 8\)|\(1, 8, 8\).*\(3, 8, 8\)"):
        load_model(files["onnx"], ModelSpec(input_shape=(3, 8, 8)), device="cpu")
    with pytest.raises(SpecMismatchError, match=r"\(2, 1, 16, 16\)"):
        load_model(files["torchscript"], ModelSpec(input_shape=(1, 16, 16)), device="cpu")


def test_labels_must_match_outputs(files):
    with pytest.raises(SpecMismatchError, match="3 outputs.*4 labels"):
        load_model(files["export"], ModelSpec(labels=("a", "b", "c", "d")), device="cpu")


def test_output_must_be_two_dimensional(tmp_path):
    class Bad(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3), keepdim=True)

    path = tmp_path / "bad.pt2"
    torch.export.save(torch.export.export(Bad(), (torch.zeros(2, 1, 8, 8),)), path)
    with pytest.raises(SpecMismatchError, match=r"returns shape \(2, 1, 1, 1\)"):
        load_model(path, device="cpu")


def test_sidecar_is_read_and_flags_override_it(files):
    write_sidecar(files["torchscript"], ModelSpec(input_shape=(1, 8, 8), labels=("x", "y", "z"), mean=(0.5,)))
    clf = load_model(files["torchscript"], device="cpu")
    assert clf.spec.labels == ("x", "y", "z") and clf.spec.mean == (0.5,)
    clf = load_model(files["torchscript"], ModelSpec(labels=("p", "q", "r")), device="cpu")
    assert clf.spec.labels == ("p", "q", "r") and clf.spec.mean == (0.5,)
    assert json.loads(sidecar_path(files["torchscript"]).read_text())["input_shape"] == [1, 8, 8]


def test_normalization_happens_inside_the_classifier(files, tiny_module):
    clf = load_model(files["export"], ModelSpec(mean=(0.5,), std=(0.25,)), device="cpu")
    assert torch.allclose(clf.logits(X), _reference(tiny_module, (X - 0.5) / 0.25), atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"PK\x03\x04garbage", b"\x80\x04garbage"])
def test_corrupt_files_give_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        load_model(path, ModelSpec(input_shape=(1, 8, 8)), device="cpu")
    assert "broken.pt" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nope.onnx")


def test_onnx_has_gradients_through_conversion_matching_torch(files, tiny_module):
    clf = load_model(files["onnx"], device="cpu")
    assert clf.has_gradients
    y = torch.tensor([0, 1, 2, 0, 1])
    reference = load_model(files["export"], device="cpu").gradient(X, y)
    assert torch.allclose(clf.gradient(X, y), reference, atol=1e-5)


def test_onnx_without_conversion_has_no_gradients(files):
    from advinspect.core.errors import GradientsUnavailableError
    from advinspect.core.models.onnx_backend import OnnxClassifier

    clf = OnnxClassifier(files["onnx"], ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c")),
                         torch.device("cpu"), convert=False)
    assert not clf.has_gradients
    assert clf.logits(X).shape == (5, 3)
    with pytest.raises(GradientsUnavailableError):
        clf.gradient(X, torch.zeros(5, dtype=torch.long))


def test_onnx_with_fixed_batch_of_one_runs_any_batch(tmp_path, tiny_module):
    path = tmp_path / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tiny_module, (torch.zeros(1, 1, 8, 8),), path, dynamo=False)
    clf = load_model(path, device="cpu")
    assert clf.fixed_batch == 1
    assert torch.allclose(clf.logits_batched(X), _reference(tiny_module), atol=1e-4)


def test_demo_torch_and_onnx_agree(demo_clf, demo_batch):
    from advinspect.core.data.demo import DEMO_ONNX

    onnx_clf = load_model(DEMO_ONNX, device="cpu")
    difference = (demo_clf.logits_batched(demo_batch.x) - onnx_clf.logits_batched(demo_batch.x)).abs().max()
    assert difference <= 1e-4


def test_device_selection():
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.jobs import select_device

    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(AdvInspectError):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(AdvInspectError, match="CUDA is not available"):
            select_device("cuda:0")


def test_model_spec_validation_and_labels(tmp_path):
    with pytest.raises(ModelLoadError):
        ModelSpec(input_shape=(3, 0, 8))
    with pytest.raises(ModelLoadError, match="3 channels"):
        ModelSpec(input_shape=(3, 8, 8), mean=(0.1, 0.2))
    with pytest.raises(ModelLoadError):
        ModelSpec(value_range=(1, 0))
    spec = ModelSpec(labels=("cat", "dog"))
    assert spec.label_index("dog") == 1 and spec.label_index("0") == 0
    with pytest.raises(ModelLoadError, match="unknown class"):
        spec.label_index("bird")
    (tmp_path / "labels.txt").write_text("cat\ndog\n\n")
    assert read_labels_file(tmp_path / "labels.txt") == ("cat", "dog")
    (tmp_path / "labels.json").write_text('["a", "b"]')
    assert read_labels_file(tmp_path / "labels.json") == ("a", "b")
    assert read_sidecar(tmp_path / "nothing.pt") is None


def test_describe_has_identity(demo_clf):
    info = demo_clf.describe()
    assert info["format"] == "export" and len(info["sha256"]) == 64
    from advinspect.zoo.digits import DigitsCNN

    assert info["parameters"] == sum(p.numel() for p in DigitsCNN().parameters()) == 136_586


def test_onnx_channels_last_layout_is_read_from_the_graph(tmp_path, tiny_module):
    class ChannelsLast(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):  # (N, H, W, C)
            return self.inner(x.permute(0, 3, 1, 2))

    path = tmp_path / "nhwc.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(ChannelsLast(tiny_module), (torch.zeros(2, 8, 8, 1),), path, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
    clf = load_model(path, device="cpu")
    assert clf.layout == "NHWC" and clf.spec.input_shape == (1, 8, 8)
    assert torch.allclose(clf.logits(X), _reference(tiny_module), atol=1e-4)


def test_torchvision_architecture_without_torchvision_says_so(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "sd.pt"
    torch.save({"w": torch.zeros(1)}, path)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    with pytest.raises(ModelLoadError, match="needs torchvision"):
        load_model(path, arch="resnet18", device="cpu")


def test_sidecar_names_the_architecture_of_a_state_dict(tmp_path):
    import shutil

    from advinspect.core.data.demo import DEMO_MODEL
    from advinspect.core.errors import UntrustedModelError

    weights = tmp_path / "digits.pt"
    shutil.copy(DEMO_MODEL.parent / "digits_cnn_state_dict.pt", weights)
    spec = read_sidecar(DEMO_MODEL.parent / "digits_cnn_state_dict.pt")
    write_sidecar(weights, spec, arch="advinspect.zoo.digits:DigitsCNN")
    clf = load_model(weights, device="cpu")  # no --arch: the sidecar says it
    assert clf.format == "state_dict+advinspect.zoo.digits:DigitsCNN"
    assert clf.spec.input_shape == spec.input_shape
    # a sidecar naming another package's class would import code chosen by whoever wrote it
    write_sidecar(weights, spec, arch="collections:OrderedDict")
    with pytest.raises(UntrustedModelError, match="imports code from collections"):
        load_model(weights, device="cpu")
    with pytest.raises(ModelLoadError, match="arch must be"):
        sidecar_path(weights).write_text(json.dumps({**spec.to_dict(), "arch": 3}))
        load_model(weights, device="cpu")
