"""The one place the GUI, the CLI and reports look attacks up by name.

Built-in families load first, then plugins (`advinspect.attacks` entry points and, when
enabled, the plugins folder: see core/plugins.py); a broken plugin is recorded, never raised.
"""

from __future__ import annotations

import importlib

from advinspect.core.attacks.base import Attack
from advinspect.core.attacks.base import black_box_names as base_black_box_names
from advinspect.core.errors import AdvInspectError

ATTACKS: dict[str, type[Attack]] = {}

# Modules holding attack families; each registers its classes on import.
_FAMILIES = ("gradient", "deepfool", "cw", "pixel", "blackbox", "apgd", "fab", "autoattack",
             "fmn")
_loaded = False


def register(cls: type[Attack]) -> type[Attack]:
    ATTACKS[cls.name] = cls
    return cls


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for family in _FAMILIES:
        try:
            importlib.import_module(f"advinspect.core.attacks.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"advinspect.core.attacks.{family}":
                raise  # a real missing dependency, not a family not written yet


def all_attacks() -> dict[str, type[Attack]]:
    _load_families()
    return dict(ATTACKS)


def get_attack(name: str) -> type[Attack]:
    attacks = all_attacks()
    key = name.strip().lower()
    if key not in attacks:
        raise AdvInspectError(f"unknown attack {name!r}; available: {', '.join(sorted(attacks))}")
    return attacks[key]


def black_box_names() -> list[str]:
    _load_families()
    return base_black_box_names()
