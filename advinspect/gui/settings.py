"""QSettings access: where settings live, typed reads, JSON values, recent files.

Never a pickle. PySide stores a Python object given to `setValue` in the INI file as a pickle
(`@Variant(...PySide::PyObjectWrapper...)`), and Qt deserializes every value of a section as
soon as any key of that section is read (a typed `value(key, type=str)` included, even of an
absent key), and of the whole file on `allKeys()` or a write's `sync()`, which unpickles them: a
planted settings file would run code at start-up (measured with PySide6 6.11). So `make_settings` first rewrites the file
without any line Qt could read as a serialized value (`sanitize_ini`), and this module stores
only text: str, int, bool, JSON text, bytes as base64. Read with `text`, `number`, `flag`,
`get_json`, `get_bytes`.

Values are stored as JSON strings so lists and dicts survive every QSettings backend alike
(a one-element list read back from an INI file is otherwise a plain string).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

ORGANIZATION = "advinspect"
APPLICATION = "advinspect"
MAX_RECENT = 8

# Escapes that stand for one literal character in Qt's INI reader. Any other escape (\x.., octal,
# a backslash before a line break or an unknown letter, which Qt drops) could hide an '@' or a
# separator from this scanner, so a line with one is dropped.
_PLAIN_ESCAPES = frozenset(b"\\\"'?abfnrtv")
_LINE_BREAK = re.compile(rb"\r\n|\n\r|\r|\n")


def make_settings(path: str | None = None) -> QSettings:
    """The user's settings, or an INI file at `path` / $ADVINSPECT_SETTINGS (tests, screenshots);
    cleaned of serialized values before Qt reads it (see the module docstring)."""
    path = path or os.environ.get("ADVINSPECT_SETTINGS")
    if not path:  # only the file name: Qt reads nothing until a value is accessed
        path = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                         ORGANIZATION, APPLICATION).fileName()
    try:
        dropped = sanitize_ini(path)
    except OSError as exc:  # an unsafe file we cannot rewrite: Qt must not read it; start empty
        dropped = [f"all of {path} (cannot be cleaned: {exc.strerror or exc}; changes are not saved)"]
        path = str(Path(tempfile.mkdtemp(prefix="advinspect-settings-")) / "settings.ini")
    settings = QSettings(path, QSettings.Format.IniFormat)
    settings.setFallbacksEnabled(False)  # no system-wide or organization-wide file is read
    settings.setProperty("dropped_keys", json.dumps(dropped))
    return settings


def dropped_keys(settings: QSettings) -> list[str]:
    """Keys `make_settings` removed from the file as unsafe (for one line each in the Log)."""
    found = settings.property("dropped_keys")
    return [str(k) for k in json.loads(found)] if isinstance(found, str) else []


def unsafe_line(line: bytes) -> bool:
    """Whether Qt could read this INI line as anything but plain text: an element that starts
    with '@' (`@Variant(`, `@DateTime(`: a QDataStream, possibly a pickle), or an escape that
    could hide one. Conservative: every ',', '=' and ';' counts as the start of an element,
    and quotes and blanks before the '@' are skipped, whether Qt would split there or not."""
    at_start = True
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == ord("\\"):
            if i + 1 >= len(line) or line[i + 1] not in _PLAIN_ESCAPES:
                return True
            at_start = False
            i += 2
            continue
        if ch == ord("@") and at_start:
            return True
        if ch in b",=;":
            at_start = True
        elif ch not in b" \t\"":
            at_start = False
        i += 1
    return False


def sanitize_ini(path: str | os.PathLike[str]) -> list[str]:
    """Remove every unsafe line (`unsafe_line`) from the INI file at `path` before Qt parses it;
    returns the keys removed. The file is rewritten (atomically) only when something is removed.
    Lines are split at CR and LF, as Qt splits them, so what is checked is what Qt reads."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError:  # absent (a first start) or unreadable: Qt reads nothing from it either
        return []
    kept: list[bytes] = []
    dropped: list[str] = []
    section = ""
    for line in _LINE_BREAK.split(data):
        if line.strip().startswith(b"[") and not unsafe_line(line):
            section = line.strip()[1:-1].decode("utf-8", "replace")
        if not unsafe_line(line):
            kept.append(line)
            continue
        key = line.split(b"=", 1)[0].strip().decode("utf-8", "replace") or "?"
        dropped.append(key if section in ("", "General") else f"{section}/{key}")
    if not dropped:
        return []
    staging = file.with_name(file.name + ".clean")
    cleaned = b"\n".join(kept)
    try:
        staging.write_bytes(cleaned if cleaned.endswith(b"\n") else cleaned + b"\n")
        os.replace(staging, file)
    except OSError:
        staging.unlink(missing_ok=True)
        raise
    return dropped


def text(settings: QSettings, key: str, default: str = "") -> str:
    """A string setting; anything else (a list, an unsafe value already dropped) gives `default`."""
    value = settings.value(key, None)
    return value if isinstance(value, str) else default


def number(settings: QSettings, key: str, default: int = 0) -> int:
    try:
        return int(text(settings, key, str(default)))
    except ValueError:
        return default


def flag(settings: QSettings, key: str, default: bool = False) -> bool:
    value = text(settings, key, "").strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(value, default)


def get_bytes(settings: QSettings, key: str) -> bytes:
    """Bytes stored as base64 text (window geometry and dock state); b"" when absent or bad."""
    try:
        return base64.b64decode(text(settings, key).encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return b""


def set_bytes(settings: QSettings, key: str, value: bytes) -> None:
    settings.setValue(key, base64.b64encode(bytes(value)).decode("ascii"))


def get_json(settings: QSettings, key: str, default: Any) -> Any:
    raw = text(settings, key, "")
    if not raw:
        return default
    try:
        value = json.loads(raw)
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
