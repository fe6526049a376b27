"""The parameter form is generated from any params dataclass (attacks added later included)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from advinspect.core.attacks import all_attacks
from advinspect.core.attacks.base import build_params, param
from advinspect.core.errors import AdvInspectError
from advinspect.gui.widgets.param_form import ParamForm, field_kind, format_value


@dataclass(frozen=True)
class EveryKind:
    eps: float = param(8 / 255, "budget", min=0.0, max=1.0)
    steps: int = param(10, "iterations", min=1, max=500)
    step_size: float | None = param(None, "step; empty means automatic", min=0.0)
    norm: str = param("linf", "threat model", choices=("linf", "l2"))
    early_stop: bool = param(True, "stop early")
    name: str = param("x", "free text")


def test_widgets_follow_the_field_types(qtbot) -> None:
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params_type(EveryKind)
    kinds = {name: type(form.widget(name)) for name in form.field_names()}
    assert kinds == {"eps": QLineEdit, "steps": QSpinBox, "step_size": QLineEdit, "norm": QComboBox,
                     "early_stop": QCheckBox, "name": QLineEdit}
    spin = form.widget("steps")
    assert (spin.minimum(), spin.maximum()) == (1, 500)
    assert "budget" in form.widget("eps").toolTip() and "max 1" in form.widget("eps").toolTip()
    assert "one of: linf, l2" in form.widget("norm").toolTip()
    assert form.values() == {"eps": "8/255", "steps": 10, "step_size": None, "norm": "linf",
                             "early_stop": True, "name": "x"}
    assert form.params() == EveryKind()


def test_edited_values_become_validated_params(qtbot) -> None:
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params_type(EveryKind, {"norm": "l2", "steps": 3})
    form.widget("step_size").setText("1/100")
    form.widget("early_stop").setChecked(False)
    params = form.params()
    assert params == EveryKind(steps=3, norm="l2", step_size=0.01, early_stop=False)
    form.widget("eps").setText("2")
    with pytest.raises(AdvInspectError, match="at most"):
        form.params()
    form.reset()
    assert form.params() == EveryKind()


def test_every_registered_attack_gets_a_working_form(qtbot) -> None:
    form = ParamForm()
    qtbot.addWidget(form)
    for name, cls in all_attacks().items():
        form.set_params_type(cls.params_type)
        assert form.params() == build_params(cls.params_type, {}), name
        for widget_name in form.field_names():
            assert form.widget(widget_name).toolTip(), (name, widget_name)


def test_kinds_and_number_formatting() -> None:
    import dataclasses

    kinds = {f.name: field_kind(f) for f in dataclasses.fields(EveryKind)}
    assert kinds == {"eps": "float", "steps": "int", "step_size": "optional", "norm": "choice",
                     "early_stop": "bool", "name": "text"}
    assert format_value(8 / 255) == "8/255"
    assert format_value(0.2) == "0.2"
    assert format_value(None) == ""


@dataclass(frozen=True)
class VerbConfig:
    """A verb Config: lists, a free-text field offered as choices, a dict with no form row."""

    attack: str = param("pgd", "attack")
    eps: tuple[float, ...] = param((0.0, 8 / 255), "budgets", min=0.0)
    names: tuple[str, ...] = param(("a",), "names")
    steps: int | None = param(None, "iterations", min=1)
    scope: str = param("all", "left to the panel")
    params: dict = None  # type: ignore[assignment]


def test_a_verb_config_round_trips_through_the_form(qtbot) -> None:
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params_type(VerbConfig, exclude=("scope",), choices={"attack": ["fgsm", "pgd"]})
    assert form.field_names() == ["attack", "eps", "names", "steps"]
    assert field_kind(VerbConfig.__dataclass_fields__["eps"]) == "list"
    assert isinstance(form.widget("attack"), QComboBox) and form.widget("attack").currentText() == "pgd"
    assert form.widget("eps").text() == "0,8/255"
    form.set_values({"eps": "0, 1/255", "names": "x, y", "steps": "4", "attack": "fgsm"})
    config = form.config(scope="selection")
    assert config == VerbConfig(attack="fgsm", eps=(0.0, 1 / 255), names=("x", "y"), steps=4, scope="selection")


def test_config_marks_the_field_at_fault_and_clears_it(qtbot) -> None:
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params_type(VerbConfig)
    form.set_values({"steps": "0"})
    with pytest.raises(AdvInspectError, match="steps must be at least 1"):
        form.config()
    assert form.invalid == "steps" and form.widget("steps").styleSheet()
    assert form.widget("steps").toolTip().startswith("steps must be at least 1")
    form.set_values({"steps": "2"})
    assert form.config().steps == 2
    assert form.invalid is None and form.widget("steps").styleSheet() == ""
    assert not form.widget("steps").toolTip().startswith("steps must")
