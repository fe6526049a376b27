"""Save an in-memory PyTorch Classifier (a trained or retrained model, or any opened one) as a
file every command opens again: TorchScript (`.pt`, `.ts`), a torch.export program (`.pt2`) or
ONNX (`.onnx`), always with its sidecar spec. Never a pickle.

Why here and not in the GUI: "Save model as…" must write exactly what `load_model` reads back,
and the round trip is tested headless.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError

FORMATS = {".pt": "torchscript", ".ts": "torchscript", ".jit": "torchscript", ".pt2": "export", ".onnx": "onnx"}


def saveable(clf: Any) -> str | None:
    """None when `clf` can be saved, else the reason (shown on the disabled menu action)."""
    if clf is None:
        return "no model is open"
    if getattr(clf, "module", None) is None:
        fmt = getattr(clf, "format", "")
        if "onnx" in str(fmt):
            return "an ONNX model is already a file: it has no PyTorch module to save"
        return f"a {fmt or 'this'} model has no PyTorch module to save (an input-transform defense wraps " \
               "the model at run time: save the undefended model and give the defense again)"
    return None


def save_model(clf: Any, path: str | Path) -> Path:
    """Write `clf`'s module to `path` in the format its suffix names, plus the sidecar; the file
    is checked by loading it back and comparing logits on a probe batch."""
    import torch

    from advinspect.core.models import load_model
    from advinspect.core.models.spec import write_sidecar

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AdvInspectError(f"save the model as .pt (TorchScript), .pt2 (torch.export) or .onnx, not {path.suffix!r}")
    reason = saveable(clf)
    if reason is not None:
        raise AdvInspectError(f"cannot save this model: {reason}")
    spec = clf.spec
    if spec.input_shape is None:
        raise AdvInspectError("cannot save a model whose input shape is unknown")
    module = copy.deepcopy(clf.module).cpu().eval()
    lo, hi = spec.value_range
    example = torch.full((2, *spec.input_shape), (lo + hi) / 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part" + path.suffix)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript / legacy ONNX exporter deprecation notes
            if fmt == "torchscript":
                torch.jit.save(torch.jit.trace(module, example, check_trace=False), str(tmp))
            elif fmt == "export":
                batch = torch.export.Dim("batch", min=1, max=65_536)
                torch.export.save(torch.export.export(module, (example,), dynamic_shapes=({0: batch},)), str(tmp))
            else:
                torch.onnx.export(module, (example,), str(tmp), input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
                                  opset_version=17)
        tmp.replace(path)
    except AdvInspectError:
        raise
    except Exception as exc:  # tracing / exporting fails in many ways on unusual modules: one line
        raise AdvInspectError(f"cannot save the model as {fmt}: {type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    write_sidecar(path, spec)
    _check_round_trip(clf, load_model(path, device="cpu"), example)
    return path


def _check_round_trip(original: Any, reopened: Any, example: Any) -> None:
    import torch

    probe = torch.rand(3, *example.shape[1:], generator=torch.Generator().manual_seed(0))
    lo, hi = original.spec.value_range
    probe = lo + probe * (hi - lo)
    with torch.no_grad():
        a = original.logits(probe.to(original.device)).cpu()
        b = reopened.logits(probe).cpu()
    if not torch.allclose(a, b, atol=1e-4, rtol=1e-3):
        raise AdvInspectError(f"the saved model disagrees with the one in memory (max logit difference "
                              f"{float((a - b).abs().max()):.3g})")
