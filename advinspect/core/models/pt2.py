"""Read a torch.export `.pt2` archive without ever unpickling.

`torch.export.load` unpickles from several places in the archive (the sample inputs, a weight or
tensor constant marked `use_pickle`, the legacy `data/weights/<model>.pt` and
`data/constants/<model>.pt`, script/opaque object constants, the whole pre-2.7 layout) and loads
AOTInductor shared libraries: any of them runs code from the file. Here the archive is inspected
first (`inspect_pt2` lists every such payload), and an archive without them is rebuilt from its
JSON graph and raw tensor records only (`load_pt2_safely`); the sample inputs are never read.
Two more ways the JSON could run code are closed before torch sees it: symbolic-shape expressions
go through `sympy.sympify` (an `eval`), so only arithmetic on shape symbols is accepted, and stack
traces are dropped because FX copies them into the generated Python source.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advinspect.core.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

MODEL = "model"  # the program torch.export.load returns
MAX_JSON_BYTES = 256 << 20
MAX_RECORD_BYTES = 8 << 30

_LEGACY_PRE_27 = ("serialized_state_dict.pt", "serialized_constants.pt", "serialized_example_inputs.pt")
_SAFE_EXPR = re.compile(r"^[\sA-Za-z0-9_+\-*/%(),.<>=!&|~^]*$")
_TOKEN = re.compile(r"\d+\.?\d*(?:e[+-]?\d+)?|[A-Za-z_]\w*")
# sympy functions torch's deserializer and shape guards use; everything else must be a symbol (s0, u3...)
_SYMPY_NAMES = frozenset(
    "FloorDiv ModularIndexing Where PythonMod Mod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift "
    "PowByNatural FloatPow FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt "
    "RoundToInt RoundDecimal ToFloat Identity Max Min Abs Eq Ne Lt Le Gt Ge And Or Not oo zoo nan "
    "floor ceiling sqrt Integer Rational Float True False Piecewise Pow Mul Add".split()
)
_SYMBOL = re.compile(r"^[a-z]+[0-9]+$")
# how torch writes a symbol with its assumptions: Symbol('s77', positive=True, integer=True)
_SYMBOL_CALL = re.compile(r"Symbol\('([a-z]+[0-9]+)'(?:,\s*[a-z_]+=(?:True|False))*\)")


def archive_root(names: list[str]) -> str | None:
    """The folder prefix of a .pt2 archive ("name/"), or None when it is not the 2.7+ layout."""
    for name in names:
        if name.endswith("/archive_format") and name.count("/") == 1:
            return name[: -len("archive_format")]
    return None


def inspect_pt2(archive: zipfile.ZipFile) -> list[str]:
    """Every payload in the archive that would run code when torch.export.load reads it."""
    names = archive.namelist()
    root = archive_root(names)
    found: list[str] = []
    if root is None:
        if any(n.rsplit("/", 1)[-1] in _LEGACY_PRE_27 for n in names):
            found.append("pre-2.7 archive layout (pickled weights, constants and inputs)")
        return found
    relative = [n[len(root):] for n in names if n.startswith(root)]
    for name in relative:
        if name.startswith("data/aotinductor/") and not name.endswith("/"):
            found.append("AOTInductor native code (data/aotinductor/)")
            break
    for name in relative:
        if re.fullmatch(r"data/weights/[^/]+\.pt", name):
            found.append(f"legacy pickled weights ({name})")
        elif re.fullmatch(r"data/constants/[^/]+\.pt", name):
            found.append(f"legacy pickled constants ({name})")
        elif name.endswith("_weights_config.json") or name.endswith("_constants_config.json"):
            config = _read_payload_config(archive, root + name)
            for fqn, meta in config.items():
                path_name = str(meta.get("path_name", ""))
                if path_name.startswith("custom_obj_"):
                    found.append(f"pickled script object constant {fqn}")
                elif path_name.startswith("opaque_obj_"):
                    found.append(f"pickled Python object constant {fqn}")
                elif meta.get("use_pickle"):
                    found.append(f"pickled {'weight' if 'weights' in name else 'tensor constant'} {fqn}")
    return found


def _read_json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelLoadError(f"the archive has no {name}") from None
    if info.file_size > MAX_JSON_BYTES:
        raise ModelLoadError(f"{name} in the archive is {info.file_size} bytes, too large for a graph")
    try:
        return json.loads(archive.read(info).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{name} in the archive is not valid JSON: {exc}") from exc


def _read_payload_config(archive: zipfile.ZipFile, name: str) -> dict[str, dict[str, Any]]:
    data = _read_json(archive, name)
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict) or not all(isinstance(v, dict) for v in config.values()):
        raise ModelLoadError(f"{name} in the archive is not a payload config")
    return config


def load_pt2_safely(archive: zipfile.ZipFile) -> Any:
    """The archive's ExportedProgram, built from JSON and raw tensors only (call `inspect_pt2` first:
    pickled payloads are refused here too, as a second line)."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

    root = archive_root(archive.namelist())
    if root is None:
        raise ModelLoadError("not a torch.export archive of the current layout (no archive_format)")
    version = archive.read(root + "archive_version").decode("utf-8", errors="replace").strip()
    if version != "0":
        raise ModelLoadError(f"unsupported .pt2 archive version {version!r}")
    program_json = _read_json(archive, f"{root}models/{MODEL}.json")
    if not isinstance(program_json, dict):
        raise ModelLoadError("the archive's graph is not a JSON object")
    _make_inert(program_json)
    state_dict = _load_tensors(archive, root, "weights", f"data/weights/{MODEL}_weights_config.json")
    constants = _load_tensors(archive, root, "constants", f"data/constants/{MODEL}_constants_config.json")
    serialized = _dict_to_dataclass(schema.ExportedProgram, program_json)
    return ExportedProgramDeserializer(None).deserialize(serialized, state_dict, constants, None)


def _make_inert(node: Any) -> None:
    """Drop stack traces (copied into generated source) and refuse non-arithmetic shape expressions."""
    if isinstance(node, dict):
        node.pop("stack_trace", None)
        expr = node.get("expr_str")
        if expr is not None:
            check_shape_expression(expr)
        for value in node.values():
            _make_inert(value)
    elif isinstance(node, list):
        for value in node:
            _make_inert(value)


def check_shape_expression(expr: Any) -> None:
    """A symbolic-shape expression is arithmetic on shape symbols, or the file is refused."""
    plain = _SYMBOL_CALL.sub(r" \1 ", expr) if isinstance(expr, str) else ""
    if not isinstance(expr, str) or len(expr) > 10_000 or not _SAFE_EXPR.match(plain) or "__" in plain:
        raise ModelLoadError(f"the graph holds a shape expression that is not arithmetic: {str(expr)[:60]!r}")
    for name in (t for t in _TOKEN.findall(plain) if not t[0].isdigit()):
        if name not in _SYMPY_NAMES and not _SYMBOL.match(name):
            raise ModelLoadError(f"the graph's shape expression uses an unknown name {name!r}")


def _load_tensors(archive: zipfile.ZipFile, root: str, kind: str, config_name: str) -> dict[str, torch.Tensor]:
    import torch
    from torch._export.serde import schema
    from torch._export.serde.serialize import (
        _dict_to_dataclass,
        deserialize_scalar_type,
        deserialize_size,
        deserialize_storage_offset,
        deserialize_stride,
    )

    if root + config_name not in archive.namelist():
        raise ModelLoadError(f"the archive has no {config_name}")
    flat: dict[str, torch.Tensor] = {}
    result: dict[str, torch.Tensor] = {}
    for fqn, meta in _read_payload_config(archive, root + config_name).items():
        path_name = meta.get("path_name")
        tensor_meta = meta.get("tensor_meta")
        if meta.get("use_pickle") or not isinstance(path_name, str) or not isinstance(tensor_meta, dict):
            raise ModelLoadError(f"{kind} entry {fqn} is not a plain tensor")
        if not path_name.startswith(("weight_", "tensor_")) or "/" in path_name:
            raise ModelLoadError(f"{kind} entry {fqn} has an unexpected record name {path_name!r}")
        tmeta = _dict_to_dataclass(schema.TensorMeta, tensor_meta)
        dtype = deserialize_scalar_type(tmeta.dtype)
        size = deserialize_size(tmeta.sizes)
        if path_name not in flat:
            flat[path_name] = _read_record(archive, f"{root}data/{kind}/{path_name}", dtype, size)
        tensor = torch.as_strided(
            flat[path_name],
            size=size,
            stride=deserialize_stride(tmeta.strides),
            storage_offset=deserialize_storage_offset(tmeta.storage_offset),
        )
        if meta.get("is_param"):
            tensor = torch.nn.Parameter(tensor, requires_grad=bool(tmeta.requires_grad))
        result[fqn] = tensor
    return result


def _read_record(archive: zipfile.ZipFile, name: str, dtype: torch.dtype, size: Any) -> torch.Tensor:
    """A flat tensor from a stored record; an empty record stands for zeros of the declared size."""
    import math

    import torch

    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ModelLoadError(f"the archive has no tensor record {name}") from None
    if info.file_size > MAX_RECORD_BYTES:
        raise ModelLoadError(f"tensor record {name} is {info.file_size} bytes, more than {MAX_RECORD_BYTES}")
    element = torch.empty((), dtype=dtype).element_size()
    if info.file_size % element:
        raise ModelLoadError(f"tensor record {name} is {info.file_size} bytes, not a whole number of {dtype}")
    if info.file_size == 0:
        numel = math.prod(int(s) for s in size)
        if numel * element > MAX_RECORD_BYTES:
            raise ModelLoadError(f"tensor record {name} declares {numel} elements, more than allowed")
        return torch.zeros(numel, dtype=dtype)
    data = bytearray(archive.read(info))
    return torch.frombuffer(data, dtype=dtype)


MAX_RATIO = 200  # torch stores records uncompressed; a higher ratio is a decompression bomb


def open_archive(path: Path) -> zipfile.ZipFile:
    """A zip model file (TorchScript, .pt2, torch.save), refused when an entry would decompress to
    far more than it occupies (torch's readers would inflate it in memory)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path.name} is a damaged archive: {exc}") from exc
    for info in archive.infolist():
        if info.file_size > max(info.compress_size * MAX_RATIO, 1 << 20):
            archive.close()
            raise ModelLoadError(
                f"{path.name}: entry {info.filename[:80]} would decompress from {info.compress_size} "
                f"to {info.file_size} bytes; not a model archive"
            )
    return archive
