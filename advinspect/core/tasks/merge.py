"""merge: one result from the per-rank row files of a sharded `evaluate` or `attack` run.

The aggregates are computed once, here, from the merged rows (never averaged per rank), so a
sharded run, a resumed run and a one-process run give the same numbers. The CLI's `merge`
command and the ranks' leader use this; the GUI can open the result as a run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.shard import Merged, merge_shards


@dataclass(frozen=True)
class Config:
    partial: bool = param(False, "merge even if some shards did not finish (the result is marked cancelled)")


@dataclass
class Inputs:
    folder: Path  # the shards folder (DIR/shards)


@dataclass
class Result:
    verb: str  # "evaluate" or "attack"
    outcome: Any  # evaluate.Streamed or attack.Streamed
    merged: Merged = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def cancelled(self) -> bool:
        return bool(self.outcome.cancelled)

    def summary(self) -> dict[str, Any]:
        return self.outcome.summary()

    def summary_text(self) -> list[str]:
        return self.outcome.summary_text()

    def report_section(self) -> Any:
        return self.outcome.report_section()

    def to_dict(self) -> dict[str, Any]:
        """What the verb writes: evaluation.json's data, or results.json (attack)."""
        if self.verb == "evaluate":
            return dict(self.outcome.data)
        from advinspect.core.report.results import now_iso

        return {"kind": "attack", "created": now_iso(), "summary": self.outcome.attack.summary(),
                "provenance": self.merged.meta.get("provenance", {}), "trace": [], "samples": self.merged.rows}


def evaluation(merged: Merged) -> Any:
    from advinspect.core.models.spec import ModelSpec
    from advinspect.core.tasks import evaluate

    config = evaluate.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in merged.meta["config"].items()})
    warnings = [w for note in merged.notes for w in note.get("warnings", [])]
    data = evaluate.aggregate(merged.rows, config, ModelSpec.from_dict(merged.meta["spec"]), warnings=warnings,
                              cancelled=not merged.complete)
    data["provenance"] = merged.meta.get("provenance", {})
    data["shards"] = len(merged.notes)
    return evaluate.Streamed(data, merged.rows, config)


def attack_outcome(merged: Merged) -> Any:
    from advinspect.core.models.spec import ModelSpec
    from advinspect.core.tasks import attack

    settings, notes = merged.meta["config"], merged.notes
    warnings = list(dict.fromkeys(w for note in notes for w in note.get("warnings", [])))
    params = dataclasses.asdict(attack.build_attack(attack.Config(
        attack=settings["attack"], params=settings["params"])).params)
    return attack.result_from_rows(
        merged.rows, ModelSpec.from_dict(merged.meta["spec"]), attack=settings["attack"], params=params,
        seed=settings["seed"], warnings=warnings, seconds=max((n.get("seconds", 0.0) for n in notes), default=0.0),
        device=merged.meta.get("provenance", {}).get("device", "cpu"), cancelled=not merged.complete)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    merged = merge_shards(inputs.folder, allow_incomplete=config.partial)
    verb = merged.meta.get("verb")
    progress(1, 1, f"merged {len(merged.rows)} rows")
    if verb == "evaluate":
        return Result("evaluate", evaluation(merged), merged)
    if verb == "attack":
        return Result("attack", attack_outcome(merged), merged)
    raise AdvInspectError(f"{inputs.folder}: shards of {verb!r}, which merge cannot build")
