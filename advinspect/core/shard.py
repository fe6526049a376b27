"""Sharded runs: each rank walks its contiguous slice and appends its per-sample rows to its own
file as it goes; a killed rank resumes after its last complete row; a merge reads every shard's
rows, checks that they cover the set exactly once, and sorts them by global index. Aggregates
are then computed once from the merged rows (never averaged per rank).

Files in a shard folder, for rank r of K:
  rows-r-of-K.jsonl   one canonical JSON object per line (sorted keys), appended per batch
  meta-r-of-K.json    what the run was (verb, config, files' fingerprint): a resume or a merge
                      refuses shards of a different run
  done-r-of-K.json    written when the rank finished its slice (its own notes: warnings, time)
  progress-r-of-K     rows done so far, read by rank 0 for the aggregated progress bar

torch.distributed is used only to wait for all ranks at the end (gloo on CPUs, NCCL on GPUs);
nothing collective runs during the work, so a rank that dies stops nobody's rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError

_NAME = re.compile(r"^meta-(\d+)-of-(\d+)\.json$")


def row_line(row: dict[str, Any]) -> str:
    """The one serialization of a row: the same row gives the same bytes in every shard."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def fingerprint(data: Any) -> str:
    """A short digest of what defines a run (verb, config, file list, model): shards with
    different fingerprints are different runs and never mixed."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rank:
    """This process's place in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Rank:
        """torchrun's RANK, WORLD_SIZE and LOCAL_RANK."""
        try:
            rank = int(os.environ.get("RANK", "0"))
            world = int(os.environ.get("WORLD_SIZE", "1"))
            local = int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError:
            raise AdvInspectError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
        if world < 1 or not 0 <= rank < world:
            raise AdvInspectError(f"RANK {rank} is not in a WORLD_SIZE of {world}")
        return cls(rank, world, local)


class ShardFiles:
    """One rank's files in `folder`."""

    def __init__(self, folder: str | Path, rank: int, world: int) -> None:
        self.folder, self.rank, self.world = Path(folder), rank, world
        tag = f"{rank}-of-{world}"
        self.rows = self.folder / f"rows-{tag}.jsonl"
        self.meta = self.folder / f"meta-{tag}.json"
        self.done = self.folder / f"done-{tag}.json"
        self.progress = self.folder / f"progress-{tag}"
        self._handle: Any = None
        self.n_rows = 0

    def open(self, meta: dict[str, Any], *, resume: bool) -> list[dict[str, Any]]:
        """Start or resume this rank: returns the rows already written (a resume), after
        cutting a torn last line. Refuses another run's shard, or an existing one without
        `resume`. Shards of another world size in the folder are refused too."""
        self.folder.mkdir(parents=True, exist_ok=True)
        others = [p.name for p in self.folder.glob("meta-*-of-*.json")
                  if not p.name.endswith(f"-of-{self.world}.json")]
        if others:
            raise AdvInspectError(f"{self.folder} holds shards of a run with another number of shards "
                                  f"({others[0]}); use the same number, or another folder")
        rows: list[dict[str, Any]] = []
        if self.meta.exists():
            if not resume:
                raise AdvInspectError(f"{self.folder} already holds shard {self.rank} of {self.world}; "
                                      "pass --resume to continue it, or --force to start over")
            old = _read_json(self.meta)
            if old.get("fingerprint") != meta.get("fingerprint"):
                raise AdvInspectError(f"{self.meta} belongs to another run (other settings, files or model); "
                                      "--resume continues only the same run")
            rows = self._read_rows_and_trim()
            self.done.unlink(missing_ok=True)
        else:
            self.rows.unlink(missing_ok=True)
            self.done.unlink(missing_ok=True)
            _write_json(self.meta, meta)
        self.n_rows = len(rows)
        self._handle = open(self.rows, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._write_progress()
        return rows

    def _read_rows_and_trim(self) -> list[dict[str, Any]]:
        if not self.rows.exists():
            return []
        data = self.rows.read_bytes()
        keep = data.rfind(b"\n") + 1  # a line without its newline was torn by a kill
        if keep < len(data):
            with open(self.rows, "r+b") as f:
                f.truncate(keep)
        return [json.loads(line) for line in data[:keep].decode("utf-8").splitlines() if line]

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write rows and make them durable before going on: a kill loses at most this batch."""
        lines = [row_line(r) + "\n" for r in rows]
        self._handle.write("".join(lines))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.n_rows += len(lines)
        self._write_progress()

    def _write_progress(self) -> None:
        tmp = self.progress.with_name(self.progress.name + ".part")
        tmp.write_text(str(self.n_rows))
        tmp.replace(self.progress)

    def finish(self, notes: dict[str, Any]) -> None:
        """Mark the slice complete, with this rank's notes (warnings, seconds, cancelled)."""
        self.close()
        _write_json(self.done, notes)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def rows_done(folder: str | Path, world: int) -> int:
    """Rows written so far by all ranks (for rank 0's progress bar)."""
    total = 0
    for rank in range(world):
        path = Path(folder) / f"progress-{rank}-of-{world}"
        try:
            total += int(path.read_text() or 0)
        except (OSError, ValueError):
            continue  # not started yet, or being replaced this instant
    return total


@dataclass
class Merged:
    """Every shard's rows in global-index order, with the run's meta and each rank's notes."""

    meta: dict[str, Any]
    rows: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    complete: bool  # every shard finished (else the rows are what the ranks did before stopping)


def merge_shards(folder: str | Path, *, allow_incomplete: bool = False) -> Merged:
    """Read the shards in `folder`: one run, every rank present, each sample exactly once."""
    folder = Path(folder)
    found = sorted((int(m.group(1)), int(m.group(2))) for p in folder.glob("meta-*-of-*.json")
                   if (m := _NAME.match(p.name)))
    if not found:
        raise AdvInspectError(f"no shards in {folder} (meta-R-of-K.json files)")
    worlds = {k for _, k in found}
    if len(worlds) > 1:
        raise AdvInspectError(f"{folder} mixes runs with {sorted(worlds)} shards")
    world = worlds.pop()
    missing = sorted(set(range(world)) - {r for r, _ in found})
    if missing:
        raise AdvInspectError(f"shard {missing[0]} of {world} never started in {folder}: rerun the command "
                              "with --resume")
    files = [ShardFiles(folder, r, world) for r in range(world)]
    metas = [_read_json(f.meta) for f in files]
    if len({m.get("fingerprint") for m in metas}) > 1:
        raise AdvInspectError(f"the shards in {folder} come from different runs (settings, files or model differ)")
    unfinished = [f.rank for f in files if not f.done.exists()]
    if unfinished and not allow_incomplete:
        raise AdvInspectError(f"shard {unfinished[0]} of {world} did not finish: rerun the same command with "
                              "--resume to complete it")
    rows: list[dict[str, Any]] = []
    for f in files:
        rows.extend(_read_rows(f.rows))
    rows.sort(key=lambda r: r["index"])
    seen = [r["index"] for r in rows]
    if len(set(seen)) != len(seen):
        raise AdvInspectError(f"the shards in {folder} hold some samples twice")
    total = int(metas[0].get("n_total", len(rows)))
    if not unfinished and seen != list(range(total)):
        raise AdvInspectError(f"the shards in {folder} hold {len(seen)} of {total} samples")
    notes = [_read_json(f.done) if f.done.exists() else {"cancelled": True} for f in files]
    return Merged(metas[0], rows, notes, complete=not unfinished and not any(n.get("cancelled") for n in notes))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    try:
        return [json.loads(line) for line in data[:keep].decode("utf-8").splitlines() if line]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdvInspectError(f"{path}: not a rows file ({exc})") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdvInspectError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise AdvInspectError(f"{path}: not a JSON object")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


# --- torch.distributed: only the end-of-run barrier ---------------------------------------------

def device_for(rank: Rank, requested: str) -> str:
    """One GPU per process: 'auto'/'cuda' becomes cuda:LOCAL_RANK when CUDA is there."""
    import torch

    if rank.world > 1 and requested in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{rank.local_rank % torch.cuda.device_count()}"
    return requested


def init_group(rank: Rank, device: str, timeout_s: float = 6 * 3600) -> bool:
    """Join torchrun's process group (NCCL when this rank works on a GPU, else gloo); False
    when alone. The timeout is long: ranks meet only once, at the end of their slices."""
    if rank.world == 1:
        return False
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend_for(device, rank), timeout=timedelta(seconds=timeout_s))
    return True


def backend_for(device: str, rank: Rank) -> str:
    """NCCL when every process of this machine has a GPU of its own, else gloo: NCCL refuses
    two ranks on one GPU ("Duplicate GPU detected"), which `--shards 2` on a one-GPU machine
    would be; the group only carries the end-of-run barrier, so gloo costs nothing there."""
    import torch

    if not str(device).startswith("cuda"):
        return "gloo"
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", rank.world))
    return "nccl" if torch.cuda.device_count() >= local_world else "gloo"


def barrier(device: str) -> None:
    """Wait for every rank (NCCL needs to know this rank's GPU)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    if dist.get_backend() == "nccl":
        import torch

        dist.barrier(device_ids=[torch.device(device).index or 0])
    else:
        dist.barrier()


def close_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def torchrun_command(k: int, argv: Sequence[str]) -> list[str]:
    """`torchrun --standalone --nproc-per-node K -m advinspect ARGV` with this interpreter."""
    import sys

    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={k}",
            "-m", "advinspect", *argv]
