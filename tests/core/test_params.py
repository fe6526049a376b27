"""core.params: every typed value goes through one converter and one validator."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from advinspect.core.errors import AdvInspectError
from advinspect.core.params import (
    build_params,
    config_fields,
    param,
    parse_number,
    parse_numbers,
    parse_shape,
)


@dataclass(frozen=True)
class Example:
    eps: tuple[float, ...] = param((0.0,), "budgets", min=0.0, max=1.0)
    names: tuple[str, ...] = param(("pgd",), "attacks", choices=("pgd", "fgsm"))
    steps: int = param(10, "steps", min=1)
    fast: bool = param(False, "fast")
    extra: dict = field(default_factory=dict)


def test_conversions():
    p = build_params(Example, {"eps": "0,1/255", "names": "fgsm, pgd", "steps": "20", "fast": "yes",
                               "extra": {"a": 1}})
    assert p.eps == (0.0, 1 / 255) and p.names == ("fgsm", "pgd") and p.steps == 20 and p.fast is True
    assert p.extra == {"a": 1}
    assert [f.name for f in config_fields(Example)] == ["eps", "names", "steps", "fast"]


@pytest.mark.parametrize("values, message", [
    ({"eps": "0,2"}, "at most 1.0"),
    ({"eps": "nan"}, "finite"),
    ({"names": "pgd,cw"}, "one of pgd, fgsm"),
    ({"steps": "2.5"}, "whole number"),
    ({"steps": "0"}, "at least 1"),
    ({"fast": "maybe"}, "true or false"),
    ({"extra": "a=1"}, "key=value"),
    ({"nope": 1}, "unknown parameter"),
])
def test_refusals(values, message):
    with pytest.raises(AdvInspectError, match=message):
        build_params(Example, values)


def test_number_and_shape_parsers():
    assert parse_number("8/255") == 8 / 255 and parse_numbers("1, 2,") == (1.0, 2.0)
    assert parse_shape("3x224x224") == (3, 224, 224) and parse_shape((1, 8, 8)) == (1, 8, 8)
    for bad in ("3,224", "3,0,4", "3,2.5,4", "a,b,c"):
        with pytest.raises(AdvInspectError):
            parse_shape(bad)
    with pytest.raises(AdvInspectError):
        parse_number("1/0")
