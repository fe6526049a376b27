"""Open a model file as a Classifier: recognise the format from the bytes, settle the spec, check fit.

Formats: TorchScript, torch.export (.pt2), ONNX, torch.save state_dict (+ architecture) and a
pickled nn.Module. Whatever would run code of the file's own (a pickle, operators that touch files,
processes or the network, native code) is refused with an `UntrustedModelError` unless the user
trusts the file (`trust_pickle`); see docs/model-files.md. Everything that goes wrong while
loading leaves this module as one `ModelLoadError` line, the cause chained.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pickle
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advinspect.core.errors import (
    AdvInspectError,
    ModelLoadError,
    SpecMismatchError,
    UntrustedModelError,
)
from advinspect.core.jobs import select_device
from advinspect.core.models import pt2, records, safety
from advinspect.core.models.base import Classifier
from advinspect.core.models.onnx_backend import OnnxClassifier, read_onnx_input
from advinspect.core.models.safety import PICKLE_ADVICE
from advinspect.core.models.spec import ModelSpec, read_sidecar, read_sidecar_architecture
from advinspect.core.models.torch_backend import TorchClassifier

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = ["PICKLE_ADVICE", "build_architecture", "check_fit", "detect_format", "load_model"]


def detect_format(path: Path) -> str:
    """One of torchscript, export, torch-save, onnx, legacy-pickle, from the file's content."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        with pt2.open_archive(path) as archive:
            names = archive.namelist()
        if any(n.endswith("models/model.json") or n.endswith("serialized_exported_program.json") or
               n.endswith("/archive_format") for n in names):
            return "export"
        if any("/code/" in n for n in names) or any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-save"
        raise ModelLoadError(f"{path.name} is a zip archive but not a PyTorch model")
    if head[:1] == b"\x80":
        return "legacy-pickle"
    if path.suffix.lower() == ".onnx" or _looks_like_onnx(path):
        return "onnx"
    raise ModelLoadError(
        f"{path.name}: unrecognised model format (expected TorchScript, torch.export .pt2, ONNX or a torch.save file)"
    )


def _looks_like_onnx(path: Path) -> bool:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # not protobuf: not ONNX
        return False
    return len(model.graph.node) > 0


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Torch and onnx log warnings and tracebacks while reading odd files; the user gets our one
    line instead, so their loggers and warnings are muted for the duration."""
    loggers = [logging.getLogger(name) for name in ("torch", "torch.export", "torch._export", "onnx", "onnx2torch")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def load_model(
    path: str | Path,
    spec: ModelSpec | None = None,
    *,
    arch: str | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "auto",
    trust_pickle: bool = False,
) -> Classifier:
    """Open `path` as a Classifier whose spec has been checked against the model.

    The spec is, in increasing priority: inferred from the model, the sidecar file, `spec`.
    `trust_pickle` is the user's consent to run code from the file (pickles, I/O operators, native
    code); without it such a file raises `UntrustedModelError` before any of it runs.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    try:
        with quiet_loading():
            return _load(path, spec, arch, num_classes, device, trust_pickle)
    except AdvInspectError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ModelLoadError(f"{path.name} is a damaged archive: {_first_line(exc)}") from exc
    except MemoryError as exc:
        raise ModelLoadError(f"{path.name} needs more memory than is available to load") from exc
    except Exception as exc:  # torch, onnx and onnxruntime raise anything on odd files: one line
        raise ModelLoadError(f"cannot load {path.name}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _load(
    path: Path,
    spec: ModelSpec | None,
    arch: str | None,
    num_classes: int | None,
    device: str | torch.device,
    trust_pickle: bool,
) -> Classifier:
    torch_device = device if not isinstance(device, str) else select_device(device)
    sidecar = read_sidecar(path)
    explicit = (sidecar or ModelSpec()).merged(spec)
    fmt = detect_format(path)
    if fmt == "torch-save" and arch is None:
        arch, saved_classes = sidecar_architecture(path, trust_pickle)
        num_classes = num_classes if num_classes is not None else saved_classes
    if fmt == "onnx":
        clf: Classifier = _open_onnx(path, explicit, torch_device)
    else:
        module, inferred = _open_torch(path, fmt, arch, num_classes, trust_pickle)
        spec_final = inferred.merged(explicit)
        label = f"state_dict+{arch}" if fmt == "torch-save" and arch else fmt
        clf = TorchClassifier(module, spec_final, torch_device, path=path, format=label)
    return check_fit(clf, num_classes)


def sidecar_architecture(path: Path, trust_pickle: bool) -> tuple[str | None, int | None]:
    """The architecture a state_dict's sidecar names. A torchvision name, or a class of
    advinspect itself, is used as it is; any other `package.module:Class` imports code chosen by
    whoever wrote the sidecar, so it is used only when the user trusts the file (or names it)."""
    arch, classes = read_sidecar_architecture(path)
    if arch and ":" in arch and not arch.startswith("advinspect.") and not trust_pickle:
        raise UntrustedModelError(
            f"the sidecar of {path.name} names architecture {arch}, which imports code from "
            f"{arch.partition(':')[0]}: give it with --arch, or trust the file (--trust-pickle)",
            (f"sidecar architecture {arch} imports a module",))
    return arch, classes


def _open_onnx(path: Path, explicit: ModelSpec, device: torch.device) -> OnnxClassifier:
    _, shape, layout = read_onnx_input(path)
    chw = (shape[3], shape[1], shape[2]) if layout == "NHWC" else tuple(shape[1:])
    inferred = ModelSpec(input_shape=chw) if all(isinstance(s, int) and s > 0 for s in chw) else ModelSpec()
    spec = inferred.merged(explicit)
    if inferred.input_shape and spec.input_shape != inferred.input_shape:
        raise SpecMismatchError(
            f"{path.name} takes input {_fmt_shape(inferred.input_shape)} (C,H,W) but the spec says {_fmt_shape(spec.input_shape)}"
        )
    if spec.input_shape is None:
        raise ModelLoadError(
            f"{path.name} has symbolic image dimensions {shape}: give the input shape with --input-shape C,H,W or a sidecar"
        )
    return OnnxClassifier(path, spec, device)


def _open_torch(
    path: Path, fmt: str, arch: str | None, num_classes: int | None, trust_pickle: bool
) -> tuple[torch.nn.Module, ModelSpec]:
    import torch

    if fmt == "torchscript":
        return _open_torchscript(path, trust_pickle), ModelSpec()
    if fmt == "export":
        program = _open_export(path, trust_pickle)
        return program.module(), _spec_from_export(program)
    # torch.save files: a state_dict loads safely; anything else needs trust.
    if fmt == "torch-save" and not trust_pickle:
        with pt2.open_archive(path) as archive:
            records.check_archive_pickles(archive)
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            raise UntrustedModelError(f"{path.name} was not loaded: {PICKLE_ADVICE}", ("pickled Python object",)) from exc
        obj = _load_trusted_pickle(path)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:  # ValueError: undecodable strings
        raise ModelLoadError(f"cannot read {path.name} (a damaged torch.save file?): {_first_line(exc)}") from exc
    if isinstance(obj, torch.nn.Module):
        return obj, ModelSpec()
    state_dict = _extract_state_dict(obj, path)
    if arch is None:
        raise ModelLoadError(
            f"{path.name} is a state_dict (weights only): give its architecture with --arch "
            "(a torchvision model name such as resnet18, or package.module:Class)"
        )
    module, spec = build_architecture(arch, num_classes)
    missing, unexpected = _load_weights(module, state_dict, f"{path.name} does not fit architecture {arch}")
    if missing or unexpected:
        raise ModelLoadError(
            f"{path.name} does not fit architecture {arch}: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    return module, spec


IO_WHAT = "it calls operators that touch files, processes or the network"


def _open_torchscript(path: Path, trusted: bool) -> Any:
    """torch.jit.load, after a scan of the archive's code (loading runs a scripted __setstate__)
    and of every method's graph (running runs them)."""
    import torch

    if not trusted:
        found = safety.scan_torchscript_code(path)
        if found:
            safety.refuse_untrusted(path, IO_WHAT, found)
    with pt2.open_archive(path) as archive:
        records.check_archive_pickles(archive)  # torch.jit.load trusts sizes and lengths
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:  # ValueError: code that is not UTF-8
        raise ModelLoadError(f"cannot load TorchScript model {path.name}: {_first_line(exc)}") from exc
    if not trusted:
        found = safety.scan_torchscript_module(module)
        if found:
            safety.refuse_untrusted(path, IO_WHAT, found)
    return module


def _open_export(path: Path, trusted: bool) -> Any:
    """A torch.export program: read without unpickling (pt2.py) unless trusted; graph scanned."""
    import torch

    with pt2.open_archive(path) as archive:
        found = pt2.inspect_pt2(archive)
        if found and not trusted:
            safety.refuse_untrusted(path, "it holds pickled objects or native code that run when it is read", found)
        if trusted:
            try:
                program = torch.export.load(str(path))
            except Exception as exc:  # torch.export raises many types on bad archives
                raise ModelLoadError(f"cannot load torch.export program {path.name}: {_first_line(exc)}") from exc
        else:
            try:
                program = pt2.load_pt2_safely(archive)
            except ModelLoadError as exc:
                raise ModelLoadError(f"cannot load torch.export program {path.name}: {exc}") from exc
    if not trusted:
        found = safety.scan_fx_graphs(program.graph_module)
        if found:
            safety.refuse_untrusted(path, IO_WHAT + " or Python functions", found)
    return program


def _load_trusted_pickle(path: Path) -> Any:
    """Reached only when the user explicitly trusts this file (see PICKLE_ADVICE)."""
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # unpickling can fail in arbitrary ways (missing classes...)
        raise ModelLoadError(f"cannot unpickle {path.name}: {_first_line(exc)}") from exc


def _extract_state_dict(obj: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return {k.removeprefix("module."): v for k, v in obj.items()}
    raise ModelLoadError(f"{path.name} holds a {type(obj).__name__}, not a model or a state_dict")


def _load_weights(module: torch.nn.Module, state_dict: dict[str, Any], context: str) -> tuple[list[str], list[str]]:
    try:
        result = module.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:  # size mismatch: the detail is on the second line
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ModelLoadError(f"{context}: {lines[1] if len(lines) > 1 else lines[0]}") from exc
    return list(result.missing_keys), list(result.unexpected_keys)


def build_architecture(arch: str, num_classes: int | None) -> tuple[torch.nn.Module, ModelSpec]:
    """An untrained module from a torchvision name or `package.module:Class`, and what it implies."""
    if ":" in arch:
        module_name, _, class_name = arch.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ModelLoadError(f"cannot find architecture {arch}: {exc}") from exc
        module = cls(num_classes=num_classes) if num_classes is not None else cls()
        spec = getattr(cls, "default_spec", None)
        return module, spec() if callable(spec) else ModelSpec()
    try:
        import torchvision
    except ImportError as exc:  # e.g. the CPU bundle built from a torch wheel with no torchvision
        raise ModelLoadError(f"architecture {arch!r} needs torchvision, which this installation lacks "
                             f"({exc}); give it as package.module:Class or open a TorchScript/.pt2 file") from None

    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        raise ModelLoadError(f"unknown architecture {arch!r}: not a torchvision classification model nor package.module:Class")
    weights_enum = torchvision.models.get_model_weights(arch)
    meta = weights_enum.DEFAULT.meta  # offline: only metadata, no download
    categories = meta.get("categories")
    classes = num_classes or (len(categories) if categories else 1000)
    module = torchvision.models.get_model(arch, weights=None, num_classes=classes)
    crop = weights_enum.DEFAULT.transforms().crop_size[0] if hasattr(weights_enum.DEFAULT.transforms(), "crop_size") else 224
    labels = _distinct(categories) if categories and len(categories) == classes else None
    return module, ModelSpec(
        input_shape=(3, crop, crop), mean=IMAGENET_MEAN, std=IMAGENET_STD, labels=labels, resize="center-crop"
    )


def _distinct(names: list[str]) -> tuple[str, ...]:
    """Class names made distinct (ImageNet has two "crane"s and two "maillot"s): "crane (517)"."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return tuple(f"{name} ({i})" if counts[name] > 1 else name for i, name in enumerate(names))


def _spec_from_export(program: Any) -> ModelSpec:
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"]
    user_inputs = [s.arg.name for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    for node in placeholders:
        if node.name in user_inputs:
            value = node.meta.get("val")
            shape = getattr(value, "shape", None)
            if shape is not None and len(shape) == 4:
                dims = shape[1:]
                if all(isinstance(d, int) or str(d).isdigit() for d in dims):
                    return ModelSpec(input_shape=tuple(int(d) for d in dims))
    return ModelSpec()


def check_fit(clf: Classifier, num_classes: int | None = None) -> Classifier:
    """Run one blank input through the model: shapes must agree with the spec, or say which differ."""
    import torch

    spec = clf.spec
    name = clf.path.name if clf.path else "model"
    if spec.input_shape is None:
        raise ModelLoadError(
            f"the input shape of {name} is unknown: give it with --input-shape C,H,W (e.g. 3,224,224) or a sidecar "
            f"{name}.advinspect.json"
        )
    lo, hi = spec.value_range
    probe = torch.full((2, *spec.input_shape), (lo + hi) / 2, device=clf.device)
    try:
        with torch.no_grad():
            out = clf.logits(probe)
    except Exception as exc:  # the model's own error says what it wanted
        raise SpecMismatchError(
            f"{name} does not accept input {_fmt_shape((2, *spec.input_shape))} (N,C,H,W) from the spec: {_first_line(exc)}"
        ) from exc
    if out.ndim != 2 or out.shape[0] != 2:
        raise SpecMismatchError(
            f"{name} returns shape {_fmt_shape(tuple(out.shape))} for input {_fmt_shape((2, *spec.input_shape))}; "
            "a classifier must return (N, classes)"
        )
    classes = out.shape[1]
    if spec.labels is not None and len(spec.labels) != classes:
        raise SpecMismatchError(f"{name} has {classes} outputs but the spec lists {len(spec.labels)} labels")
    if num_classes is not None and num_classes != classes:
        raise SpecMismatchError(f"{name} has {classes} outputs but --num-classes is {num_classes}")
    if not torch.isfinite(out).all():
        raise ModelLoadError(f"{name} returns NaN or infinite logits on a blank image")
    if spec.labels is None:
        clf = clf.with_spec(spec.merged(labels=tuple(str(i) for i in range(classes))))
    return clf


def _fmt_shape(shape: tuple[Any, ...] | None) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape else "(unknown)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
