"""ONNX files that would allocate gigabytes or read files outside their folder are refused first."""

from __future__ import annotations

import time

import onnx
import pytest
import torch
from onnx.external_data_helper import convert_model_to_external_data

from advinspect.core.errors import ModelLoadError
from advinspect.core.models import load_model
from tests.fuzz.model_files import save_onnx


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    return save_onnx(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def _with_dims(src, dst, dims, which="input"):
    model = onnx.load(str(src))
    value = (model.graph.input if which == "input" else model.graph.output)[0]
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        shape.dim.add().dim_value = d
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize(("dims", "which"), [
    ((1, 1, 24000, 24000), "input"),
    ((1, 1, 2**31, 2**31), "input"),
    ((1, 2**40), "output"),
])
def test_declared_memory_bombs_are_refused_before_allocating(tiny_onnx, tmp_path, dims, which):
    path = _with_dims(tiny_onnx, tmp_path / "bomb.onnx", dims, which)
    started = time.perf_counter()
    with pytest.raises(ModelLoadError, match="values per sample") as info:
        load_model(path, device="cpu")
    assert time.perf_counter() - started < 5
    assert "\n" not in str(info.value)


def _external(tiny_onnx, tmp_path, location):
    model = onnx.load(str(tiny_onnx))
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path))  # writes weights.bin next to it
    if location != "weights.bin":
        model = onnx.load(str(path), load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(model, str(path))
    return path


def test_external_data_next_to_the_model_loads(tiny_onnx, tmp_path):
    clf = load_model(_external(tiny_onnx, tmp_path, "weights.bin"), device="cpu")
    assert clf.logits(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/passwd", "sub/../../weights.bin"])
def test_external_data_outside_the_folder_is_refused(tiny_onnx, tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "weights.bin").write_bytes(b"\0" * 1024)
    with pytest.raises(ModelLoadError, match="outside its folder"):
        load_model(_external(tiny_onnx, folder, location), device="cpu")


def test_external_data_through_a_symlink_out_is_refused(tiny_onnx, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    path = _external(tiny_onnx, folder, "weights.bin")
    outside = tmp_path / "elsewhere.bin"
    (folder / "weights.bin").rename(outside)
    (folder / "weights.bin").symlink_to(outside)
    with pytest.raises(ModelLoadError, match="outside its folder"):
        load_model(path, device="cpu")
