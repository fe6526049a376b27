"""Errors of results and report files (one readable line each, like every AdvInspectError)."""

from advinspect.core.errors import AdvInspectError


class ReportError(AdvInspectError):
    """Results or a report cannot be written (folder not writable, disk full, report exists, ...)."""


class ResultsFileError(ReportError):
    """A results file is malformed: a field has the wrong type, a path leaves its folder, ..."""
