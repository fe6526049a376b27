"""What a model file may do besides computing logits, found before it runs.

A TorchScript or torch.export model is a program: its graph can call operators that read or write
files (`aten::from_file(path, shared=True)` maps a file and writes through it, `aten::save`), and
its archive can hold pickles that run code when read. These checks find both, so the loader can
refuse the file with an `UntrustedModelError` naming what was found, unless the user trusts it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advinspect.core.errors import ModelLoadError, UntrustedModelError

if TYPE_CHECKING:
    import torch

TRUST_ADVICE = (
    "Load it only if you trust its source: pass --trust-pickle (CLI) or confirm in the GUI"
)
PICKLE_ADVICE = (
    "it holds a pickled Python object, and unpickling can run arbitrary code. "
    + TRUST_ADVICE
    + "; better, save a state_dict, a torch.export .pt2 or ONNX file"
)

# Words in an operator's name that mean it reaches outside the tensor world. Matched against the
# "_"-separated parts of the name after "ns::" (so aten::from_file and aten::save match, but
# aten::_dirichlet_grad or aten::remove (list.remove) do not).
_IO_WORDS = frozenset(
    "file files save load open system popen socket exec spawn shell url http mmap unlink rename "
    "dlopen library import pickle unpickle".split()
)
# Always refused even if a future registry renames them: the ones we know write or read files.
_KNOWN_IO = frozenset({"aten::from_file", "aten::save", "debugprims::load_tensor"})


def _is_io_name(qualified: str) -> bool:
    base = qualified.split(".", 1)[0]  # drop an overload name such as .out
    if base in _KNOWN_IO:
        return True
    _, _, name = base.rpartition("::")
    return any(part in _IO_WORDS for part in name.lower().split("_") if part)


@lru_cache(maxsize=1)
def io_operators() -> frozenset[str]:
    """Every operator known to this torch whose name says it touches files, processes or the network."""
    import torch

    names = {schema.name for schema in torch._C._jit_get_all_schemas()}
    names.update(torch._C._dispatch_get_all_op_names())
    return frozenset({n.split(".", 1)[0] for n in names if _is_io_name(n)} | _KNOWN_IO)


def is_io_operator(qualified: str) -> bool:
    """Whether `ns::name[.overload]` is an I/O operator (in the registry list, or by its name)."""
    base = qualified.split(".", 1)[0]
    return base in io_operators() or _is_io_name(base)


# --- TorchScript ---------------------------------------------------------------------------

MAX_CODE_BYTES = 64 << 20
_TS_CALL = re.compile(r"\b(?:torch|ops\.(\w+))\.(\w+)\s*\(")


def scan_torchscript_code(path: Path) -> list[str]:
    """I/O operators named in the archive's source files, found BEFORE loading it: loading runs a
    scripted `__setstate__`, so the graph scan after loading would come too late for that."""
    from advinspect.core.models.pt2 import open_archive

    found: set[str] = set()
    with open_archive(path) as archive:
        for info in archive.infolist():
            if "/code/" not in info.filename or not info.filename.endswith(".py"):
                continue
            if info.file_size > MAX_CODE_BYTES:
                raise ModelLoadError(f"{path.name}: code file {info.filename[:80]} is {info.file_size} bytes")
            text = archive.read(info).decode("utf-8", errors="replace")
            for match in _TS_CALL.finditer(text):
                namespace = match.group(1) or "aten"
                name = f"{namespace}::{match.group(2)}"
                if is_io_operator(name):
                    found.add(name)
    return sorted(found)


def scan_torchscript_module(module: Any) -> list[str]:
    """I/O operators in every method of every submodule of a loaded ScriptModule (all blocks)."""
    found: set[str] = set()
    for _, sub in module.named_modules():
        c_module = getattr(sub, "_c", None)
        if c_module is None:
            continue
        for method_name in c_module._method_names():
            method = c_module._get_method(method_name)
            graphs = [method.graph]
            try:
                graphs.append(method.inlined_graph)
            except RuntimeError:  # interface calls cannot be inlined; their targets are scanned as methods
                pass
            for graph in graphs:
                _scan_ts_block(graph, found)
    return sorted(found)


def _scan_ts_block(block: Any, found: set[str]) -> None:
    for node in block.nodes():
        kind = node.kind()
        if is_io_operator(kind):
            found.add(kind)
        for inner in node.blocks():
            _scan_ts_block(inner, found)


# --- torch.export graphs -------------------------------------------------------------------


def scan_fx_graphs(root: torch.nn.Module) -> list[str]:
    """Call targets in an exported program's graphs (and their subgraphs) that are not plain
    operators, or are I/O operators. Exported graphs only hold torch operators and a few Python
    builtins (getitem, sym arithmetic); anything else was put there by hand."""
    import math
    import operator

    import torch

    allowed_modules = {operator.__name__, math.__name__, "_operator", "builtins"}
    found: set[str] = set()
    for module in root.modules():
        graph = getattr(module, "graph", None)
        if not isinstance(graph, torch.fx.Graph):
            continue
        for node in graph.nodes:
            if not node.name.isidentifier():
                found.add(f"a node named {node.name!r}")
            if node.op not in ("call_function", "call_method"):
                continue
            target = node.target
            if isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
                name = target.name() if isinstance(target, torch._ops.OpOverload) else target._qualified_op_name
                if is_io_operator(name):
                    found.add(name)
            elif isinstance(target, torch._ops.HigherOrderOperator):
                if _is_io_name(f"higher_order::{target.name()}"):  # cond, map...: subgraphs scanned as modules
                    found.add(f"higher_order::{target.name()}")
            elif node.op == "call_method" and isinstance(target, str):
                if _is_io_name(f"method::{target}"):
                    found.add(f"Tensor.{target}")
            elif getattr(target, "__module__", None) in allowed_modules:
                continue
            elif getattr(target, "__module__", "") == "torch" and getattr(target, "__name__", "").startswith("sym_"):
                continue  # torch.sym_max and friends: shape arithmetic
            else:
                found.add(f"Python function {getattr(target, '__module__', '?')}.{getattr(target, '__name__', target)}")
    return sorted(found)


def refuse_untrusted(path: Path, what: str, findings: list[str] | tuple[str, ...]) -> None:
    """Raise the one error every untrusted finding gives: what was found, and how to trust."""
    listed = ", ".join(findings[:8]) + (f" and {len(findings) - 8} more" if len(findings) > 8 else "")
    raise UntrustedModelError(f"{path.name} was not loaded: {what} ({listed}). {TRUST_ADVICE}", tuple(findings))
