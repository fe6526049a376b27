"""Errors a user can act on. Their messages are shown as-is by the GUI and the CLI."""


class AdvInspectError(Exception):
    """Base of every error whose message is meant for the user (one readable line)."""


class ModelLoadError(AdvInspectError):
    """The model file cannot be opened (unknown format, corrupt, needs trust or an architecture)."""


class SpecMismatchError(ModelLoadError):
    """The model does not fit its ModelSpec (channels, size, or output shape)."""


class ImageLoadError(AdvInspectError):
    """One image file cannot be read."""


class GradientsUnavailableError(AdvInspectError):
    """A gradient was asked of a model that has none (e.g. an ONNX graph that cannot be converted)."""


class CancelledError(AdvInspectError):
    """A job was cancelled by the user."""


class UntrustedModelError(ModelLoadError):
    """The model file would run code of its own (a pickle, file/process/network operators, native code):
    refused until the user says they trust it. `findings` lists what was found, for the GUI to ask."""

    def __init__(self, message: str, findings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.findings = tuple(findings)
