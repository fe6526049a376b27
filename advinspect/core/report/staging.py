"""Atomic result folders: a run's whole output is written into a staging folder beside the
target and swapped into place at the end, so a reader (or a kill at any moment) sees either the
previous folder or the new one, never a mix of two runs.

How: the stage is a short-named sibling (`.advinspect-stage-<tag>-<pid>-<random>`), on the same
file system, so the swap is a rename. On Linux the two folders are exchanged in one atomic
`renameat2(RENAME_EXCHANGE)`; elsewhere the old folder is renamed aside first, and a kill in the
instant between the two renames is repaired by the next run (the old folder comes back). Stale
stages of killed runs (their process is gone) are removed by the next run in the same place.

What survives a swap: files other advinspect commands wrote into the same folder (e.g. the
evaluation.json beside a report) are carried into the new folder by hard links; the files of the
previous run that the new one replaces (results.json, PNG folders, report files) are not. A
folder holding anything advinspect does not write is refused rather than swapped, so pointing
--out at a folder of one's own never deletes a file.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from advinspect.core.report.errors import ReportError

STAGE_PREFIX = ".advinspect-stage-"
OLD_PREFIX = ".advinspect-old-"
RUN_NAMES = frozenset({"results.json", "samples.csv", "report.html", "report.pdf", "adversarial", "saliency",
                       "images", "plots"})
"""Entries that belong to one run's results or report: replaced whole, never carried over."""
OTHER_NAMES = frozenset({"evaluation.json", "robustness.png", "reliability.png", "histograms.png", "confusion.png",
                         "certification.json", "detection.json", "comparison.json", "shards"})
"""Entries other commands write into the same folder: carried into the new folder."""
SYSTEM_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})
"""Files file managers drop into any folder they show: carried over, never a reason to refuse."""
STALE_SECONDS = 24 * 3600  # where a process cannot be asked whether it lives (not POSIX)


def _tag(target: Path) -> str:
    return hashlib.sha256(target.name.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def _stage_prefix(target: Path, prefix: str = STAGE_PREFIX) -> str:
    """Short, and enough to clean up after a kill: which target (a hash of its name) and which
    process (stale once it is gone)."""
    return f"{prefix}{_tag(target)}-{os.getpid()}-"


def _target(out: str | Path) -> Path:
    """The folder to replace: absolute, with a symlinked folder replaced at its real place."""
    path = Path(os.path.abspath(out))
    return path.resolve() if path.is_symlink() else path


def _os_error(exc: OSError, out: str | Path, what: str) -> ReportError:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return ReportError(f"cannot write {what} to {out}: {reason}{where}")


def _foreign(target: Path) -> list[str]:
    """Names in `target` that advinspect does not write (a folder of the user's own)."""
    return sorted(e.name for e in os.scandir(target)
                  if not (_belongs_to_run(e.name) or e.name.removesuffix(".part") in OTHER_NAMES
                          or e.name in SYSTEM_NAMES))


def check_writable(out: str | Path, what: str = "results") -> None:
    """Fail now, before a long computation, if `out` cannot become a results folder: it is a
    file, its parent cannot hold the staging folder, it is not writable, or it holds files of
    the user's own that a swap would replace. Creates missing parent folders."""
    target = _target(out)
    try:
        existing = next(p for p in (target, *target.parents) if p.exists())
        if not existing.is_dir():
            raise ReportError(f"cannot write {what} to {out}: {existing} is a file, not a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=_stage_prefix(target), dir=target.parent))
        if target.is_dir():
            cwd = Path.cwd()
            if cwd == target or target in cwd.parents:  # the swap would leave the shell in a deleted folder
                raise ReportError(f"cannot write {what} to {out}: it is (or holds) the current folder; "
                                  "choose a folder of its own")
            if not os.access(target, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "Permission denied", str(target))
            foreign = _foreign(target)
            if foreign:
                shown = ", ".join(repr(n) for n in foreign[:3]) + (f" and {len(foreign) - 3} more"
                                                                   if len(foreign) > 3 else "")
                raise ReportError(f"cannot write {what} to {out}: it holds files advinspect did not write "
                                  f"({shown}); choose a new or empty folder")
    except OSError as exc:
        raise _os_error(exc, out, what) from None


def _alive(pid: int, path: Path) -> bool:
    """Whether the run that made `path` may still be writing it."""
    if os.name != "posix":  # os.kill(pid, 0) would send Ctrl+C on Windows: judge by age instead
        try:
            return time.time() - path.stat().st_mtime < STALE_SECONDS
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _owner_pid(name: str, prefix: str) -> int | None:
    parts = name[len(prefix):].split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def clean_stale(target: Path) -> None:
    """Repair what killed runs left beside `target`: restore a folder renamed aside whose
    replacement never arrived, and remove stages and old folders of processes that are gone."""
    parent = target.parent
    if not parent.is_dir():
        return
    tag = _tag(target)
    for entry in sorted(parent.iterdir()):
        name = entry.name
        for prefix in (STAGE_PREFIX, OLD_PREFIX):
            if not name.startswith(prefix):
                continue
            pid = _owner_pid(name, prefix)
            if pid is None or _alive(pid, entry):
                continue
            if prefix == OLD_PREFIX:
                if not name.startswith(f"{OLD_PREFIX}{tag}-"):
                    continue  # another target's: only a run for that folder knows whether to restore it
                if not target.exists():
                    os.rename(entry, target)
                    continue
            shutil.rmtree(entry, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _link_tree(src: Path, dst: Path) -> None:
    """`src` at `dst` by hard links (a copy where links are not possible); the files are the
    same, so removing the old folder later loses nothing."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        dst.mkdir()
        for child in src.iterdir():
            _link_tree(child, dst / child.name)
    elif src.is_file():
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def _belongs_to_run(name: str) -> bool:
    base = name[:-5] if name.endswith(".part") else name
    return base in RUN_NAMES or name.startswith((STAGE_PREFIX, OLD_PREFIX))


def _carry_over(target: Path, stage: Path) -> None:
    """Everything in `target` but the previous run's own entries goes into the new folder."""
    for entry in target.iterdir():
        if not _belongs_to_run(entry.name) and not (stage / entry.name).exists():
            _link_tree(entry, stage / entry.name)


def swap_into_place(stage: Path, target: Path) -> None:
    """Make the staged folder `target`; the previous folder is gone afterwards."""
    if not target.exists():
        os.rename(stage, target)
        return
    _carry_over(target, stage)
    if _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # it holds the previous folder now
        return
    old = Path(tempfile.mkdtemp(prefix=_stage_prefix(target, OLD_PREFIX), dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(stage, target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_folder(out: str | Path, what: str = "results") -> Iterator[Path]:
    """Yield an empty staging folder; when the block ends normally it becomes `out` (replacing
    it whole), otherwise it is removed and `out` stays as it was. OSErrors become one
    ReportError line naming `what` and `out`."""
    check_writable(out, what)
    target = _target(out)
    try:
        clean_stale(target)
        stage = Path(tempfile.mkdtemp(prefix=_stage_prefix(target), dir=target.parent))
    except OSError as exc:
        raise _os_error(exc, out, what) from None
    try:
        yield stage
        swap_into_place(stage, target)
    except OSError as exc:
        raise _os_error(exc, out, what) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
