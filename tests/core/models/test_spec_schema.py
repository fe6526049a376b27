"""The sidecar and labels-file schema: every malformed value is one line naming what is wrong."""

from __future__ import annotations

import json
import math

import pytest

from advinspect.core.errors import ModelLoadError
from advinspect.core.models import ModelSpec, read_sidecar
from advinspect.core.models.spec import read_labels_file, sidecar_path

GOOD = {"input_shape": [1, 8, 8], "value_range": [0, 1], "mean": [0.5], "std": [0.25],
        "labels": ["a", "b", "c"], "resize": "resize"}


def _sidecar(tmp_path, data, raw: str | None = None):
    model = tmp_path / "m.pt2"
    sidecar_path(model).write_text(raw if raw is not None else json.dumps(data), encoding="utf-8")
    return model


def test_a_good_sidecar_reads_back(tmp_path):
    spec = read_sidecar(_sidecar(tmp_path, GOOD))
    assert spec == ModelSpec(input_shape=(1, 8, 8), mean=(0.5,), std=(0.25,), labels=("a", "b", "c"))


def test_whole_floats_and_nulls_are_accepted(tmp_path):
    spec = read_sidecar(_sidecar(tmp_path, {"input_shape": [1.0, 8, 8], "mean": None, "labels": None}))
    assert spec.input_shape == (1, 8, 8) and spec.mean is None and spec.labels is None


@pytest.mark.parametrize(("key", "value", "says"), [
    ("std", [math.inf], "finite"),
    ("std", [1e-45], "at least"),
    ("std", [0], "at least"),
    ("std", [-0.5], "at least"),
    ("std", ["0.2"], "number"),
    ("std", [], "one value"),
    ("std", 0.5, "list"),
    ("mean", [math.nan], "finite"),
    ("mean", [0.1, 0.2], "channels"),
    ("input_shape", [1, 8.5, 8], "whole"),
    ("input_shape", [1, 8, -8], "whole"),
    ("input_shape", [True, 8, 8], "number"),
    ("input_shape", [1, 8], "three"),
    ("input_shape", "1,8,8", "list"),
    ("input_shape", [3, 24000, 24000], "values per image"),
    ("labels", "abc", "list"),
    ("labels", [None, None, None], "string"),
    ("labels", ["a", "a", "b"], "distinct"),
    ("labels", ["a", "", "b"], "empty"),
    ("labels", [], "at least one"),
    ("labels", [1, 2, 3], "string"),
    ("value_range", [0, math.inf], "finite"),
    ("value_range", [1, 0], "low < high"),
    ("value_range", [0], "two numbers"),
    ("resize", "crop", "one of"),
    ("resize", 3, "one of"),
])
def test_bad_values_are_refused(tmp_path, key, value, says):
    data = dict(GOOD, **{key: value})
    raw = json.dumps(data)  # Python writes inf and nan as Infinity and NaN, which json.loads accepts
    with pytest.raises(ModelLoadError, match=says) as info:
        read_sidecar(_sidecar(tmp_path, data, raw))
    message = str(info.value)
    assert "\n" not in message and "m.pt2.advinspect.json" in message


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(ModelLoadError, match="unknown keys.*inputshape"):
        read_sidecar(_sidecar(tmp_path, dict(GOOD, inputshape=[1, 8, 8])))


@pytest.mark.parametrize("raw", ["", "[1, 2]", "{", "[" * 100_000, '"spec"', "\udcff"])
def test_broken_sidecar_text_is_one_line(tmp_path, raw):
    model = tmp_path / "m.pt2"
    sidecar_path(model).write_bytes(raw.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(ModelLoadError) as info:
        read_sidecar(model)
    assert "\n" not in str(info.value)


def test_flags_go_through_the_same_checks():
    with pytest.raises(ModelLoadError, match="whole"):
        ModelSpec(input_shape=(1, 8.5, 8))
    with pytest.raises(ModelLoadError, match="at least"):
        ModelSpec(std=(1e-45,))
    with pytest.raises(ModelLoadError, match="list"):
        ModelSpec(labels="abc")


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("l.txt", b"cat\ndog\n\n", ("cat", "dog")),
    ("l.txt", b"cat\r\ndog\r\n", ("cat", "dog")),
    ("l.json", b'["a", "b"]', ("a", "b")),
    ("l.json", b'{"1": "b", "0": "a"}', ("a", "b")),
])
def test_labels_files_read(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    assert read_labels_file(tmp_path / name) == expected


@pytest.mark.parametrize(("name", "content", "says"), [
    ("l.txt", b"", "at least one"),
    ("l.txt", b"cat\ncat\n", "distinct"),
    ("l.txt", b"\xff\xfecat", "UTF-8"),
    ("l.json", b'"abc"', "list"),
    ("l.json", b"[null, null]", "string"),
    ("l.json", b'["a", "a"]', "distinct"),
    ("l.json", b"[1, 2]", "string"),
    ("l.json", b'{"x": "a"}', "keys 0, 1"),
    ("l.json", b'{"0": "a", "2": "b"}', "without gaps"),
    ("l.json", b"{", "not valid JSON"),
    ("l.json", b"[" * 100_000, "JSON|nested"),
    ("l.json", b"NaN", "list"),
])
def test_bad_labels_files_are_refused(tmp_path, name, content, says):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ModelLoadError, match=says) as info:
        read_labels_file(tmp_path / name)
    assert "\n" not in str(info.value)


def test_missing_labels_file(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read"):
        read_labels_file(tmp_path / "none.txt")
