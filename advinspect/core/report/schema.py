"""The one place that says what a results file (results.json) may hold.

Why: results.json is read back (`advinspect report`, the GUI) and may come from anyone. Every
field is type-checked here, once, so the report code can trust what it reads; a malformed file
is one `ResultsFileError` naming the field, never a traceback from deep inside a template.

Rules beyond types: numbers that are NaN or infinite read as null (our writer stores them as
null; readers accept null everywhere a number is optional); paths of files to read are relative
and stay inside the results folder (see `paths.py`); nesting of free-form fields is bounded; the
model input shape is bounded so a card never allocates gigabytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from advinspect.core.report.errors import ResultsFileError
from advinspect.core.report.paths import check_relative
from advinspect.core.status import STATUSES

Check = Callable[[Any, str], Any]
"""(value, where) -> the value as the report uses it; raises ResultsFileError naming `where`."""

MAX_DEPTH = 32  # nesting of free-form fields (parameters, trace): json.dumps recurses
MAX_TEXT = 100_000
MAX_SIDE = 4096  # model input height/width a card will fit an image to
MAX_CLASSES = 10_000
RESIZE_POLICIES = ("resize", "center-crop", "none")  # as advinspect.core.models.spec


def _unicode(value: str) -> str:
    """Lone surrogates (JSON escapes like \\ud800) cannot be written as UTF-8: U+FFFD instead."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _fail(where: str, message: str) -> ResultsFileError:
    return ResultsFileError(f"{where}: {message}")


def _expected(where: str, what: str, value: Any) -> ResultsFileError:
    return _fail(where, f"expected {what}, got {_kind(value)}")


def number(lo: float = -math.inf, hi: float = math.inf, *, null: bool = True) -> Check:
    def check(value: Any, where: str) -> float | int | None:
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _expected(where, "a number" + (" or null" if null else ""), value)
        if isinstance(value, float) and not math.isfinite(value):
            if null:
                return None
            raise _fail(where, "expected a finite number")
        if not lo <= value <= hi:
            raise _fail(where, f"{value:.6g} is outside [{lo:g}, {hi:g}]")
        return value
    return check


def integer(lo: int | None = 0, hi: int | None = None, *, null: bool = True) -> Check:
    def check(value: Any, where: str) -> int | None:
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _expected(where, "a whole number" + (" or null" if null else ""), value)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _fail(where, f"{value if abs(value) < 10**12 else 'a huge number'} is out of range")
        return value
    return check


def text(max_len: int = MAX_TEXT, *, null: bool = True, empty: bool = True, raw: bool = False) -> Check:
    """A string. Lone surrogates (from JSON escapes) become U+FFFD, since they cannot be written
    as UTF-8; `raw` keeps them (a file name from a non-UTF-8 file system, to open the file)."""
    def check(value: Any, where: str) -> str | None:
        if value is None and null:
            return None
        if not isinstance(value, str):
            raise _expected(where, "a string" + (" or null" if null else ""), value)
        if len(value) > max_len or (not value and not empty):
            raise _fail(where, "empty string" if not value else f"string longer than {max_len} characters")
        return value if raw else _unicode(value)
    return check


def flag(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _expected(where, "true, false or null", value)


def choice(*allowed: str) -> Check:
    def check(value: Any, where: str) -> str | None:
        if value is None or value in allowed:
            return value
        shown = repr(value)[:40] if isinstance(value, str) else _kind(value)
        raise _fail(where, f"expected one of {', '.join(allowed)}, got {shown}")
    return check


def listed(item: Check, *, min_len: int = 0, max_len: int | None = None, null: bool = True) -> Check:
    def check(value: Any, where: str) -> list[Any] | None:
        if value is None and null:
            return None
        if not isinstance(value, list):
            raise _expected(where, "a list" + (" or null" if null else ""), value)
        if len(value) < min_len or (max_len is not None and len(value) > max_len):
            raise _fail(where, f"a list of {len(value)} items (expected {min_len} to {max_len or 'any'})")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return check


def either(*checks: Check, what: str) -> Check:
    def check(value: Any, where: str) -> Any:
        for c in checks:
            try:
                return c(value, where)
            except ResultsFileError:
                continue
        raise _expected(where, what, value)
    return check


def plain(value: Any, where: str) -> Any:
    """Free-form JSON (parameters, trace): any shape up to MAX_DEPTH deep; NaN/Inf become null."""
    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _fail(where, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, str):
            return _unicode(v)
        if isinstance(v, dict):
            return {_unicode(k): walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        return v
    return walk(value, 0)


def plain_object(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _expected(where, "an object or null", value)
    return plain(value, where)


def relative_path(value: Any, where: str) -> str | None:
    """A file to read, relative to the results folder (never absolute, never `..`)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _expected(where, "a relative path or null", value)
    return check_relative(value, where) if len(value) <= 4096 else text(4096)(value, where)


def record(fields: dict[str, Check], required: tuple[str, ...] = (), *, null: bool = True) -> Check:
    """An object with these fields (others kept as free-form JSON); `required` must be present."""
    def check(value: Any, where: str) -> dict[str, Any] | None:
        if value is None and null:
            return None
        if not isinstance(value, dict):
            raise _expected(where, "an object" + (" or null" if null else ""), value)
        missing = [k for k in required if k not in value]
        if missing:
            raise _fail(where, f"missing {', '.join(missing)}")
        return {_unicode(k): fields[k](v, f"{where}.{k}") if k in fields else plain(v, f"{where}.{k}")
                for k, v in value.items()}
    return check


def mapping(item: Check) -> Check:
    def check(value: Any, where: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _expected(where, "an object or null", value)
        return {_unicode(k): item(v, f"{where}.{k}") for k, v in value.items()}
    return check


def _same_lengths(check: Check, *keys: str) -> Check:
    def wrapped(value: Any, where: str) -> Any:
        value = check(value, where)
        if value is not None:
            lengths = {len(value[k]) for k in keys if value.get(k) is not None}
            if len(lengths) > 1:
                raise _fail(where, f"{', '.join(keys)} differ in length")
        return value
    return wrapped


def _matrix(value: Any, where: str) -> list[list[int]] | None:
    rows = listed(listed(integer(0, null=False), null=False), max_len=MAX_CLASSES)(value, where)
    if rows is not None and any(len(r) != len(rows) for r in rows):
        raise _fail(where, "a confusion matrix must be square")
    return rows


def _histograms(value: Any, where: str) -> dict[str, Any] | None:
    counts = listed(number(0, null=False), null=True)
    h = record({"bins": listed(number(null=False), min_len=2, null=False), "clean": counts, "correct": counts,
                "wrong": counts, "adversarial": counts}, ("bins",), null=False)(value, where)
    assert h is not None
    for key in ("clean", "correct", "wrong", "adversarial"):
        if h.get(key) is not None and len(h[key]) != len(h["bins"]) - 1:
            raise _fail(f"{where}.{key}", "needs one count per histogram bin")
    return h


_TEXT = text(4096)
_FRACTION = number(0, 1)
_NONNEGATIVE = number(0)
_BIN = record({"lower": number(null=False), "upper": number(null=False), "count": integer(), "accuracy": _FRACTION,
               "confidence": _FRACTION}, ("lower", "upper"), null=False)


def _calibration(*, null: bool) -> Check:
    return record({"ece": _NONNEGATIVE, "nll": number(), "brier": number(), "bins": listed(_BIN, min_len=1, null=False)},
                  ("bins",), null=null)


_EVALUATION = record({
    "n": integer(), "clean_accuracy": _FRACTION, "cancelled": flag,
    "curves": listed(_same_lengths(record({"attack": _TEXT, "eps": listed(number(), null=False),
                                           "robust_accuracy": listed(_FRACTION, null=False)},
                                          ("attack", "eps", "robust_accuracy"), null=False),
                                   "eps", "robust_accuracy"), null=False),
    "calibration": record({"ece": _NONNEGATIVE, "temperature": number(), "ece_after_temperature": _NONNEGATIVE,
                           "nll": number(), "brier": number(), "bins": listed(_BIN, min_len=1, null=False),
                           "held_out_before": _calibration(null=False),
                           "held_out_after": _calibration(null=False), "adversarial": _calibration(null=True)},
                          ("bins", "held_out_before", "held_out_after"), null=False),
    "confusion": mapping(_matrix),
    "histograms": _histograms,
    "labels": listed(text(1000, null=False), max_len=MAX_CLASSES),
    "warnings": listed(text(null=False)),
    "reference_attack": record({"attack": _TEXT, "eps": number()}),
}, ("curves", "calibration", "confusion", "histograms"))

_TOP = record({"name": text(1000, null=False), "index": integer(), "probability": _FRACTION}, ("name",), null=False)
_TOP_K = listed(_TOP, max_len=MAX_CLASSES)
_SAMPLE = record({
    "file": text(4096, null=False, empty=False), "source": text(4096, raw=True), "adversarial": relative_path,
    "saliency_original": relative_path, "saliency_adversarial": relative_path,
    "label": text(1000), "target": text(1000), "clean_pred": text(1000), "adv_pred": text(1000),
    "clean_confidence": _FRACTION, "adv_confidence": _FRACTION, "success": flag,
    "success_after_quantization": flag, "linf": _NONNEGATIVE, "l2": _NONNEGATIVE, "l0": integer(),
    "l1": _NONNEGATIVE, "iterations": integer(), "queries": integer(), "clean_top_k": _TOP_K, "adv_top_k": _TOP_K,
    "status": choice(*STATUSES), "attacked": flag,
}, ("file",), null=False)
_VECTOR = either(number(), listed(number(null=False), min_len=1, max_len=4), what="a number, a list of numbers or null")
_SPEC = record({
    "input_shape": listed(integer(1, MAX_SIDE, null=False), min_len=3, max_len=3),
    "value_range": listed(number(null=False), min_len=2, max_len=2), "mean": _VECTOR, "std": _VECTOR,
    "resize": choice(*RESIZE_POLICIES), "labels": listed(text(1000, null=False), max_len=MAX_CLASSES),
})
_SUMMARY = record({
    "attack": _TEXT, "params": plain_object, "n": integer(), "clean_accuracy": _FRACTION,
    "robust_accuracy": _FRACTION, "success_rate": _FRACTION, "success_rate_after_quantization": _FRACTION,
    "median_linf": _NONNEGATIVE, "median_l2": _NONNEGATIVE, "mean_queries": _NONNEGATIVE,
    "seconds": _NONNEGATIVE, "device": _TEXT, "seed": integer(None), "labels_known": flag, "cancelled": flag,
}, null=False)
_PROVENANCE = record({
    "model": record({"file": _TEXT, "format": _TEXT, "sha256": _TEXT, "spec": _SPEC}),
    "versions": mapping(either(text(1000), number(), flag, what="a version string or null")),
    "device": _TEXT, "command": text(), "gui_parameters": plain_object,
})
_RESULTS = record({
    "kind": choice("attack", "evaluation"), "created": _TEXT, "summary": _SUMMARY, "provenance": _PROVENANCE,
    "trace": plain, "evaluation": _EVALUATION, "samples": listed(_SAMPLE, null=False),
    "saliency_method": text(100),
}, ("summary", "samples"), null=False)


def validate_results(data: Any, where: str = "results") -> dict[str, Any]:
    """The results dict with every field checked (NaN/Inf numbers as None); raises
    ResultsFileError with one line naming the first bad field."""
    checked = _RESULTS(data, where)
    assert checked is not None
    return checked
