"""QSettings access: where settings live, JSON values, recent files.

Values are stored as JSON strings so lists and dicts survive every QSettings backend alike
(a one-element list read back from an INI file is otherwise a plain string).
"""

from __future__ import annotations

import json
import os
from typing import Any

from PySide6.QtCore import QSettings

ORGANIZATION = "advinspect"
APPLICATION = "advinspect"
MAX_RECENT = 8


def make_settings(path: str | None = None) -> QSettings:
    """The user's settings, or an INI file at `path` / $ADVINSPECT_SETTINGS (tests, screenshots)."""
    path = path or os.environ.get("ADVINSPECT_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def get_json(settings: QSettings, key: str, default: Any) -> Any:
    raw = settings.value(key)
    if raw is None:
        return default
    try:
        value = json.loads(str(raw))
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def set_json(settings: QSettings, key: str, value: Any) -> None:
    settings.setValue(key, json.dumps(value))


def recent(settings: QSettings, kind: str) -> list[str]:
    return [str(p) for p in get_json(settings, f"recent/{kind}", []) if isinstance(p, str)]


def add_recent(settings: QSettings, kind: str, path: str) -> list[str]:
    """Move `path` to the front of the recent list of `kind` (models, images)."""
    items = [p for p in recent(settings, kind) if p != path]
    items.insert(0, path)
    set_json(settings, f"recent/{kind}", items[:MAX_RECENT])
    return items[:MAX_RECENT]
