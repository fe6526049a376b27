"""Can Qt open a window here? Checked before the QApplication exists, because Qt's own answer
to a missing platform library is an abort (SIGABRT, a core dump), not an exception.

On Linux the `xcb` plugin needs a dozen X libraries a bare Debian/Fedora lacks
(libxcb-cursor0, libxcb-icccm4, ...). We resolve the plugin's shared libraries (`ldd`, or a
`ctypes` load of the known list where there is no `ldd`) and turn what is missing into one
message naming the libraries and the apt / dnf packages that install them.

This module imports no Qt binary at import time: it must work where Qt itself cannot load.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from advinspect.core.doctor import FAIL, OK, Check
from advinspect.core.errors import AdvInspectError

# soname -> (Debian/Ubuntu package, Fedora/RHEL package). The libraries Qt >= 6.5's xcb plugin
# links against that desktop installs miss most often come first.
XCB_PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}

HEADLESS = {"offscreen", "minimal", "vnc"}


class PlatformUnavailableError(AdvInspectError):
    """Qt's platform plugin cannot load (missing system libraries or no display)."""


@dataclass
class PlatformStatus:
    """What the check found. `ok` False means creating a QApplication would abort."""

    platform: str  # the plugin Qt will pick: xcb, wayland, offscreen, ...
    ok: bool
    checked: bool  # False where nothing was checked (non-Linux, headless plugins, plugin not found)
    missing: list[str] = field(default_factory=list)
    reason: str = ""  # one line: why it cannot load
    fix: str = ""  # one line: what to do


def chosen_platform(env: dict[str, str] | None = None) -> str:
    """The plugin Qt will try first, as Qt picks it: $QT_QPA_PLATFORM (before any ':' options
    and ';' fallbacks), else wayland in a Wayland session, else xcb on Linux."""
    env = os.environ if env is None else env
    explicit = env.get("QT_QPA_PLATFORM", "").strip()
    if explicit:
        return explicit.split(";")[0].split(":")[0].strip().lower()
    if not sys.platform.startswith("linux"):
        return {"darwin": "cocoa", "win32": "windows"}.get(sys.platform, sys.platform)
    if env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def plugin_path(platform: str) -> Path | None:
    """The platform plugin's shared library inside the installed (or frozen) PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
        if path.exists():
            return path
    return None


def missing_libraries(plugin: Path | None, known: list[str] | None = None) -> list[str]:
    """Sonames that do not resolve: `ldd` on the plugin when there is one, else a ctypes load
    of each library in `known` (default: the xcb list)."""
    ldd = shutil.which("ldd")
    if plugin is not None and ldd:
        try:
            out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None:
            found = [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]
            return list(dict.fromkeys(found))
    missing = []
    for soname in known if known is not None else list(XCB_PACKAGES):
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def install_hint(missing: list[str]) -> str:
    """'sudo apt install ... (Debian/Ubuntu) or sudo dnf install ... (Fedora/RHEL)'."""
    apt = list(dict.fromkeys(XCB_PACKAGES[s][0] for s in missing if s in XCB_PACKAGES))
    dnf = list(dict.fromkeys(XCB_PACKAGES[s][1] for s in missing if s in XCB_PACKAGES))
    unknown = [s for s in missing if s not in XCB_PACKAGES]
    hint = ""
    if apt:
        hint = (f"sudo apt install {' '.join(apt)} (Debian/Ubuntu) or "
                f"sudo dnf install {' '.join(dnf)} (Fedora/RHEL)")
    if unknown:
        hint += ("; " if hint else "") + f"install the packages providing {', '.join(unknown)}"
    return hint


def check_platform(env: dict[str, str] | None = None, *, missing: list[str] | None = None) -> PlatformStatus:
    """Whether Qt's platform plugin can load. `missing` replaces the library lookup (tests)."""
    env = os.environ if env is None else env
    platform = chosen_platform(env)
    if platform in HEADLESS or not sys.platform.startswith("linux"):
        return PlatformStatus(platform, ok=True, checked=False)
    if platform not in ("xcb", "wayland"):
        return PlatformStatus(platform, ok=True, checked=False)
    plugin = plugin_path(platform)
    if missing is None:
        if plugin is None:  # an unusual layout: let Qt try and speak for itself
            return PlatformStatus(platform, ok=True, checked=False)
        missing = missing_libraries(plugin, list(XCB_PACKAGES) if platform == "xcb" else [])
    headless_tip = "or run headless with QT_QPA_PLATFORM=offscreen"
    if missing:
        return PlatformStatus(
            platform, ok=False, checked=True, missing=missing,
            reason=f"missing {', '.join(missing)}",
            fix=f"{install_hint(missing)}; {headless_tip}")
    display = "DISPLAY" if platform == "xcb" else "WAYLAND_DISPLAY"
    if not env.get(display):
        return PlatformStatus(platform, ok=False, checked=True,
                              reason=f"no display (${display} is not set)",
                              fix=f"run inside a desktop session (or under xvfb-run), {headless_tip}")
    return PlatformStatus(platform, ok=True, checked=True)


def ensure_platform(env: dict[str, str] | None = None) -> None:
    """Raise `PlatformUnavailableError` (one line) where creating a QApplication would abort."""
    status = check_platform(env)
    if not status.ok:
        raise PlatformUnavailableError(
            f'the Qt platform plugin "{status.platform}" cannot load: {status.reason}. '
            f"Fix: {status.fix}")


def qt_versions() -> tuple[str, str]:
    """(Qt, PySide6) versions, without loading a platform plugin."""
    import PySide6
    from PySide6.QtCore import qVersion

    return qVersion(), PySide6.__version__


def qt_checks(env: dict[str, str] | None = None) -> list[Check]:
    """The doctor's Qt rows: Qt / PySide6 versions and whether the platform plugin loads."""
    try:
        qt, pyside = qt_versions()
    except ImportError as exc:
        return [Check("Qt", FAIL, f"cannot import PySide6: {exc}", 'pip install "PySide6>=6.8,<6.12"')]
    rows = [Check("Qt", OK, f"Qt {qt}, PySide6 {pyside}")]
    gui = sys.modules.get("PySide6.QtGui")
    app = gui.QGuiApplication.instance() if gui is not None else None
    if app is not None:  # asked from inside the running app: the plugin evidently loaded
        rows.append(Check("platform plugin", OK, f"{app.platformName()} (running)"))
        return rows
    status = check_platform(env)
    if status.ok:
        how = "libraries resolve" if status.checked else "not checked"
        rows.append(Check("platform plugin", OK, f"{status.platform} ({how})"))
    else:
        rows.append(Check("platform plugin", FAIL, f"{status.platform} cannot load: {status.reason}", status.fix))
    return rows
