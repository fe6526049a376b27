"""What advinspect will use on this machine, each with OK or the fix: `advinspect doctor` and the
GUI's Help → About show the same table.

Headless checks only (core never imports Qt): the Qt version and platform-plugin rows come from
`advinspect.gui.platform_check.qt_checks`, which the callers append.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from advinspect import __version__
from advinspect.core import plugins

OK, NOTE, FAIL = "ok", "note", "fail"
CPU_TORCH_HINT = "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Check:
    """One row: what was checked, what was found, and — unless OK — what to do."""

    name: str
    status: str  # OK, NOTE (works, with a caveat) or FAIL (needs the fix)
    value: str
    fix: str = ""


def python_check() -> Check:
    where = "bundle" if getattr(sys, "frozen", False) else sys.executable
    return Check("python", OK, f"{platform.python_version()} on {platform.system()} {platform.machine()} "
                               f"({where}), advinspect {__version__}")


def torch_checks() -> list[Check]:
    try:
        import torch
    except ImportError as exc:
        return [Check("torch", FAIL, f"cannot import: {exc}", "pip install torch==2.14.1")]
    cuda_build = torch.version.cuda
    build = f"CUDA {cuda_build} build" if cuda_build else "CPU-only build"
    rows = [Check("torch", OK, f"{torch.__version__}, {build}")]
    if torch.cuda.is_available():
        names = [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        rows.append(Check("CUDA devices", OK, ", ".join(names)))
    elif cuda_build:
        rows.append(Check("CUDA devices", NOTE, "none usable (no GPU or driver): runs on the CPU",
                          f"for a smaller CPU-only install: {CPU_TORCH_HINT}"))
    else:
        rows.append(Check("CUDA devices", NOTE, "none (CPU-only torch): runs on the CPU"))
    return rows


def torchvision_check() -> Check:
    """torchvision gives the named architectures (resnet18, ...) for state_dicts and ONNX
    gradients through onnx2torch; without it everything else works."""
    try:
        import torchvision
    except Exception as exc:  # ImportError, or a build that does not match torch (missing C++ ops)
        return Check("torchvision", NOTE, f"not usable: {type(exc).__name__}: {str(exc)[:120]}",
                     "torchvision architectures and ONNX gradients need it: pip install torchvision "
                     "(the build matching torch)")
    return Check("torchvision", OK, torchvision.__version__)


def onnxruntime_check() -> Check:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return Check("onnxruntime", FAIL, f"cannot import: {exc}", "pip install onnxruntime (ONNX models)")
    return Check("onnxruntime", OK, f"{ort.__version__}, providers: {', '.join(ort.get_available_providers())}")


def display_check(env: dict[str, str] | None = None) -> Check:
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return Check("display", OK, "native windowing")
    found = [f"{key}={env[key]}" for key in ("WAYLAND_DISPLAY", "DISPLAY") if env.get(key)]
    if found:
        return Check("display", OK, ", ".join(found))
    if env.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return Check("display", OK, "none, offscreen rendering (QT_QPA_PLATFORM=offscreen)")
    return Check("display", NOTE, "none ($DISPLAY and $WAYLAND_DISPLAY unset): the CLI works, the GUI does not",
                 "run the GUI inside a desktop session or under xvfb-run")


def writable(folder: Path) -> bool:
    """Whether settings can be written into `folder` (created on demand: its first existing
    ancestor must then be writable). Tries a real file where the folder exists."""
    if folder.is_dir():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".advinspect-doctor-"):
                return True
        except OSError:
            return False
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)


def settings_check() -> Check:
    folder = plugins.config_dir()
    if writable(folder):
        return Check("settings folder", OK, f"{folder} (writable)")
    return Check("settings folder", FAIL, f"{folder} is not writable",
                 f"make it writable (chmod u+w {folder}) or set ADVINSPECT_SETTINGS=/a/writable/settings.ini")


def attacks_check() -> Check:
    """The attacks the tool offers; a built-in family that did not import (a broken install or
    a bundle that missed a module) fails here instead of showing up as 'unknown attack'."""
    from advinspect.core.attacks import registry

    names = sorted(registry.all_attacks())
    missing = [f for f in registry._FAMILIES if f"advinspect.core.attacks.{f}" not in sys.modules]
    if missing:
        return Check("attacks", FAIL, f"families missing: {', '.join(missing)}; have {', '.join(names) or 'none'}",
                     "reinstall advinspect (or rebuild the bundle): its attack modules are not there")
    return Check("attacks", OK, f"{len(names)}: {', '.join(names)}")


def plugin_checks() -> list[Check]:
    """One row for the plugins that loaded, one per broken plugin, one for the folder."""
    records = plugins.load_plugins()
    loaded = [r for r in records if r.ok]
    value = ", ".join(f"{'/'.join(r.provides)} ({r.origin})" for r in loaded) or "none installed"
    rows = [Check("plugins", OK, value)]
    for r in records:
        if not r.ok:
            rows.append(Check(f"plugin {r.name}", FAIL, f"{r.error} ({r.origin})",
                              "fix or uninstall the plugin; advinspect runs without it"))
    folder = plugins.plugin_folder()
    if plugins.folder_enabled():
        state = "enabled" if folder.is_dir() else "enabled, folder absent"
        rows.append(Check("plugin folder", OK, f"{folder} ({state})"))
    else:
        rows.append(Check("plugin folder", OK, f"{folder} (not loaded: set {plugins.ENABLE_ENV}=1 "
                                               "to run the code in it)"))
    return rows


def run_checks(qt: list[Check] | None = None) -> list[Check]:
    """Every headless check in the order of the table, with the caller's Qt rows in their place."""
    return [python_check(), *torch_checks(), torchvision_check(), onnxruntime_check(), *(qt or []), display_check(),
            settings_check(), attacks_check(), *plugin_checks()]


def format_table(checks: list[Check]) -> str:
    """Plain text: status, name, value; the fix on the next line where there is one."""
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():<4}  {c.name:<{width}}  {c.value}")
        if c.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    return "\n".join(lines)


def to_dicts(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
