"""ONNX back end through onnxruntime; gradients through an onnx2torch conversion when it works."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from advinspect.core.errors import ModelLoadError
from advinspect.core.models.base import Classifier
from advinspect.core.models.spec import MAX_INPUT_ELEMENTS, ModelSpec

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
_NOT_CONVERTED = object()


def read_onnx_input(path: Path) -> tuple[str, list[Any], str]:
    """(input name, its shape with None for symbolic dims, layout NCHW or NHWC) from the graph,
    after the checks that must come before onnxruntime allocates or reads anything (check_onnx)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises several unrelated types on garbage
        raise ModelLoadError(f"{path.name} is not a readable ONNX model: {_first_line(exc)}") from exc
    check_onnx(model, path)
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelLoadError(f"{path.name} has {len(inputs)} inputs; an image classifier has exactly one")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    if len(shape) != 4:
        raise ModelLoadError(f"{path.name} takes a {len(shape)}-D input {shape}; expected an image batch (N, C, H, W)")
    layout = "NHWC" if shape[3] in (1, 3, 4) and shape[1] not in (1, 3, 4) else "NCHW"
    return inputs[0].name, shape, layout


def ends_in_softmax(path: Path) -> bool:
    """Whether the graph's (first) output is made by a Softmax node: the model outputs
    probabilities, a very common export. Unreadable graphs are left to `read_onnx_input`."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:  # noqa: BLE001 - read_onnx_input reports unreadable files with the reason
        return False
    if not graph.output:
        return False
    name = graph.output[0].name
    return any(node.op_type == "Softmax" and name in node.output for node in graph.node)


def swap_final_softmax(module: Any) -> bool:
    """In an onnx2torch GraphModule, turn the final nn.Softmax into nn.LogSoftmax (exact
    log-probabilities and their gradients, no underflow). False where the graph is not so."""
    import torch

    graph = getattr(module, "graph", None)
    if graph is None:
        return False
    outputs = [node for node in graph.nodes if node.op == "output"]
    if len(outputs) != 1 or not outputs[0].args or not hasattr(outputs[0].args[0], "op"):
        return False
    last = outputs[0].args[0]
    if last.op != "call_module":
        return False
    softmax = module.get_submodule(last.target)
    if type(softmax) is not torch.nn.Softmax:
        return False
    parent_name, _, child = str(last.target).rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, child, torch.nn.LogSoftmax(dim=softmax.dim))
    return True


def check_onnx(model: Any, path: Path) -> None:
    """Refuse, before any allocation, what would make opening or running the graph dangerous:
    a declared input or output larger than MAX_INPUT_ELEMENTS per sample (a 40 KB file declaring
    1x24000x24000 reached 9 GB), and external-data files outside the model's folder."""
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            dims = value.type.tensor_type.shape.dim
            fixed = [d.dim_value for d in list(dims)[1:] if d.HasField("dim_value")]
            if any(d < 0 for d in fixed):
                raise ModelLoadError(f"{path.name} declares a negative dimension for {kind} {value.name!r}")
            per_sample = math.prod(fixed)
            if per_sample > MAX_INPUT_ELEMENTS:
                raise ModelLoadError(
                    f"{path.name} declares {kind} {value.name!r} with {per_sample} values per sample "
                    f"(dims {[d.dim_value or d.dim_param for d in dims]}), more than the {MAX_INPUT_ELEMENTS} allowed"
                )
    folder = path.resolve().parent
    for location in _external_locations(model):
        target = (folder / location).resolve()
        if Path(location).is_absolute() or ".." in Path(location).parts or not target.is_relative_to(folder):
            raise ModelLoadError(
                f"{path.name} refers to external data {location!r} outside its folder; "
                "external data must sit next to the model"
            )


def _external_locations(model: Any) -> list[str]:
    """Every external-data file named by a tensor of the graph, its subgraphs or node attributes."""
    import onnx
    from onnx.external_data_helper import _get_all_tensors

    locations = []
    for tensor in _get_all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            locations.append(entries.get("location", ""))
    return locations


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class OnnxClassifier(Classifier):
    """Logits from onnxruntime under no_grad; where autograd is on and the graph converted to
    torch, the converted module answers instead so gradients and layer hooks work."""

    format = "onnx"

    def __init__(self, path: Path, spec: ModelSpec, device: torch.device, *, convert: bool = True) -> None:
        import onnxruntime as ort

        super().__init__(spec, device, path)
        self.input_name, self.graph_shape, self.layout = read_onnx_input(path)
        fixed = self.graph_shape[0]
        self.fixed_batch: int | None = fixed if isinstance(fixed, int) and fixed > 0 else None
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        options = ort.SessionOptions()
        options.log_severity_level = 4  # its errors become our one line; its log would repeat them
        try:  # no fallback: onnxruntime's fallback prints "EP Error" banners and tries again
            self.session = ort.InferenceSession(str(path), options, providers=providers, enable_fallback=0)
            self.session.disable_fallback()
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"onnxruntime cannot open {path.name}: {_first_line(exc)}") from exc
        # converted on first need (a gradient, a layer hook): predicting never pays for it
        self._torch_module: Any = _NOT_CONVERTED if convert else None
        self.conversion_error: str | None = None
        # a final Softmax: _raw_logits then returns log-probabilities itself (exact where the
        # converted graph's softmax could be swapped for log-softmax)
        self.final_softmax = ends_in_softmax(path)
        self._log_softmax_swapped = False
        if self.final_softmax:
            self._outputs_probabilities = True

    @property
    def torch_module(self) -> torch.nn.Module | None:
        if self._torch_module is _NOT_CONVERTED:
            self._convert()
        return self._torch_module

    @torch_module.setter
    def torch_module(self, module: torch.nn.Module | None) -> None:
        self._torch_module = module

    def _convert(self) -> None:
        try:
            from onnx2torch import convert

            module = convert(str(self.path)).to(self.device).eval()
            for parameter in module.parameters():
                parameter.requires_grad_(False)
            if self.final_softmax:
                self._log_softmax_swapped = swap_final_softmax(module)
            self._torch_module = module
        except Exception as exc:  # any failure means: no gradients, say why
            self._torch_module = None
            self.conversion_error = f"{type(exc).__name__}: {exc}"
            log.info("ONNX to torch conversion failed for %s: %s", self.path, exc)

    @property
    def has_gradients(self) -> bool:
        return self.torch_module is not None

    def _raw_logits(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        if self.layout == "NHWC":
            x = x.permute(0, 2, 3, 1)
        if torch.is_grad_enabled() and self.torch_module is not None:
            out = self.torch_module(x)  # differentiable path (attacks, saliency hooks)
            if self.final_softmax and not self._log_softmax_swapped:
                out = super()._log_probabilities(out)
            return out
        array = x.detach().cpu().numpy().astype(np.float32, copy=False)
        step = self.fixed_batch or len(array) or 1
        outputs = [
            self.session.run(None, {self.input_name: array[i : i + step]})[0] for i in range(0, len(array), step)
        ]
        out = np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
        result = torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(self.device)
        return super()._log_probabilities(result) if self.final_softmax else result

    def _log_probabilities(self, out: torch.Tensor) -> torch.Tensor:
        # with a final Softmax in the graph, _raw_logits has taken the logarithm already
        return out if self.final_softmax else super()._log_probabilities(out)

    @property
    def num_parameters(self) -> int | None:
        if self.torch_module is not None:
            return sum(p.numel() for p in self.torch_module.parameters())
        return None

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["onnx_input"] = {"name": self.input_name, "shape": self.graph_shape, "layout": self.layout}
        info["providers"] = self.session.get_providers()
        if self.final_softmax:
            info["outputs"] = "probabilities (a final Softmax in the graph; attacks use log-softmax)"
        if self.conversion_error:
            info["gradients_unavailable_because"] = self.conversion_error
        return info
