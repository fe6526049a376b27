"""The platform-plugin check that runs before the QApplication: faked missing libraries give one
message with the apt and dnf packages; the real `advinspect gui` exits 1 instead of aborting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from advinspect.gui import platform_check as pc

ROOT = Path(__file__).resolve().parents[2]


def test_chosen_platform_follows_qt_rules() -> None:
    assert pc.chosen_platform({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"
    assert pc.chosen_platform({"QT_QPA_PLATFORM": "xcb:display=:1;offscreen"}) == "xcb"
    if sys.platform.startswith("linux"):
        assert pc.chosen_platform({}) == "xcb"
        assert pc.chosen_platform({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}) == "wayland"


def test_missing_libraries_named_with_apt_and_dnf_packages() -> None:
    status = pc.check_platform({"DISPLAY": ":0"}, missing=["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    if not sys.platform.startswith("linux"):
        pytest.skip("the xcb check runs on Linux only")
    assert not status.ok and status.checked
    assert status.missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in status.reason
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4" in status.fix
    assert "sudo dnf install xcb-util-cursor xcb-util-wm" in status.fix
    assert "QT_QPA_PLATFORM=offscreen" in status.fix


def test_unknown_library_still_named() -> None:
    hint = pc.install_hint(["libweird.so.3", "libxcb-keysyms.so.1"])
    assert "libxcb-keysyms1" in hint and "xcb-util-keysyms" in hint and "libweird.so.3" in hint


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux only")
def test_no_display_is_reported_when_libraries_resolve() -> None:
    status = pc.check_platform({}, missing=[])
    assert not status.ok and "DISPLAY" in status.reason
    assert pc.check_platform({"DISPLAY": ":0"}, missing=[]).ok


def test_headless_platforms_skip_the_check() -> None:
    status = pc.check_platform({"QT_QPA_PLATFORM": "offscreen"}, missing=["libxcb-cursor.so.0"])
    assert status.ok and not status.checked


def test_ctypes_fallback_finds_a_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pc.shutil, "which", lambda _name: None)  # no ldd
    known = ["libdefinitely-not-here-advinspect.so.9"]
    assert pc.missing_libraries(pc.plugin_path("xcb"), known) == known


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux only")
def test_ensure_platform_raises_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pc, "missing_libraries", lambda *_a, **_k: ["libxkbcommon-x11.so.0"])
    monkeypatch.setattr(pc, "plugin_path", lambda _p: Path("/fake/libqxcb.so"))
    with pytest.raises(pc.PlatformUnavailableError) as info:
        pc.ensure_platform({"DISPLAY": ":0"})
    text = str(info.value)
    assert "\n" not in text and "libxkbcommon-x11-0" in text and "libxkbcommon-x11" in text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux only")
def test_gui_exits_cleanly_instead_of_aborting() -> None:
    """No display (and, on a bare machine, missing xcb libraries): exit 1 with one message."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "advinspect", "gui", "--demo"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert 'Qt platform plugin "xcb" cannot load' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_about_and_plugins_show_the_doctor_table(make_window, dialog_log) -> None:
    window = make_window(start=False)
    window.show_about()
    window.show_plugins()
    about, plugins_text = dialog_log.questions
    for row in ("python", "torch", "onnxruntime", "settings folder", "plugin folder"):
        assert f"  {row}  " in about or f"  {row} " in about
    assert "platform plugin  offscreen (running)" in about
    assert "plugin folder" in plugins_text and "onnxruntime" not in plugins_text


def test_application_icon_has_every_rendered_size(qapp) -> None:
    from advinspect.gui.app import ICONS, app_icon

    assert (ICONS / "advinspect.svg").is_file()
    sizes = {s.width() for s in app_icon().availableSizes()}
    assert {16, 32, 48, 64, 128, 256, 512} <= sizes
    desktop = (ICONS.parent / "advinspect.desktop").read_text()
    assert "Icon=advinspect" in desktop and "Exec=advinspect gui %F" in desktop


@pytest.mark.slow
def test_smoke_entry_opens_the_demo_attacks_and_writes_a_report(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "advinspect.gui.smoke", str(tmp_path / "report")], env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("smoke OK")
    assert (tmp_path / "report" / "report.html").stat().st_size > 0
    assert (tmp_path / "report" / "report.pdf").read_bytes().startswith(b"%PDF")


def test_bundle_requirements_cover_the_runtime_dependencies() -> None:
    """packaging/requirements-bundle.txt repeats pyproject's list (with PySide6-Essentials, torch
    installed CPU-only before it): a dependency added to one must reach the other."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in deps}
    lines = (ROOT / "packaging" / "requirements-bundle.txt").read_text().splitlines()
    bundled = {re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].lower()
               for line in lines if line.strip() and not line.startswith("#")}
    # onnx2torch is installed by `make bundle` itself, without its torchvision requirement when
    # the bundle's torch has no torchvision
    if "'onnx2torch>=" in (ROOT / "Makefile").read_text():
        bundled.add("onnx2torch")
    expected = (names - {"torch", "torchvision", "pyside6"}) | {"pyside6-essentials", "pyinstaller"}
    assert bundled == expected
