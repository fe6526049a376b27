"""`advinspect evaluate` streamed into shards, resumed after a kill, merged, and sharded by
torchrun: the same per-sample rows and the same numbers every way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL
from tests.cli.conftest import small_set_at

ARGS = ["--attack", "fgsm", "--eps", "0,0.1", "--no-sanity-checks", "--device", "cpu",
        "--workers", "0", "--batch-size", "4"]


@pytest.fixture(scope="module")
def odd_set(tmp_path_factory) -> Path:
    root = small_set_at(tmp_path_factory.mktemp("odd"), 1)
    next(iter(sorted((root / "9").glob("*.png")))).unlink()  # 9 images: no batch or shard count divides it
    return root


@pytest.fixture(scope="module")
def whole(odd_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "eval"
    assert main(["evaluate", str(DEMO_MODEL), str(odd_set), *ARGS, "--out", str(out)]) == 0
    return out


def numbers(out: Path) -> dict:
    data = json.loads((out / "evaluation.json").read_text())
    return {k: v for k, v in data.items() if k not in ("provenance", "shards")}


def test_streamed_evaluation_writes_rows_and_report(whole):
    data = json.loads((whole / "evaluation.json").read_text())
    assert [s["index"] for s in data["samples"]] == list(range(9)) and data["n"] == 9
    first = data["samples"][0]
    assert {"file", "label", "clean_pred", "clean_confidence", "adv"} <= set(first) and "logits" not in first
    assert [e["eps"] for e in first["adv"]["fgsm"]] == [0.0, 0.1]
    accuracy = sum(s["clean_correct"] for s in data["samples"]) / 9
    assert data["clean_accuracy"] == pytest.approx(accuracy)
    assert "Robust accuracy by budget" in (whole / "report.html").read_text(encoding="utf-8")


def test_a_killed_run_resumes_to_the_same_result(odd_set, whole, tmp_path, capsys):
    out = tmp_path / "eval"
    rows = (whole / "shards" / "rows-0-of-1.jsonl").read_bytes()
    (out / "shards").mkdir(parents=True)
    for name in ("meta-0-of-1.json",):
        (out / "shards" / name).write_bytes((whole / "shards" / name).read_bytes())
    lines = rows.splitlines(keepends=True)
    (out / "shards" / "rows-0-of-1.jsonl").write_bytes(b"".join(lines[:5]) + lines[5][:20])  # killed mid-write
    assert main(["merge", str(out)]) == 1
    assert "did not finish" in capsys.readouterr().err
    assert main(["evaluate", str(DEMO_MODEL), str(odd_set), *ARGS, "--out", str(out)]) == 1  # no silent restart
    assert "--resume" in capsys.readouterr().err
    assert main(["evaluate", str(DEMO_MODEL), str(odd_set), *ARGS, "--out", str(out), "--resume"]) == 0
    assert (out / "shards" / "rows-0-of-1.jsonl").read_bytes() == rows
    assert numbers(out) == numbers(whole)
    # the merge verb rebuilds the same result from the shards alone
    assert main(["merge", str(out), "--out", str(tmp_path / "merged")]) == 0
    assert numbers(tmp_path / "merged") == numbers(whole)


@pytest.mark.slow  # three torchrun launches (one, two and three processes)
def test_one_two_and_three_shards_give_identical_rows(odd_set, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    outs = []
    for k in (1, 2, 3):
        out = tmp_path / f"k{k}"
        subprocess.run([sys.executable, "-m", "advinspect", "evaluate", str(DEMO_MODEL), str(odd_set), *ARGS,
                        "--out", str(out), "--shards", str(k)], env=env, check=True, capture_output=True)
        outs.append(out)
        assert len(list((out / "shards").glob(f"done-*-of-{k}.json"))) == k
    rows = [b"".join((o / "shards" / f"rows-{r}-of-{k}.jsonl").read_bytes() for r in range(k))
            for o, k in zip(outs, (1, 2, 3), strict=True)]
    assert rows[0] == rows[1] == rows[2] and rows[0].count(b"\n") == 9
    assert numbers(outs[0]) == numbers(outs[1]) == numbers(outs[2])


@pytest.mark.slow  # a torchrun launch of two processes
def test_a_sharded_attack_writes_the_same_results_as_one_process(odd_set, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    attack = ["attack", str(DEMO_MODEL), str(odd_set), "--attack", "pgd", "--eps", "0.1", "--steps", "3",
              "--device", "cpu", "--workers", "0", "--batch-size", "4"]
    for k in (1, 2):
        subprocess.run([sys.executable, "-m", "advinspect", *attack, "--out", str(tmp_path / f"k{k}"),
                        "--shards", str(k)], env=env, check=True, capture_output=True)
    one, two = (json.loads((tmp_path / f"k{k}" / "results.json").read_text()) for k in (1, 2))
    assert [s["index"] for s in two["samples"]] == list(range(9)) and one["samples"] == two["samples"]
    ignore = ("seconds",)
    assert {k: v for k, v in one["summary"].items() if k not in ignore} == \
        {k: v for k, v in two["summary"].items() if k not in ignore}
    assert len(list((tmp_path / "k2" / "adversarial").rglob("*.png"))) == 9
