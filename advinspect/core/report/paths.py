"""Names of the files a results folder holds, and confinement of the paths a results file names.

Why: results.json is input too (`advinspect report results.json`), and a crafted one must not
make us read or write outside its folder. Two rules follow:

- **Written** files always get names we generate from the sample's `file` (sanitized: no `..`,
  no absolute part, no control characters, each component short enough for any file system);
  a field of the results file is never used as a destination.
- **Read** files named by the results file (the adversarial and saliency PNGs) are confined:
  a relative path without `..`, resolved (symlinks included) inside the results folder.
  Originals (`source`) are the exception: they live wherever the user's images are, so they may
  be absolute; they are only decoded as images for the cards, never written, copied or moved.

Long names: a component longer than MAX_NAME_BYTES (UTF-8) is cut and given a hash of the whole
original name, so a 254-character image name still leaves room for temporary suffixes (`.part`)
under the usual 255-byte limit. The row in results.json records the name actually used
(`adversarial`, `saliency_*`), which is the mapping from `file` to the PNG.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from advinspect.core.report.errors import ResultsFileError

MAX_NAME_BYTES = 200  # per path component; 255 is the common limit, the rest is for suffixes
_HASH_CHARS = 10


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]


def _fit(stem: str, tail: str, key: str, changed: bool) -> str:
    """`stem + tail`, with `~<hash of key>` when the stem was altered or is cut to fit."""
    limit = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    marker = f"~{_digest(key)}"
    if not changed and len(stem.encode("utf-8", "surrogatepass")) <= limit:
        return stem + tail
    room = limit - len(marker)
    cut = stem.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    return cut + marker + tail


def _clean(component: str) -> tuple[str, bool]:
    """A component with control characters and backslashes replaced, '.'/'..' neutralized."""
    text = "".join("_" if (ord(c) < 32 or c in "\\\x7f") else c for c in component)
    text = text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text
    if text in ("", ".", ".."):
        text = "_"
    return text, text != component


def _has_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def sample_path(folder: str, file: str, tail: str = ".png") -> str:
    """Where a sample's generated file lives, relative to the results folder: `folder/` plus the
    sample's relative name with its extension replaced by `tail` (e.g. '.png', '.original.png').
    Safe for any `file` string: the result never leaves `folder`."""
    parts = [p for p in file.replace("\\", "/").split("/") if p not in ("",)] or ["_"]
    *dirs, last = parts
    out = [folder]
    for part in dirs:
        text, changed = _clean(part)
        out.append(_fit(text, "", file + "/" + part, changed))
    text, changed = _clean(last)
    stem = text.rsplit(".", 1)[0] if "." in text.lstrip(".") else text
    out.append(_fit(stem or "_", tail, file, changed))
    return "/".join(out)


def flat_name(file: str, tail: str) -> str:
    """One flat component for a sample (report images): the relative name with '/' as '__'."""
    text = "".join(c if c.isalnum() or c in "-_." else "_" for c in file.replace("/", "__"))
    stem = text.rsplit(".", 1)[0] if "." in text.lstrip(".") else text
    stem = stem.strip(".") or "_"
    return _fit(stem, tail, file, False)


def check_relative(rel: str, where: str) -> str:
    """`rel` as written in a results file must be a plain relative path inside its folder."""
    if not rel or "\x00" in rel:
        raise ResultsFileError(f"{where}: empty path or NUL character")
    posix = PurePosixPath(rel.replace("\\", "/"))
    if posix.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise ResultsFileError(f"{where}: {rel[:80]!r} is an absolute path; results files name files "
                               "relative to their folder")
    if any(part == ".." for part in posix.parts):
        raise ResultsFileError(f"{where}: {rel[:80]!r} leaves the results folder")
    return rel


def confined(base: Path, rel: str, where: str) -> Path:
    """`base/rel` for reading, if it resolves (symlinks followed) inside `base`."""
    check_relative(rel, where)
    try:
        root = Path(base).resolve()
        path = (root / rel).resolve()
    except (OSError, ValueError) as exc:  # a loop of symlinks, a name the file system cannot hold
        raise ResultsFileError(f"{where}: {rel[:80]!r} cannot be resolved ({exc})") from None
    if path != root and root not in path.parents:
        raise ResultsFileError(f"{where}: {rel[:80]!r} resolves outside the results folder")
    return path


def readable_source(base: Path, source: str) -> Path:
    """An original image named by `source`: absolute, or relative to the results folder. Read
    only; a regular file (a FIFO or device would block or never end)."""
    path = Path(source)
    path = path if path.is_absolute() else Path(base) / path
    if not path.is_file():
        raise FileNotFoundError(source)
    return path


__all__ = ["MAX_NAME_BYTES", "check_relative", "confined", "flat_name", "readable_source", "sample_path"]
