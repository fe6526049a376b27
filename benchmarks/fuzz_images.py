"""The long image fuzz of issue 11: >= 10,000 mutated files plus the memory bombs, each loaded
through `load_images` in its own forked process, so a hang, a crash or a memory peak is
measured per file.

Per case: loaded, or one error line; anything raised out of `load_images` is "uncaught"; a
child killed by a signal is a "crash"; one past --timeout is a "hang". Peak memory is the
child's ru_maxrss, which counts the parent's pages too (torch and numpy are imported first, as
in a CLI run), so it is what a real run would peak at.

Run by hand: .venv/bin/python benchmarks/fuzz_images.py [--cases 10000] [--seed 0] [--timeout 20]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch  # noqa: F401 - imported before forking, as the CLI has it

from advinspect.core.data import ImageItem, load_images
from advinspect.core.models import ModelSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fuzz.image_mutations import (  # noqa: E402
    animated_webp_declaring,
    cases,
    png_zeros_streamed,
    tiff_ifdrational,
    webp_declaring,
)

SPECS = (ModelSpec(input_shape=(3, 224, 224)), ModelSpec(input_shape=(1, 28, 28), resize="center-crop"))


def _load(path: Path, spec: ModelSpec) -> dict:
    try:
        batch = load_images([ImageItem(path, path.name)], spec)
        status, detail = ("loaded", "") if len(batch) else ("error", batch.errors[0])
    except BaseException as exc:  # noqa: BLE001 - counting exactly these is the point
        status, detail = "uncaught", f"{type(exc).__name__}: {exc}"
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"status": status, "detail": detail[:300], "peak_kb": peak_kb}


def run_group(paths: list[Path], specs: list[ModelSpec], timeout: float) -> list[dict]:
    """Load files one after another in a forked child, one JSON line back per file. A file that
    takes longer than `timeout` is a hang (the child is killed); a child that dies is a crash on
    the file it was loading; either way the rest go on in a new child. A file's peak is the
    child's high-water mark so far: an upper bound of its own."""
    results: list[dict] = []
    while len(results) < len(paths):
        todo = list(zip(paths[len(results) :], specs[len(results) :], strict=True))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: load, report, leave without running the parent's cleanup
            os.close(read_end)
            for path, spec in todo:
                os.write(write_end, (json.dumps(_load(path, spec)) + "\n").encode())
            os._exit(0)
        os.close(write_end)
        buffer, started = b"", time.perf_counter()
        for _ in todo:
            while b"\n" not in buffer:
                ready, _, _ = select.select([read_end], [], [], timeout)
                chunk = os.read(read_end, 65536) if ready else None
                if not chunk:
                    break
                buffer += chunk
            if b"\n" not in buffer:
                if chunk is None:
                    os.kill(pid, signal.SIGKILL)
                    results.append({"status": "hang", "detail": f"over {timeout:g} s", "peak_kb": 0, "seconds": timeout})
                else:
                    results.append({"status": "crash", "detail": "the child died", "peak_kb": 0, "seconds": 0.0})
                break
            line, buffer = buffer.split(b"\n", 1)
            now = time.perf_counter()
            results.append({**json.loads(line), "seconds": now - started})
            started = now
        os.close(read_end)
        os.waitpid(pid, 0)
    return results


def bomb_files(folder: Path) -> list[Path]:
    """The three files of issue 11 and the largest image we accept, written to `folder`."""
    files = {
        "rgba_20000x20000.png": None,
        "rgba_10000x10000_at_the_limit.png": None,
        "rgb_10000x10000_at_the_limit.jpg": None,
        "still_16383x16383.webp": webp_declaring(16383, 16383),
        "still_7071x7071_at_the_limit.webp": webp_declaring(7071, 7071),
        "animated_4194336x32.webp": animated_webp_declaring(4194336, 32),
        "ifdrational.tif": tiff_ifdrational(),
    }
    paths = []
    for name, data in files.items():
        path = folder / name
        if name.endswith(".jpg"):  # encoded in another process, so this one stays small
            script = ("import sys; from PIL import Image; "
                      "Image.effect_noise((10000, 10000), 60).convert('RGB').save(sys.argv[1], quality=90)")
            subprocess.run([sys.executable, "-c", script, str(path)], check=True)
        elif data is None:
            side = int(name.split("_")[1].split("x")[0])
            with path.open("wb") as out:
                png_zeros_streamed(side, side, out)
        else:
            path.write_bytes(data)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--group", type=int, default=25, help="files per forked child")
    parser.add_argument("--keep", type=Path, default=Path("fuzz_findings"),
                        help="folder where uncaught, crashing and hanging files are copied")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        warm = folder / "warm.png"
        warm.write_bytes(next(cases(1, 0))[1])
        load_images([ImageItem(warm, warm.name)], SPECS[0])  # Pillow's plugins, imported once before forking
        print("bombs (one process each):")
        for path in bomb_files(folder):
            (result,) = run_group([path], [SPECS[0]], args.timeout)
            print(f"  {path.name:36s} {path.stat().st_size:>9,d} B  {result['status']:8s} "
                  f"peak {result['peak_kb'] / 1024:7.0f} MB  {result['seconds']:5.2f} s  {result['detail'][:90]}")

        counts: collections.Counter[str] = collections.Counter()
        details: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        worst_peak, worst_time, started = (0, ""), (0.0, ""), time.perf_counter()
        names = []
        for index, (name, data) in enumerate(cases(args.cases, args.seed), start=1):
            (folder / name).write_bytes(data)
            names.append(name)
            if len(names) < args.group and index < args.cases:
                continue
            specs = [SPECS[int(n[:5]) % 2] for n in names]  # names start with the case's index
            for name, result in zip(names, run_group([folder / n for n in names], specs, args.timeout), strict=True):
                if result["status"] in ("uncaught", "crash", "hang"):
                    args.keep.mkdir(parents=True, exist_ok=True)
                    (folder / name).replace(args.keep / name)
                    print(f"  {result['status']}: {name} -> {args.keep / name}: {result['detail']}", flush=True)
                else:
                    (folder / name).unlink()
                counts[result["status"]] += 1
                if result["status"] != "loaded":
                    kind = result["detail"].split(": ", 1)[-1].split("(")[0][:60]
                    details[result["status"]][kind if result["status"] == "error" else f"{name}: {result['detail']}"] += 1
                worst_peak = max(worst_peak, (result["peak_kb"], name))
                worst_time = max(worst_time, (result["seconds"], name))
            names = []
            if index % 1000 == 0:
                print(f"  {index} cases, {dict(counts)}", flush=True)

    print(f"\n{args.cases} mutated files (seed {args.seed}) in {time.perf_counter() - started:.0f} s: {dict(counts)}")
    print(f"uncaught {counts['uncaught']}, crashes {counts['crash']}, hangs (> {args.timeout:g} s) {counts['hang']}")
    print(f"peak RSS per case at most {worst_peak[0] / 1024:.0f} MB ({worst_peak[1]}); "
          f"slowest {worst_time[0]:.2f} s ({worst_time[1]})")
    for status in ("uncaught", "crash", "hang"):
        for detail, count in details[status].most_common(20):
            print(f"  {status}: {count} x {detail}")
    print("error lines by kind:")
    for kind, count in details["error"].most_common(15):
        print(f"  {count:6d}  {kind}")


if __name__ == "__main__":
    main()
