"""`advinspect doctor`: every row present, OK/NOTE/FAIL with a fix, broken plugins listed, JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from advinspect.cli.main import main
from advinspect.core import doctor, plugins
from advinspect.core.plugins import PluginRecord

ROWS = ["python", "torch", "CUDA devices", "torchvision", "onnxruntime", "Qt", "platform plugin", "display",
        "settings folder", "attacks", "plugins", "plugin folder"]


@pytest.fixture(autouse=True)
def no_running_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor as run from a terminal: an app that an earlier test in this process started
    would make the platform row read "(running)" instead of checking the plugin."""
    gui = sys.modules.get("PySide6.QtGui")
    if gui is not None:
        monkeypatch.setattr(gui.QGuiApplication, "instance", staticmethod(lambda: None))


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_json_has_every_row_in_order(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    code, out = _run(capsys, "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ROWS
    assert all(r["status"] in (doctor.OK, doctor.NOTE, doctor.FAIL) for r in rows)
    assert all(r["fix"] for r in rows if r["status"] == doctor.FAIL)
    assert code == (1 if any(r["status"] == doctor.FAIL for r in rows) else 0)
    by_name = {r["name"]: r for r in rows}
    assert "CPUExecutionProvider" in by_name["onnxruntime"]["value"]
    assert by_name["platform plugin"]["value"] == "offscreen (not checked)"
    import torch

    assert torch.__version__ in by_name["torch"]["value"]
    import torchvision

    assert by_name["torchvision"] == {"name": "torchvision", "status": doctor.OK, "value": torchvision.__version__,
                                      "fix": ""}


def test_missing_torchvision_is_a_note_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torchvision", None)
    row = doctor.torchvision_check()
    assert row.status == doctor.NOTE and "not usable: ModuleNotFoundError" in row.value and "pip install torchvision" in row.fix


def test_broken_plugin_is_a_failing_row(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    records = [PluginRecord("mifgsm", plugins.ATTACK_GROUP, "advinspect-mifgsm 0.1.0", ("mifgsm",)),
               PluginRecord("boom", plugins.ATTACK_GROUP, "boom 1.0", error="RuntimeError: plugin exploded")]
    monkeypatch.setattr(plugins, "load_plugins", lambda **_kw: list(records))
    code, out = _run(capsys)
    assert code == 1
    assert "OK    plugins" in out and "mifgsm (advinspect-mifgsm 0.1.0)" in out
    line = next(line for line in out.splitlines() if "plugin boom" in line)
    assert line.startswith("FAIL") and "RuntimeError: plugin exploded (boom 1.0)" in line
    assert "fix: fix or uninstall the plugin" in out


def test_missing_xcb_libraries_fail_with_the_install_command(capsys: pytest.CaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from advinspect.gui import platform_check

    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setattr(platform_check, "plugin_path", lambda _p: Path("/fake/libqxcb.so"))
    monkeypatch.setattr(platform_check, "missing_libraries", lambda *_a, **_k: ["libxcb-cursor.so.0"])
    rows = {c.name: c for c in platform_check.qt_checks()}
    row = rows["platform plugin"]
    if not platform_check.sys.platform.startswith("linux"):
        pytest.skip("xcb is Linux only")
    assert row.status == doctor.FAIL and "libxcb-cursor.so.0" in row.value
    assert "libxcb-cursor0" in row.fix and "xcb-util-cursor" in row.fix


def test_plugin_folder_flag_enables_the_folder(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv(plugins.ENABLE_ENV, raising=False)
    monkeypatch.setenv(plugins.DIR_ENV, str(tmp_path))
    monkeypatch.setattr(plugins, "load_plugins", lambda **_kw: [])
    _, out = _run(capsys)
    assert f"{tmp_path} (not loaded" in out
    _, out = _run(capsys, "--enable-plugin-folder")
    assert f"{tmp_path} (enabled)" in out


def test_settings_folder_and_display_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert doctor.writable(tmp_path) and doctor.writable(tmp_path / "new" / "deeper")
    assert not doctor.writable(not_a_dir / "advinspect")  # root-proof: no permission bits involved
    monkeypatch.setenv("ADVINSPECT_SETTINGS", str(not_a_dir / "advinspect" / "settings.ini"))
    row = doctor.settings_check()
    assert row.status == doctor.FAIL and "ADVINSPECT_SETTINGS" in row.fix
    if doctor.sys.platform.startswith("linux"):
        assert doctor.display_check({}).status == doctor.NOTE
        assert doctor.display_check({"DISPLAY": ":0"}).value == "DISPLAY=:0"


def test_missing_attack_family_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    assert doctor.attacks_check().status == doctor.OK
    monkeypatch.delitem(sys.modules, "advinspect.core.attacks.deepfool")
    row = doctor.attacks_check()
    assert row.status == doctor.FAIL and row.value.startswith("families missing: deepfool;")


def test_table_puts_the_fix_under_its_row() -> None:
    text = doctor.format_table([doctor.Check("a", doctor.OK, "fine"),
                                doctor.Check("longer", doctor.FAIL, "broken", "do this")])
    assert text.splitlines() == ["OK    a       fine", "FAIL  longer  broken", "              fix: do this"]
