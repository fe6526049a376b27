"""What the sharded commands (`evaluate`, `attack`) share: the --workers/--shards/--resume
flags, launching torchrun for --shards, joining the process group, rank 0's progress bar over
every rank's rows, and the end of a rank (its done mark, the barrier)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError

SHARDS = "shards"  # DIR/shards/: the per-rank row files


def add_scale_flags(parser: argparse.ArgumentParser, *, shards: bool = True) -> None:
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="image-decoding processes per rank (0: decode in the main process; default 2)")
    if shards:
        parser.add_argument("--shards", type=int, metavar="K",
                            help="run K processes with torchrun on this machine (gloo on CPUs, one GPU each on CUDA)")
        parser.add_argument("--resume", action="store_true",
                            help="continue an interrupted run in --out: each shard goes on after its last row")


def launch(args: argparse.Namespace) -> int:
    """`--shards K`: the same command under torchrun with K processes on this machine."""
    from advinspect.core.shard import Rank, torchrun_command

    if Rank.from_env().world > 1:
        raise AdvInspectError("--shards launches torchrun itself; under torchrun, leave it out")
    if args.shards < 1:
        raise AdvInspectError("--shards takes a number of processes, at least 1")
    argv, skip = [], False
    for a in args.argv:
        if not skip and a != "--shards" and not a.startswith("--shards="):
            argv.append(a)
        skip = a == "--shards"
    return subprocess.call(torchrun_command(int(args.shards), argv))


def start(args: argparse.Namespace, out: Path, own: tuple[str, ...]) -> Any:
    """This process's Rank; rank 0 clears `own` (and the shards) in `out` on --force."""
    from advinspect.core.shard import Rank, device_for

    rank = Rank.from_env()
    if rank.leader and args.force and not args.resume:
        for name in (*own, SHARDS):
            shutil.rmtree(out / name, ignore_errors=True)
    args.device = device_for(rank, getattr(args, "device", None) or "auto")
    return rank


def join(rank: Any, device: str) -> None:
    """Join the process group, and wait until rank 0 has cleared the folder."""
    from advinspect.core.shard import barrier, init_group

    if init_group(rank, device):
        barrier(device)


def leader_progress(rank: Any, folder: Path, total: int, bar: Any) -> Any:
    """Rank 0 shows the rows of every rank; the other ranks show nothing."""
    from advinspect.core.jobs import NO_PROGRESS, Progress
    from advinspect.core.shard import rows_done

    if not rank.leader:
        return NO_PROGRESS

    def update(event: Any) -> None:
        bar(rows_done(folder, rank.world) if rank.world > 1 else event.step, total, event.message)

    return Progress(update)


def end(rank: Any, files: Any, device: str, *, cancelled: bool, notes: dict[str, Any]) -> None:
    """Mark this rank's slice done (unless cancelled: a resume goes on), then wait for all."""
    from advinspect.core.shard import barrier, close_group

    if cancelled:
        files.close()
    else:
        files.finish(notes)
    if rank.world > 1:
        barrier(device)
        close_group()
