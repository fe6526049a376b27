"""Hostile and mutated model files, sidecars and label files, built on the spot.

Used by the regression tests (tests/core/models/test_hostile_files.py), the quick seeded fuzz
(tests/fuzz/test_fuzz_models.py) and the long run by hand (benchmarks/fuzz_models.py).
Payloads only ever write a marker file under the folder they are given.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch


class Tiny(torch.nn.Module):
    """1x8x8 -> 3 classes; small enough that hundreds of saves take seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.fc = torch.nn.Linear(2 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class Payload:
    """Unpickling this writes `marker` (proof that a pickle ran) and gives the value of `result`,
    a Python expression, so that the file goes on loading normally after the payload."""

    def __init__(self, marker: Path, result: str = "None") -> None:
        self.marker = str(marker)
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (eval, (f"(open({self.marker!r}, 'w').write('ran'), {self.result})[1]",))


SAMPLE_INPUTS = "((__import__('torch').zeros(2, 1, 8, 8),), {})"


def torch_payload(marker: Path, result: str = "{}") -> bytes:
    """A torch.save file whose unpickling (weights_only=False) writes `marker`."""
    buffer = io.BytesIO()
    torch.save(Payload(marker, result), buffer)
    return buffer.getvalue()


def save_export(path: Path, module: torch.nn.Module | None = None) -> Path:
    torch.manual_seed(0)
    module = (module or Tiny()).eval()
    program = torch.export.export(module, (torch.zeros(2, 1, 8, 8),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(program, path)
    return path


def save_torchscript(path: Path, module: torch.nn.Module | None = None) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script((module or Tiny()).eval()), path)
    return path


def save_onnx(path: Path) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Tiny().eval(), (torch.zeros(2, 1, 8, 8),), path, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}}, dynamo=False)
    return path


def rewrite_zip(src: Path, dst: Path, edit: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Path:
    """Copy a zip archive with its entries passed through `edit` (name -> bytes, in order)."""
    with zipfile.ZipFile(src) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries = edit(entries)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return dst


def _root(entries: dict[str, bytes]) -> str:
    return next(n for n in entries if n.endswith("/archive_format"))[: -len("archive_format")]


# --- a pickled payload in every slot torch.export.load reads one from -------------------------

PT2_SLOTS = (
    "sample_inputs",
    "pickled_weight",
    "legacy_weights",
    "legacy_constants",
    "tensor_constant",
    "custom_object",
    "opaque_object",
    "pre_2_7",
    "aotinductor",
)


def pt2_with_payload(src: Path, dst: Path, slot: str, marker: Path) -> Path:
    """A copy of the exported program `src` with a payload writing `marker` in `slot`."""
    payload = torch_payload(marker)

    def constant(entries: dict[str, bytes], root: str, path_name: str, data: bytes, use_pickle: bool) -> None:
        entry = {"path_name": path_name, "is_param": False, "use_pickle": use_pickle, "tensor_meta": None}
        entries[root + "data/constants/model_constants_config.json"] = json.dumps({"config": {"c0": entry}}).encode()
        entries[root + "data/constants/" + path_name] = data

    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        root = _root(entries)
        if slot == "sample_inputs":
            entries[root + "data/sample_inputs/model.pt"] = torch_payload(marker, SAMPLE_INPUTS)
        elif slot == "pickled_weight":
            name = root + "data/weights/model_weights_config.json"
            config = json.loads(entries[name])
            fqn = next(iter(config["config"]))
            config["config"][fqn]["use_pickle"] = True
            entries[name] = json.dumps(config).encode()
            entries[root + "data/weights/" + config["config"][fqn]["path_name"]] = payload
        elif slot == "legacy_weights":
            entries[root + "data/weights/model.pt"] = payload
        elif slot == "legacy_constants":
            entries[root + "data/constants/model.pt"] = payload
        elif slot == "tensor_constant":
            constant(entries, root, "tensor_0", payload, True)
        elif slot == "custom_object":
            constant(entries, root, "custom_obj_0", pickle.dumps(Payload(marker)), True)
        elif slot == "opaque_object":
            constant(entries, root, "opaque_obj_0", pickle.dumps(Payload(marker)), True)
        elif slot == "aotinductor":
            entries[root + "data/aotinductor/model/model.so"] = b"\x7fELF" + b"\0" * 60
        elif slot == "pre_2_7":
            empty = io.BytesIO()
            torch.save({}, empty)
            return {
                "version": b"8.0",
                "serialized_exported_program.json": entries[root + "models/model.json"],
                "serialized_state_dict.pt": payload,
                "serialized_constants.pt": empty.getvalue(),
                "serialized_example_inputs.pt": empty.getvalue(),
            }
        else:
            raise ValueError(slot)
        return entries

    return rewrite_zip(src, dst, edit)


def pt2_with_graph_edit(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of `src` whose graph JSON (models/model.json) went through `edit`."""

    def rewrite(entries: dict[str, bytes]) -> dict[str, bytes]:
        name = _root(entries) + "models/model.json"
        graph = json.loads(entries[name])
        edit(graph)
        entries[name] = json.dumps(graph).encode()
        return entries

    return rewrite_zip(src, dst, rewrite)


class FileWriter(torch.nn.Module):
    """A classifier whose forward maps `path` with shared=True and writes 'A's through it."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.fc = torch.nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file(self.path, shared=True, size=4, dtype=torch.uint8)
        t.fill_(65)
        return self.fc(x.flatten(1)) + t[0].float() * 0


# --- mutations for the fuzz ------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One of: flip bytes, truncate, duplicate a slice, zero a run, insert junk."""
    data = bytearray(data)
    if not data:
        return bytes(rng.randbytes(rng.randint(1, 64)))
    choice = rng.randrange(5)
    if choice == 0:
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 1:
        del data[rng.randrange(len(data)):]
    elif choice == 2:
        start = rng.randrange(len(data))
        data[start:start] = data[start:start + rng.randint(1, 256)]
    elif choice == 3:
        start = rng.randrange(len(data))
        data[start:start + rng.randint(1, 512)] = bytes(min(512, len(data) - start))
    else:
        data[rng.randrange(len(data)):rng.randrange(len(data)) or None] = rng.randbytes(rng.randint(1, 32))
    return bytes(data)


_JSON_VALUES: list[Any] = [
    None, True, 0, -1, 1, 2, 3, 0.5, 1e-45, 1e308, float("inf"), float("nan"), -float("inf"), "", "x", "3",
    [], [0], [1, 8, 8], [1, 8.5, 8], [3, 224, 224], [1, 2, 3, 4], [-1, 8, 8], [1e9, 1e9, 1e9], ["a", "b", "c"],
    ["a", "a", "b"], [None, None, None], "abc", {}, {"0": "a"}, [0.5], [0.0], [float("inf")], [1, 0], [0, 1],
    "resize", "center-crop", "crop", [[1]], 2**63, -2**63,
]
_SPEC_KEYS = ["input_shape", "value_range", "mean", "std", "labels", "resize", "bogus"]


def mutate_json(data: Any, rng: random.Random) -> Any:
    """Replace, drop or add a key of a JSON object with awkward values (deeply for nested ones)."""
    if not isinstance(data, dict) or rng.random() < 0.05:
        return rng.choice(_JSON_VALUES)
    data = dict(data)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(list(data) + _SPEC_KEYS) if data else rng.choice(_SPEC_KEYS)
        roll = rng.random()
        if roll < 0.15 and key in data:
            del data[key]
        elif roll < 0.3 and isinstance(data.get(key), dict):
            data[key] = mutate_json(data[key], rng)
        elif roll < 0.4 and isinstance(data.get(key), list) and data[key]:
            items = list(data[key])
            items[rng.randrange(len(items))] = rng.choice(_JSON_VALUES)
            data[key] = items
        else:
            data[key] = rng.choice(_JSON_VALUES)
    return data


def sidecar_cases(rng: random.Random, n: int) -> Iterator[str]:
    """JSON texts for `<model>.advinspect.json`: valid ones, mutated ones, broken text."""
    base = {"input_shape": [1, 8, 8], "value_range": [0, 1], "mean": [0.5], "std": [0.25],
            "labels": ["a", "b", "c"], "resize": "resize"}
    for _ in range(n):
        roll = rng.random()
        if roll < 0.1:
            yield mutate_bytes(json.dumps(base).encode(), rng).decode("utf-8", errors="replace")
        else:
            yield json.dumps(mutate_json(base, rng))


def labels_cases(rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    """(suffix, content) for labels files: text, JSON lists and objects, odd encodings."""
    texts: list[tuple[str, bytes]] = [
        (".txt", b"cat\ndog\nbird\n"), (".txt", b""), (".txt", b"\xff\xfe\x00c"), (".txt", b"a\na\n"),
        (".json", b'["a", "b"]'), (".json", b'{"0": "a", "1": "b"}'), (".json", b'{"x": "a"}'),
        (".json", b'"abc"'), (".json", b"[null, null]"), (".json", b"[1, 2]"), (".json", b"{"),
        (".json", b'[["a"]]'), (".json", b'{"0": "a", "2": "b"}'), (".json", b"NaN"), (".json", b'["", "b"]'),
        (".json", b'{"-1": "a"}'), (".json", b"[" * 5000), (".txt", b"a\r\nb\r\n"), (".json", b'["a", "a"]'),
    ]
    for _ in range(n):
        suffix, content = rng.choice(texts)
        yield suffix, (mutate_bytes(content, rng) if rng.random() < 0.5 else content)


def mutate_json_deep(data: Any, rng: random.Random) -> Any:
    """A copy of nested JSON with one value somewhere inside replaced, dropped or duplicated."""
    data = json.loads(json.dumps(data))
    slots: list[tuple[Any, Any]] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 40 or len(slots) > 20_000:
            return
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            slots.append((node, key))
            walk(value, depth + 1)

    walk(data, 0)
    if not slots:
        return rng.choice(_JSON_VALUES)
    for _ in range(rng.randint(1, 3)):
        container, key = rng.choice(slots)
        roll = rng.random()
        try:
            if roll < 0.15 and isinstance(container, dict):
                del container[key]
            elif roll < 0.25 and isinstance(container[key], str):
                container[key] = container[key] + rng.choice(["x", ".default", "'", "\n", "\u0000", "0"])
            elif roll < 0.35 and isinstance(container[key], int) and not isinstance(container[key], bool):
                container[key] = rng.choice([0, -1, 1, 2**31, 2**62, container[key] * 1000, container[key] + 1])
            else:
                container[key] = rng.choice(_JSON_VALUES)
        except (KeyError, IndexError):
            continue  # the slot went away with an earlier mutation
    return data


def mutate_archive(src: Path, dst: Path, rng: random.Random) -> Path:
    """A zip model (TorchScript, .pt2, torch.save) with one or two entries mutated, dropped or added."""

    def edit(entries: dict[str, bytes]) -> dict[str, bytes]:
        for _ in range(rng.randint(1, 2)):
            name = rng.choice(list(entries))
            roll = rng.random()
            if roll < 0.1:
                del entries[name]
            elif roll < 0.15:
                entries[name.rsplit("/", 1)[0] + "/extra_" + str(rng.randrange(99))] = rng.randbytes(16)
            elif name.endswith(".json") and roll < 0.8:
                try:
                    entries[name] = json.dumps(mutate_json_deep(json.loads(entries[name]), rng)).encode()
                except ValueError:
                    entries[name] = mutate_bytes(entries[name], rng)
            else:
                entries[name] = mutate_bytes(entries[name], rng)
            if not entries:
                break
        return entries

    return rewrite_zip(src, dst, edit)


def base_models(folder: Path) -> dict[str, Path]:
    """One small valid model per format, the seeds of every mutation."""
    folder.mkdir(parents=True, exist_ok=True)
    state_dict = folder / "tiny_sd.pt"
    torch.manual_seed(0)
    torch.save(Tiny().state_dict(), state_dict)
    return {
        "export": save_export(folder / "tiny.pt2"),
        "torchscript": save_torchscript(folder / "tiny.ts"),
        "onnx": save_onnx(folder / "tiny.onnx"),
        "state_dict": state_dict,
    }


def model_cases(bases: dict[str, Path], folder: Path, rng: random.Random, n: int) -> Iterator[tuple[str, Path]]:
    """(kind, path) of `n` mutated model files written under `folder` (one file reused per kind)."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = sorted(bases)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        src = bases[kind]
        dst = folder / f"case{src.suffix}"
        if kind != "onnx" and rng.random() < 0.75:
            yield f"{kind}/entry", mutate_archive(src, dst, rng)
        else:
            dst.write_bytes(mutate_bytes(src.read_bytes(), rng))
            yield f"{kind}/bytes", dst


def run_model_case(path: Path, kind: str) -> str:
    """Open one file as advinspect would and say how it ended: "ok", "refused" (a specific
    AdvInspectError), "boundary <Type>" (an exception from torch/onnx that only the loading
    boundary turned into a ModelLoadError) or "UNCAUGHT <Type>: message" (a bug)."""
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.models import ModelSpec, load_model

    spec = ModelSpec(input_shape=(1, 8, 8)) if kind.startswith(("torchscript", "state_dict")) else None
    arch = "tests.fuzz.model_files:Tiny" if kind.startswith("state_dict") else None
    try:
        load_model(path, spec, arch=arch, device="cpu")
    except AdvInspectError as exc:
        boundary = re.match(rf"cannot load {re.escape(path.name)}: (\w+): ", str(exc))
        return f"boundary {boundary.group(1)}" if boundary else "refused"
    except Exception as exc:  # the point of the fuzz: anything else is a bug to report
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return f"UNCAUGHT {type(exc).__name__}: {first}"
    return "ok"


def run_sidecar_case(model: Path, text: str) -> str:
    """Load `model` with `text` as its sidecar."""
    from advinspect.core.models.spec import sidecar_path

    sidecar_path(model).write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        return run_model_case(model, "sidecar")
    finally:
        sidecar_path(model).unlink()


def run_labels_case(folder: Path, suffix: str, content: bytes) -> str:
    from advinspect.core.errors import AdvInspectError
    from advinspect.core.models.spec import read_labels_file

    path = folder / f"labels{suffix}"
    path.write_bytes(content)
    try:
        read_labels_file(path)
    except AdvInspectError:
        return "refused"
    except Exception as exc:  # the point of the fuzz: anything else is a bug to report
        return f"UNCAUGHT {type(exc).__name__}: {str(exc)[:160]}"
    return "ok"
