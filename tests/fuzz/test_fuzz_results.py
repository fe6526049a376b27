"""Seeded fuzzing of results files through `advinspect report`'s code path (load, check, build):
only AdvInspectError may escape, as one line, and nothing is read or written outside the folders
involved. ADVINSPECT_FUZZ_RESULTS=N runs N cases (default 200, about 10 s on 2 busy cores)."""

from __future__ import annotations

import os
import random
import shutil
import traceback
from collections import Counter
from pathlib import Path

from advinspect.core.errors import AdvInspectError
from advinspect.core.report import rebuild_report
from advinspect.pdf import write_pdf
from tests.fuzz.results_files import dumps, make_run, mutate

CASES = int(os.environ.get("ADVINSPECT_FUZZ_RESULTS", "200"))
EVALUATION_EVERY = 25  # evaluation files draw matplotlib plots: slower, so fewer of them
PDF_EVERY = 20  # and these go through Qt's PDF writer too


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fuzzed_results_files_fail_in_one_line_and_stay_inside(tmp_path):
    attack = make_run(tmp_path / "attack")
    evaluation = make_run(tmp_path / "evaluation", evaluation=True)
    canary = tmp_path / "payload.png"
    canary.write_bytes(b"not to be touched")
    (tmp_path / "attack" / "run" / "adversarial" / "payload.png").write_bytes(b"x")
    before = {name: _tree(tmp_path / name) for name in ("attack", "evaluation")}
    rng = random.Random(20261127)
    outcomes: Counter[str] = Counter()
    escaped: list[str] = []
    for case in range(CASES):
        name = "evaluation" if case % EVALUATION_EVERY == 0 else "attack"
        base = evaluation if name == "evaluation" else attack
        results_path = tmp_path / name / "run" / "results.json"
        results_path.write_text(dumps(mutate(base, rng), rng), encoding="utf-8", errors="surrogatepass")
        out = tmp_path / "out" / f"case{case}"
        try:
            pdf = case % PDF_EVERY == 7
            rebuild_report(results_path, out, formats=("html", "pdf") if pdf else ("html",), max_cards=3,
                           pdf_writer=write_pdf if pdf else None)
            outcomes["built"] += 1
        except AdvInspectError as exc:
            assert "\n" not in str(exc), (case, str(exc))
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - collected and reported below: the test fails on any
            escaped.append(f"case {case}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}")
        shutil.rmtree(out, ignore_errors=True)
    assert not escaped, f"{len(escaped)} of {CASES} escaped:\n" + "\n".join(escaped[:5])
    assert outcomes["built"] > CASES // 10 and outcomes["refused"] > CASES // 10, outcomes
    assert canary.read_bytes() == b"not to be touched"
    for name in ("attack", "evaluation"):  # nothing written into the results folders but results.json
        after = _tree(tmp_path / name)
        assert set(after) == set(before[name]), name
        assert all(after[k] == v for k, v in before[name].items() if not k.endswith("results.json")), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attack", "evaluation", "out", "payload.png"]
    assert list((tmp_path / "out").iterdir()) == []  # no staging folders left behind
