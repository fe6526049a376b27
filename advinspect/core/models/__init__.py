"""Models: load(path, spec) -> Classifier for PyTorch and ONNX files."""

from advinspect.core.models.base import Classifier
from advinspect.core.models.loader import check_fit, detect_format, load_model
from advinspect.core.models.spec import ModelSpec, read_sidecar, write_sidecar

__all__ = ["Classifier", "ModelSpec", "check_fit", "detect_format", "load_model", "read_sidecar", "write_sidecar"]
