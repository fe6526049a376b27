"""Check the tensors a torch zip archive declares against the bytes it holds, without running it.

torch.jit.load trusts the archive: a tensor whose record is shorter than its storage, or whose
size and stride reach past it, loads fine and reads out of bounds on the first forward pass (a
fuzzed TorchScript file with a truncated bias record crashed the process with SIGSEGV). The
pickles (`data.pkl`, `constants.pkl`, ...) are read here by an unpickler whose `find_class` only
ever returns inert stand-ins, so no code from the file runs; every rebuilt tensor is checked.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
import zipfile
from typing import Any, NamedTuple

from advinspect.core.errors import ModelLoadError

MAX_PICKLE_BYTES = 64 << 20


class _Inert:
    """Whatever the pickle names (a class, a function) becomes this: it takes any arguments,
    any state, and does nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert(*args)

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # containers built by the pickle may be appended to / indexed
    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


class _Storage(NamedTuple):
    """A declared storage, already checked against its record. A tuple, so that a BUILD opcode
    later in the pickle cannot change its size before a tensor is checked against it."""

    key: str
    element_size: int
    numel: int


class _StorageType(NamedTuple):
    name: str


def _element_size(storage_type: Any) -> int:
    import torch

    name = getattr(storage_type, "name", None)
    if name == "UntypedStorage":
        return 1
    cls = getattr(torch, name, None) if isinstance(name, str) and name.endswith("Storage") else None
    dtype = getattr(cls, "dtype", None)
    if not isinstance(dtype, torch.dtype):
        raise ModelLoadError(f"the archive declares an unknown storage type {name!r}")
    return dtype.itemsize


class _Checker(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, folder: str | None) -> None:
        """`folder` holds the records of the storages the pickle declares; None: parse only."""
        super().__init__(io.BytesIO(data))
        self.archive, self.folder = archive, folder

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name.startswith("_rebuild_tensor"):
            return self._rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        return _Inert

    def persistent_load(self, pid: Any) -> Any:
        if self.folder is None or not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            return _Inert()
        _, storage_type, key, _location, numel = pid
        if not isinstance(key, str) or isinstance(numel, bool) or not isinstance(numel, int) or numel < 0:
            raise ModelLoadError(f"the archive declares a malformed storage {key!r}")
        element = _element_size(storage_type)
        name = f"{self.folder}{key}"
        try:
            size = self.archive.getinfo(name).file_size
        except KeyError:
            raise ModelLoadError(f"the archive has no record {name} for a declared tensor") from None
        if size < numel * element:
            raise ModelLoadError(f"tensor record {name} holds {size} bytes but declares {numel * element}")
        return _Storage(key, element, numel)

    def _rebuild_tensor(self, storage: Any = None, offset: Any = 0, size: Any = (), stride: Any = (),
                        *rest: Any, **kwargs: Any) -> _Inert:
        if isinstance(storage, _Storage):
            check_extent(storage, offset, size, stride)
        return _Inert()


def check_extent(storage: _Storage, offset: Any, size: Any, stride: Any) -> None:
    """The elements a (size, stride, offset) view reaches must lie within its storage."""
    ints = (offset, *size, *stride) if isinstance(size, tuple) and isinstance(stride, tuple) else None
    if ints is None or len(size) != len(stride) or not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
        raise ModelLoadError(f"a tensor on storage {storage.key!r} has a malformed size or stride")
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise ModelLoadError(f"a tensor on storage {storage.key!r} has a negative size, stride or offset")
    if math.prod(size) == 0:
        return
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.numel:
        raise ModelLoadError(
            f"a tensor of size {list(size)} reaches element {last} of storage {storage.key!r}, "
            f"which has {storage.numel}"
        )


def _check_memo(data: bytes, name: str) -> None:
    """Memo slots must be numbered within the pickle's size: unpicklers (CPython's C one and
    torch's) grow their memo table to the largest index, so a LONG_BINPUT of 10^9 in a fuzzed
    .debug_pkl took 16 GB. pickletools reads the opcodes without a memo table."""
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= int(arg) <= len(data):
            raise ModelLoadError(f"{name} in the archive is damaged: memo index {arg} in {len(data)} bytes")


def check_archive_pickles(archive: zipfile.ZipFile) -> None:
    """Every pickle in a torch zip archive parses to its end, and every tensor that data.pkl and
    constants.pkl declare fits its record. torch's C++ unpickler trusts length fields: a fuzzed
    `.debug_pkl` declaring a 3.6 GB string made torch.jit.load allocate 3.4 GB and spend 20 s
    before failing; Python's unpickler reads such a string only as far as the bytes go.
    (traced_inputs.pkl is only parsed: torch reads it only with _restore_shapes and writes its
    records empty.)"""
    for info in archive.infolist():
        parts = info.filename.split("/")
        if not parts[-1].endswith((".pkl", ".debug_pkl")):
            continue
        if info.file_size > MAX_PICKLE_BYTES:
            raise ModelLoadError(f"{info.filename} is {info.file_size} bytes, too large for a model's pickle")
        tensors = len(parts) == 2 and parts[1] in ("data.pkl", "constants.pkl")
        folder = f"{parts[0]}/{parts[1][: -len('.pkl')]}/" if tensors else None
        try:
            data = archive.read(info)
            _check_memo(data, info.filename)
            _Checker(data, archive, folder).load()
        except ModelLoadError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                RecursionError, MemoryError, OverflowError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"{info.filename} in the archive is damaged: {type(exc).__name__}: {exc}"[:300]) from exc
