"""Third-party attacks and defenses: entry points, and a plugins folder the user must enable.

A package registers an `Attack` subclass under the `advinspect.attacks` entry-point group, or a
`Transform` dataclass (at most one field, with a default) under `advinspect.defenses`. It then
appears wherever the built-ins do (CLI, GUI forms from its parameter dataclass, evaluate,
reports) and runs on the same engine. A frozen bundle cannot see entry points installed after
it was built, so a folder (`~/.config/advinspect/plugins/`, or $ADVINSPECT_PLUGINS_DIR) is read
too — only when $ADVINSPECT_ENABLE_PLUGIN_FOLDER=1 (or `--enable-plugin-folder`), because
loading a plugin runs its code. The folder holds packages installed with
`pip install --target FOLDER` (their entry points are read) and loose `*.py` modules (their
Attack / Transform subclasses are registered).

A broken plugin never stops the app: its error is recorded and `advinspect doctor` lists it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ATTACK_GROUP = "advinspect.attacks"
DEFENSE_GROUP = "advinspect.defenses"
ENABLE_ENV = "ADVINSPECT_ENABLE_PLUGIN_FOLDER"
DIR_ENV = "ADVINSPECT_PLUGINS_DIR"


@dataclass(frozen=True)
class PluginRecord:
    """One plugin as found: what it provides, or why it could not load."""

    name: str  # entry-point name or file name
    group: str  # ATTACK_GROUP, DEFENSE_GROUP, or "folder"
    origin: str  # "<distribution> <version>" or the file's path
    provides: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_records: list[PluginRecord] | None = None


def config_dir() -> Path:
    """The folder QSettings (INI, user scope) keeps advinspect's settings in, found without Qt."""
    if os.environ.get("ADVINSPECT_SETTINGS"):
        return Path(os.environ["ADVINSPECT_SETTINGS"]).expanduser().parent
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "advinspect"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "advinspect"


def plugin_folder() -> Path:
    return Path(os.environ[DIR_ENV]).expanduser() if os.environ.get(DIR_ENV) else config_dir() / "plugins"


def folder_enabled() -> bool:
    return os.environ.get(ENABLE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def enable_folder() -> None:
    """Opt in to the plugins folder for this process and the processes it starts."""
    os.environ[ENABLE_ENV] = "1"


def load_plugins(*, reload: bool = False) -> list[PluginRecord]:
    """Load every plugin once (later calls return the same records); never raises for a plugin."""
    global _records
    if _records is not None and not reload:
        return list(_records)
    _records = []  # set first: a plugin importing the registry must not recurse into here
    records: list[PluginRecord] = []
    for group in (ATTACK_GROUP, DEFENSE_GROUP):
        for ep in importlib.metadata.entry_points(group=group):
            records.append(_load_entry_point(ep, group))
    if folder_enabled():
        records.extend(_load_folder(plugin_folder()))
    _records = records
    return list(records)


def plugin_records() -> list[PluginRecord]:
    """What `load_plugins` found (loading them first if nobody has)."""
    return load_plugins()


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ep.value


def _load_entry_point(ep: importlib.metadata.EntryPoint, group: str, origin: str | None = None) -> PluginRecord:
    origin = origin or _origin(ep)
    try:
        provides = _register(ep.load(), group)
    except Exception as exc:  # a plugin may raise anything; it must not stop the app
        return PluginRecord(ep.name, group, origin, error=_describe(exc))
    return PluginRecord(ep.name, group, origin, provides)


def _load_folder(folder: Path) -> list[PluginRecord]:
    if not folder.is_dir():
        return []
    records: list[PluginRecord] = []
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # packages installed there with pip --target
    for dist in importlib.metadata.distributions(path=[str(folder)]):
        for ep in dist.entry_points:
            if ep.group in (ATTACK_GROUP, DEFENSE_GROUP):
                records.append(_load_entry_point(ep, ep.group, f"{dist.name} {dist.version} in {folder}"))
    for path in sorted(folder.glob("*.py")):
        records.append(_load_module_file(path))
    return records


def _load_module_file(path: Path) -> PluginRecord:
    """Import a loose module and register the Attack / Transform subclasses it defines."""
    name = f"advinspect_plugin_{path.stem}"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path.name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        provides: list[str] = []
        for obj in vars(module).values():
            if inspect.isclass(obj) and obj.__module__ == name and getattr(obj, "name", None):
                group = _group_of(obj)
                if group is not None:
                    provides.extend(_register(obj, group))
        if not provides:
            raise ValueError("defines no Attack or Transform subclass with a name")
    except Exception as exc:  # a plugin may raise anything; it must not stop the app
        sys.modules.pop(name, None)
        return PluginRecord(path.name, "folder", str(path), error=_describe(exc))
    return PluginRecord(path.name, "folder", str(path), tuple(provides))


def _group_of(cls: type) -> str | None:
    from advinspect.core.attacks.base import Attack
    from advinspect.core.defenses.transforms import Transform

    if issubclass(cls, Attack):
        return ATTACK_GROUP
    if issubclass(cls, Transform):
        return DEFENSE_GROUP
    return None


def _register(obj: Any, group: str) -> tuple[str, ...]:
    """Register a class (or a list of classes) of the group's kind; raise why not."""
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    names = []
    for cls in items:
        if group == ATTACK_GROUP:
            names.append(_register_attack(cls))
        else:
            names.append(_register_defense(cls))
    return tuple(names)


def _register_attack(cls: Any) -> str:
    from advinspect.core.attacks import registry
    from advinspect.core.attacks.base import Attack

    if not (inspect.isclass(cls) and issubclass(cls, Attack)):
        raise TypeError(f"{cls!r} is not an Attack subclass")
    for attr in ("name", "title", "params_type"):
        if not getattr(cls, attr, None):
            raise TypeError(f"{cls.__name__} has no {attr}")
    if not dataclasses.is_dataclass(cls.params_type):
        raise TypeError(f"{cls.__name__}.params_type is not a dataclass")
    cls()  # the default parameters must validate: the GUI form starts from them
    registry.all_attacks()  # built-ins first, so a clash is caught
    name = cls.name.strip().lower()
    taken = registry.ATTACKS.get(name)
    if taken is not None and taken is not cls:
        raise ValueError(f"attack name {name!r} is taken by {taken.__module__}.{taken.__name__}")
    registry.register(cls)
    return name


def _register_defense(cls: Any) -> str:
    from advinspect.core.defenses.transforms import TRANSFORMS, Transform

    if not (inspect.isclass(cls) and issubclass(cls, Transform) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a Transform dataclass")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    if len(fields) > 1:
        raise TypeError(f"{cls.__name__} has {len(fields)} fields; a defense takes at most one value")
    if fields and fields[0].default is dataclasses.MISSING:
        raise TypeError(f"{cls.__name__}.{fields[0].name} needs a default")
    kind = type(fields[0].default) if fields else str
    cls().describe()  # must construct and describe itself with its defaults
    name = cls.name.strip().lower()
    taken = TRANSFORMS.get(name)
    if taken is not None and taken[0] is not cls:
        raise ValueError(f"defense name {name!r} is taken by {taken[0].__module__}.{taken[0].__name__}")
    TRANSFORMS[name] = (cls, kind)
    return name


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
