"""Hostile model files, built here: no code from the file runs without the user's trust.

Each hostile file is first shown to run its payload through torch's own loader (so the test would
fail if the file were harmless), then shown to be refused by ours with the payload never run.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from advinspect.core.errors import AdvInspectError, ModelLoadError, UntrustedModelError
from advinspect.core.models import ModelSpec, load_model
from advinspect.core.models.safety import is_io_operator, scan_fx_graphs
from tests.fuzz.model_files import (
    PT2_SLOTS,
    FileWriter,
    pt2_with_graph_edit,
    pt2_with_payload,
    save_export,
    save_torchscript,
    torch_payload,
)

SPEC = ModelSpec(input_shape=(1, 8, 8))
# slots whose payload torch.export.load runs itself (custom_obj_ goes through torch's C++ pickler,
# aotinductor loads a shared library: both refused, neither runs Python from this test's payload)
RUN_BY_TORCH = {"sample_inputs", "pickled_weight", "legacy_weights", "legacy_constants", "tensor_constant",
                "opaque_object", "pre_2_7"}
FINDING = {"pickled_weight": "pickled weight", "legacy_weights": "legacy pickled weights",
           "legacy_constants": "legacy pickled constants", "tensor_constant": "pickled tensor constant",
           "custom_object": "script object", "opaque_object": "Python object constant",
           "pre_2_7": "pre-2.7", "aotinductor": "native code"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return save_export(tmp_path_factory.mktemp("export") / "tiny.pt2")


@pytest.mark.parametrize("slot", sorted(RUN_BY_TORCH))
def test_the_hostile_pt2_files_are_real(exported, tmp_path, slot):
    marker = tmp_path / "ran"
    path = pt2_with_payload(exported, tmp_path / f"{slot}.pt2", slot, marker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.export.load(str(path))
        except Exception:  # noqa: S110 - several slots break the program after the payload ran
            pass
    assert marker.exists(), "torch's own loader should have run this payload"


@pytest.mark.parametrize("slot", PT2_SLOTS)
def test_pt2_payload_never_runs(exported, tmp_path, slot):
    marker = tmp_path / "ran"
    path = pt2_with_payload(exported, tmp_path / f"{slot}.pt2", slot, marker)
    if slot == "sample_inputs":  # never read: the program opens, the payload stays inert
        clf = load_model(path, device="cpu")
        assert clf.num_classes == 3
    else:
        with pytest.raises(UntrustedModelError) as info:
            load_model(path, device="cpu")
        assert info.value.findings, "the error lists what was found, for the GUI to ask"
        assert any(FINDING[slot] in found for found in info.value.findings), info.value.findings
        assert "--trust-pickle" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_trusted_pt2_goes_through_torch(exported, tmp_path):
    marker = tmp_path / "ran"
    path = pt2_with_payload(exported, tmp_path / "sample_inputs.pt2", "sample_inputs", marker)
    clf = load_model(path, device="cpu", trust_pickle=True)
    assert clf.num_classes == 3 and marker.exists()  # consent given: torch's loader, sample inputs and all


def _every_expression(graph, value):
    if isinstance(graph, dict):
        if "expr_str" in graph:
            graph["expr_str"] = value
        for item in graph.values():
            _every_expression(item, value)
    elif isinstance(graph, list):
        for item in graph:
            _every_expression(item, value)


def test_shape_expression_cannot_run_code(exported, tmp_path):
    """torch's deserializer passes shape expressions to sympy.sympify, which evaluates them."""
    marker = tmp_path / "ran"
    code = f"__import__('builtins').exec(\"open({str(marker)!r}, 'w').write('ran')\")"
    path = pt2_with_graph_edit(exported, tmp_path / "expr.pt2", lambda g: _every_expression(g, code))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception):  # noqa: B017,PT011 - torch fails after the payload ran
            torch.export.load(str(path))
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ModelLoadError, match="shape expression"):
        load_model(path, device="cpu")
    assert not marker.exists()


def test_python_function_in_the_graph_is_refused(exported, tmp_path):
    def edit(graph):
        for node in graph["graph_module"]["graph"]["nodes"]:
            if node["target"] == "torch.ops.aten.relu.default":
                node["target"] = "torch.os.system"

    path = pt2_with_graph_edit(exported, tmp_path / "system.pt2", edit)
    with pytest.raises(ModelLoadError, match="system"):
        load_model(path, device="cpu")


def test_fx_scan_names_io_operators_and_python_functions():
    import os

    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    graph.call_function(torch.ops.aten.from_file.default, ("/tmp/f",), {"shared": True, "size": 4})
    graph.call_function(os.system, ("true",))
    graph.output(graph.call_function(torch.ops.aten.relu.default, (x,)))
    found = scan_fx_graphs(torch.fx.GraphModule(torch.nn.Module(), graph))
    assert "aten::from_file" in found
    assert any("system" in item for item in found)
    assert not any("relu" in item for item in found)


def test_io_operator_list_comes_from_the_registry():
    assert is_io_operator("aten::from_file") and is_io_operator("aten::save")
    assert is_io_operator("debugprims::load_tensor")
    for harmless in ("aten::conv2d", "aten::remove", "aten::_dirichlet_grad", "aten::storage_offset", "prim::Print"):
        assert not is_io_operator(harmless), harmless


def test_torchscript_writing_a_file_is_refused_then_trusted(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"hello")
    path = save_torchscript(tmp_path / "writer.ts", FileWriter(str(victim)))
    with pytest.raises(UntrustedModelError, match="aten::from_file") as info:
        load_model(path, SPEC, device="cpu")
    assert info.value.findings == ("aten::from_file",)
    assert victim.read_bytes() == b"hello"
    clf = load_model(path, SPEC, device="cpu", trust_pickle=True)
    assert clf.num_classes == 3
    assert victim.read_bytes() == b"AAAAo"  # trusted: it ran, as the user allowed


class _SetStateWriter(torch.nn.Module):
    """Writes through from_file while being loaded: a scan after torch.jit.load would be too late."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :3]

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        t = torch.from_file(state[0], shared=True, size=4, dtype=torch.uint8)
        t.fill_(66)
        self.path = state[0] + str(int(t[0]))
        self.training = state[1]


def test_torchscript_writing_while_loading_is_refused_before_loading(tmp_path):
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"hello")
    path = save_torchscript(tmp_path / "setstate.ts", _SetStateWriter(str(victim)))
    with pytest.raises(UntrustedModelError, match="aten::from_file"):
        load_model(path, SPEC, device="cpu")
    assert victim.read_bytes() == b"hello"


def test_pickled_module_raises_the_typed_error(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    path.write_bytes(torch_payload(marker))
    with pytest.raises(UntrustedModelError, match="--trust-pickle"):
        load_model(path, SPEC, device="cpu")
    assert not marker.exists()


def test_demo_models_open_without_trust():
    from advinspect.core.data.demo import DEMO_MODEL, DEMO_ONNX

    for path in (DEMO_MODEL, DEMO_ONNX):
        assert load_model(path, device="cpu").num_classes == 10


def test_safe_pt2_reader_matches_torch(exported):
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ours = load_model(exported, device="cpu").logits(x)
    reference = torch.export.load(str(exported)).module()(x)
    assert torch.equal(ours, reference)


def test_sidecar_pointing_at_nothing_is_one_line(exported, tmp_path):
    (tmp_path / "m.pt2.advinspect.json").write_text(json.dumps({"input_shape": "1,8,8"}))
    (tmp_path / "m.pt2").write_bytes(exported.read_bytes())
    with pytest.raises(AdvInspectError) as info:
        load_model(tmp_path / "m.pt2", device="cpu")
    assert "\n" not in str(info.value)


def _edit_torchscript(src, dst, edit):
    from tests.fuzz.model_files import rewrite_zip

    return rewrite_zip(src, dst, edit)


def test_torchscript_with_a_truncated_tensor_record_is_refused_not_a_crash(tmp_path):
    """torch.jit.load accepts it and the first forward reads out of bounds (SIGSEGV in the fuzz)."""
    src = save_torchscript(tmp_path / "tiny.ts")

    def truncate(entries):
        name = max((n for n in entries if "/data/" in n), key=lambda n: n)  # the last record: fc.bias
        entries[name] = b""
        return entries

    path = _edit_torchscript(src, tmp_path / "short.ts", truncate)
    with pytest.raises(ModelLoadError, match="holds 0 bytes"):
        load_model(path, SPEC, device="cpu")


def test_torchscript_tensor_reaching_past_its_storage_is_refused(tmp_path):
    src = save_torchscript(tmp_path / "tiny.ts")

    def widen(entries):
        name = next(n for n in entries if n.endswith("/data.pkl"))
        # the conv weight is (2, 1, 3, 3) on 18 floats: make it claim (2, 1, 3, 30)
        entries[name] = entries[name].replace(b"K\x02K\x01K\x03K\x03t", b"K\x02K\x01K\x03K\x1et", 1)
        return entries

    path = _edit_torchscript(src, tmp_path / "wide.ts", widen)
    with pytest.raises(ModelLoadError, match="reaches element"):
        load_model(path, SPEC, device="cpu")


def test_archive_check_never_runs_the_pickle(tmp_path):
    import pickle

    from tests.fuzz.model_files import Payload

    marker = tmp_path / "ran"
    src = save_torchscript(tmp_path / "tiny.ts")

    def replace(entries):
        name = next(n for n in entries if n.endswith("/data.pkl"))
        entries[name] = pickle.dumps(Payload(marker))
        return entries

    path = _edit_torchscript(src, tmp_path / "payload.ts", replace)
    with pytest.raises(AdvInspectError):
        load_model(path, SPEC, device="cpu")
    assert not marker.exists()


def test_loading_is_quiet_and_one_line(exported, tmp_path, capfd):
    """On this archive (a fake AOTInductor library) torch.export.load logs a 20-line traceback
    before raising; the user gets our one line only, trusted or not."""
    path = pt2_with_payload(exported, tmp_path / "aoti.pt2", "aotinductor", tmp_path / "ran")
    capfd.readouterr()
    with pytest.raises(UntrustedModelError):
        load_model(path, device="cpu")
    with pytest.raises(ModelLoadError) as info:
        load_model(path, device="cpu", trust_pickle=True)
    assert "\n" not in str(info.value) and info.value.__cause__ is not None
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_decompression_bomb_entry_is_refused_before_reading(tmp_path):
    import zipfile

    src = save_torchscript(tmp_path / "tiny.ts")
    path = tmp_path / "bomb.ts"
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name in archive.namelist():
            data = archive.read(name)
            out.writestr(name, data + (b"\0" * (32 << 20) if name.endswith("/data/0") else b""))
    with pytest.raises(ModelLoadError, match="would decompress"):
        load_model(path, SPEC, device="cpu")


def test_torchscript_pickle_declaring_a_huge_string_is_refused_before_torch_allocates_it(tmp_path):
    """A fuzzed .debug_pkl whose string length read 3.6 GB: torch.jit.load allocated 3.4 GB."""
    import resource
    import struct

    src = save_torchscript(tmp_path / "tiny.ts")

    def inflate(entries):
        name = next(n for n in entries if n.endswith(".debug_pkl"))
        data = bytearray(entries[name])
        at = data.index(b"X", 3)  # the first BINUNICODE after the protocol header
        data[at + 1:at + 5] = struct.pack("<I", 0xD6000000)
        entries[name] = bytes(data)
        return entries

    path = _edit_torchscript(src, tmp_path / "huge.ts", inflate)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelLoadError, match="damaged"):
        load_model(path, SPEC, device="cpu")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500 * 1024  # KiB: far below 3.6 GB


def test_torchscript_pickle_with_a_huge_memo_index_is_refused(tmp_path):
    """A fuzzed .debug_pkl with LONG_BINPUT 1043144745: unpicklers grew their memo to 16 GB."""
    import resource
    import struct

    src = save_torchscript(tmp_path / "tiny.ts")

    def memo(entries):
        name = next(n for n in entries if n.endswith(".debug_pkl"))
        data = bytearray(entries[name])
        at = data.index(b"q", 3)  # the first BINPUT
        data[at:at + 2] = b"r" + struct.pack("<I", 1043144745)[:1]
        data[at + 2:at + 2] = struct.pack("<I", 1043144745)[1:]
        entries[name] = bytes(data)
        return entries

    path = _edit_torchscript(src, tmp_path / "memo.ts", memo)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelLoadError, match="memo index 1043144745"):
        load_model(path, SPEC, device="cpu")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500 * 1024  # KiB
