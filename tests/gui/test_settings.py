"""Settings never unpickle: a planted `@Variant(...)` pickle in the INI never runs, defaults are
used instead, and everything the app stores is plain text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from advinspect.gui.settings import (
    dropped_keys,
    flag,
    get_bytes,
    get_json,
    make_settings,
    number,
    recent,
    sanitize_ini,
    set_bytes,
    text,
    unsafe_line,
)


class _Payload:
    """Unpickling this creates the directory `marker`: proof that the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def hostile_ini(folder: Path, marker: Path) -> bytes:
    """An INI file as PySide writes it when given a Python object: `@Variant(` + a QDataStream of
    a `PySide::PyObjectWrapper` holding a pickle, beside ordinary values (written by QSettings
    itself at a path no other test reads, so no QSettings cache is shared with the target)."""
    writer = QSettings(str(folder / "writer.ini"), QSettings.Format.IniFormat)
    writer.setValue("theme", "dark")
    writer.setValue("recent/models", '["/models/a@v2.pt", "/models/b.onnx"]')
    writer.setValue("window/state", _Payload(marker))
    writer.setValue("export/folder", ["/safe", _Payload(marker)])  # a list: one element a pickle
    writer.sync()
    assert writer.status() == QSettings.Status.NoError
    data = (folder / "writer.ini").read_bytes()
    assert b"@Variant(" in data and b"PySide::PyObjectWrapper" in data
    return data


def test_the_hostile_file_runs_its_payload_in_plain_qsettings(tmp_path: Path) -> None:
    """The control: without sanitizing, a typed read of a key in the payload's section runs it."""
    marker = tmp_path / "ran"
    control = tmp_path / "control.ini"
    control.write_bytes(hostile_ini(tmp_path, marker))
    plain = QSettings(str(control), QSettings.Format.IniFormat)
    assert plain.value("theme", "", type=str) == "dark" and not marker.exists()  # another section
    plain.value("window/geometry", "", type=str)  # absent, but in the payload's section
    assert marker.exists()


def test_make_settings_never_runs_a_pickled_value(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "settings.ini"
    path.write_bytes(hostile_ini(tmp_path, marker))
    settings = make_settings(str(path))
    assert text(settings, "theme") == "dark"  # ordinary values survive
    assert recent(settings, "models") == ["/models/a@v2.pt", "/models/b.onnx"]
    assert get_bytes(settings, "window/state") == b""  # the pickled value is gone: default
    assert text(settings, "export/folder", "default") == "default"
    assert sorted(dropped_keys(settings)) == ["export/folder", "window/state"]
    settings.setValue("theme", "light")
    settings.sync()  # a write re-reads the file: still nothing runs
    assert b"@Variant" not in path.read_bytes()
    assert not marker.exists()


def test_window_starts_on_a_hostile_settings_file(make_window, settings_path: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    Path(settings_path).write_bytes(hostile_ini(tmp_path, marker))
    window = make_window(start=False)
    assert window.theme == "dark"
    assert "settings: ignored window/state (not plain text" in window.log_panel.text()
    window.close()  # saves the settings: a write and a sync on the cleaned file
    assert not marker.exists()
    saved = Path(settings_path).read_bytes()
    assert b"@" not in saved.replace(b"a@v2", b"")  # only text: geometry and state as base64


def test_layout_round_trips_as_text(make_window, settings_path: str) -> None:
    first = make_window(start=False)
    first.resize(1300, 850)
    first.log_panel.setFloating(True)
    expected = first.saveGeometry().data()
    first.close()
    settings = make_settings(settings_path)
    assert get_bytes(settings, "window/geometry") == expected and not dropped_keys(settings)
    second = make_window(start=False)
    # (the offscreen screen is 800x800: Qt fits a restored geometry to it, so sizes are not compared)
    assert second.log_panel.isFloating()


@pytest.mark.parametrize("line", [
    rb"k=@Variant(\0\0\0\x7f)",
    rb"k=  @DateTime(\0)",
    rb"k=safe, @Variant(\0)",
    rb'k="@Variant(\0)"',
    rb'k=" " @Variant(x)',
    rb"k=\x40Variant(x)",  # a hex escape could spell '@'
    rb"k=\100Variant(x)",  # so could an octal one
    rb"k=\z@Variant(x)",  # Qt drops an unknown escape
    rb'"a=b"=@Variant(x)',  # the value starts after a quoted '=' in the key
    b"k=abc\\",  # a backslash at the end continues the line
    b"k=abc\\\\\\",  # an escaped backslash, then a continuation
    rb"@k=1",
    rb"k=;@Variant(x)",
])
def test_unsafe_lines(line: bytes) -> None:
    assert unsafe_line(line)


@pytest.mark.parametrize("line", [
    b"[General]",
    b"theme=dark",
    rb'models="[\"/a/b@c.pt\", \"C:\\\\m@x\\\\y.pt\"]"',
    rb'last="{\"pgd\": {\"eps\": \"8/255\"}}"',
    b"n=3",
    b"geometry=AdnQywADAAA=",
    b"",
])
def test_safe_lines(line: bytes) -> None:
    assert not unsafe_line(line)


def test_lines_split_like_qt(tmp_path: Path) -> None:
    """CR alone ends a line for Qt, so a value hidden after one is checked as its own line."""
    path = tmp_path / "s.ini"
    path.write_bytes(b"[General]\r\ntheme=dark\rstate=@Variant(x)\nn=3\n")
    assert sanitize_ini(path) == ["state"]
    assert path.read_bytes() == b"[General]\ntheme=dark\nn=3\n"
    assert sanitize_ini(path) == [] and sanitize_ini(tmp_path / "absent.ini") == []


def test_typed_readers(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    path.write_bytes(b"[General]\nlist=a, b\nn=3\nbad=x\nyes=true\nj=[1]\nb64=@@notbase64\n")
    s = make_settings(str(path))
    assert text(s, "list", "d") == "d"  # a string list is not a string
    assert number(s, "n") == 3 and number(s, "bad", 7) == 7
    assert flag(s, "yes") is True and flag(s, "absent", True) is True
    assert get_json(s, "j", []) == [1] and get_json(s, "j", {}) == {}
    assert get_bytes(s, "b64") == b"" and dropped_keys(s) == ["b64"]
    set_bytes(s, "raw", b"\x00\x01@")
    assert get_bytes(s, "raw") == b"\x00\x01@"


def test_an_unsafe_file_that_cannot_be_rewritten_is_not_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "settings.ini"
    path.write_bytes(b"[General]\ntheme=dark\nstate=@Variant(x)\n")

    def read_only(*args):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    settings = make_settings(str(path))
    assert settings.fileName() != str(path) and text(settings, "theme", "light") == "light"
    assert dropped_keys(settings) == [f"all of {path} (cannot be cleaned: Read-only file system; "
                                      "changes are not saved)"]
    assert b"@Variant" in path.read_bytes() and not (tmp_path / "settings.ini.clean").exists()
