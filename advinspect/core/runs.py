"""Runs: every verb's Result kept with what made it (model, defense, parameters, time), so that
nothing a user computed is wiped by the next click, and so a workspace can save and reopen it.

No Qt here: the GUI's Session holds a `RunStore`; `core/workspace.py` writes it as JSON + `.npz`.
A run keeps three things apart:
- `data`: the Result's `to_dict()` (JSON-safe: `finite()`), what reports and imports read;
- `arrays`: per-image numpy arrays (session image index, adversarial images, predictions,
  status words) that the inspector and the images dock show, saved with `allow_pickle=False`;
- `result`: the live Result object while the session that made it is open (never saved).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.report.jsonio import finite

# Attribute paths where a Result keeps its per-image arrays, by the name a run stores them under.
# One table instead of a hook per verb: a new verb whose Result has `images.index` and `x_adv`
# (directly or under `.attack` / `.evaluation`) gets adversarials in the inspector for free.
ARRAY_SOURCES: dict[str, tuple[str, ...]] = {
    "index": ("images.index",),
    "x_adv": ("attack.x_adv", "evaluation.x_adv", "x_adv"),
    "adv_pred": ("attack.adv_pred", "evaluation.adv_pred", "adv_pred"),
    "adv_probs": ("adv_probs",),
    "linf": ("attack.linf",),
    "l2": ("attack.l2",),
    "l0": ("attack.l0",),
    "status": ("statuses",),
    "labels": ("evaluation.labels", "attack.labels"),
    "clean_pred": ("evaluation.clean_pred", "attack.clean_pred"),
    "clean_confidence": ("evaluation.clean_confidence",),
    "adv_confidence": ("evaluation.adv_confidence",),
    "held_out": ("held_out",),
    "scaled_confidence": ("scaled_confidence",),
    "calibration_bin": ("calibration_bin",),
}


def jsonable(value: Any) -> Any:
    """`finite(value)` (NaN -> None, numpy -> plain), with anything JSON has no form for written as
    its text: a run must be kept even when a verb's parameters hold an object (a model, a path)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    try:
        return finite(value)
    except TypeError:
        return str(value)


def _lookup(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def result_arrays(result: Any) -> dict[str, np.ndarray]:
    """The per-image arrays of `result` (see ARRAY_SOURCES), as plain numpy arrays; text arrays
    (status words) become fixed-width unicode so `np.load(allow_pickle=False)` reads them."""
    arrays: dict[str, np.ndarray] = {}
    for name, paths in ARRAY_SOURCES.items():
        for dotted in paths:
            value = _lookup(result, dotted)
            if value is None:
                continue
            array = np.asarray(value)
            if array.dtype == object:
                array = array.astype(str)
            arrays[name] = array
            break
    return arrays


def result_params(result: Any) -> dict[str, Any]:
    """The parameters a Result was made with: its `config` dataclass, else its attack's params."""
    import dataclasses

    config = getattr(result, "config", None)
    if config is not None and dataclasses.is_dataclass(config):
        return jsonable({f.name: getattr(config, f.name) for f in dataclasses.fields(config)})
    attack = getattr(result, "attack", None)
    if attack is not None and isinstance(getattr(attack, "params", None), dict):
        return jsonable({"attack": attack.attack, **attack.params})
    return {}


@dataclass
class Run:
    """One finished (or cancelled) verb run. `model` = {"path", "sha256", "name"}; `images` =
    {"count", "names_digest"}: a run's image indices mean the session images only while these match."""

    id: str
    verb: str
    name: str
    created: float
    model: dict[str, Any]
    defense: dict[str, Any] | None
    params: dict[str, Any]
    summary: list[str]
    data: dict[str, Any]
    images: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    cancelled: bool = False
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def has_adversarials(self) -> bool:
        return "x_adv" in self.arrays and "index" in self.arrays

    def position(self, image_index: int) -> int | None:
        """Where session image `image_index` sits in this run's arrays (None when not in it)."""
        index = self.arrays.get("index")
        if index is None:
            return None
        hits = np.flatnonzero(index == image_index)
        return int(hits[0]) if len(hits) else None

    def adversarial(self, image_index: int) -> np.ndarray | None:
        k = self.position(image_index)
        if k is None or "x_adv" not in self.arrays:
            return None
        return self.arrays["x_adv"][k]

    def status(self, image_index: int) -> str | None:
        k = self.position(image_index)
        if k is None or "status" not in self.arrays:
            return None
        return str(self.arrays["status"][k])

    def adv_prediction(self, image_index: int) -> int | None:
        k = self.position(image_index)
        if k is None:
            return None
        if "adv_pred" in self.arrays:
            return int(self.arrays["adv_pred"][k])
        if "adv_probs" in self.arrays:
            return int(np.argmax(self.arrays["adv_probs"][k]))
        return None

    def when(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.created))

    def meta(self) -> dict[str, Any]:
        """Everything but the arrays and the live Result: what workspace.json holds per run."""
        return {"id": self.id, "verb": self.verb, "name": self.name, "created": self.created,
                "model": self.model, "defense": self.defense, "params": self.params, "summary": self.summary,
                "data": self.data, "images": self.images, "cancelled": self.cancelled}


def make_run(run_id: str, verb: str, result: Any, *, model: dict[str, Any], defense: dict[str, Any] | None,
             images: dict[str, Any], name: str | None = None, params: dict[str, Any] | None = None) -> Run:
    """A Run from any verb's Result (`summary_text()`, `to_dict()`; arrays found by ARRAY_SOURCES)."""
    summary = list(result.summary_text()) if hasattr(result, "summary_text") else []
    data = jsonable(result.to_dict()) if hasattr(result, "to_dict") else {}
    trace = _lookup(result, "attack.trace")
    if trace and "trace" not in data:  # the per-iteration curve, for the attack plot of a reopened run
        data["trace"] = jsonable(list(trace))
    params = jsonable(params) if params is not None else result_params(result)
    title = name or default_name(verb, params)
    return Run(run_id, verb, title, time.time(), dict(model), None if defense is None else dict(defense), params,
               summary, data, dict(images), result_arrays(result), bool(getattr(result, "cancelled", False)),
               result)


def default_name(verb: str, params: dict[str, Any]) -> str:
    """"attack pgd eps 0.03" rather than "run 4": what a person scanning the list looks for."""
    bits = [verb]
    for key in ("attack", "attacks", "defense", "method", "detector"):
        value = params.get(key)
        if value:
            bits.append(",".join(map(str, value)) if isinstance(value, list) else str(value))
            break
    if params.get("eps") not in (None, "", []):
        eps = params["eps"]
        values = eps if isinstance(eps, list) else [eps]
        bits.append("eps " + ",".join(f"{e:g}" if isinstance(e, float) else str(e) for e in values))
    return " ".join(bits)


def images_fingerprint(names: list[str]) -> dict[str, Any]:
    """What a run's image indices refer to: the count and a digest of the file names in order."""
    import hashlib

    digest = hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:16]
    return {"count": len(names), "names_digest": digest}


class RunStore:
    """The session's runs in creation order; ids never reused within a store."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.runs)

    def new_id(self) -> str:
        return f"run-{next(self._ids)}"

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        return run

    def get(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def remove(self, run_id: str) -> bool:
        before = len(self.runs)
        self.runs = [r for r in self.runs if r.id != run_id]
        return len(self.runs) != before

    def rename(self, run_id: str, name: str) -> None:
        run = self.get(run_id)
        if run is not None and name.strip():
            run.name = name.strip()

    def matching(self, text: str) -> list[Run]:
        """Runs whose name, verb or summary contain `text` (case-insensitive); all when empty."""
        needle = text.strip().lower()
        if not needle:
            return list(self.runs)
        return [r for r in self.runs
                if needle in r.name.lower() or needle in r.verb.lower() or any(needle in s.lower() for s in r.summary)]

    def replace_all(self, runs: list[Run]) -> None:
        """Adopt the runs of a workspace; new ids continue after the highest one read."""
        self.runs = list(runs)
        numbers = [int(r.id.split("-")[-1]) for r in runs if r.id.split("-")[-1].isdigit()]
        self._ids = itertools.count(max(numbers, default=0) + 1)


def agreement(a: Run, b: Run) -> dict[str, Any]:
    """Per-image agreement of two runs on the images both cover: same adversarial prediction,
    same status word; the images where they differ, for the side-by-side view."""
    ia, ib = a.arrays.get("index"), b.arrays.get("index")
    if ia is None or ib is None:
        return {"common": 0, "same_prediction": 0, "same_status": 0, "differ": []}
    common = sorted(set(ia.tolist()) & set(ib.tolist()))
    same_pred = same_status = 0
    differ: list[int] = []
    for i in common:
        pa, pb = a.adv_prediction(i), b.adv_prediction(i)
        sa, sb = a.status(i), b.status(i)
        same_pred += int(pa == pb)
        same_status += int(sa == sb)
        if pa != pb or sa != sb:
            differ.append(int(i))
    return {"common": len(common), "same_prediction": same_pred, "same_status": same_status, "differ": differ}


def restore_result(run: Run, images: Any) -> Any:
    """Rebuild the live Result of a run read from a workspace, where the consumers need the object
    (the evaluation plots read `core.tasks.evaluate.Result`), from its `data` and `arrays` alone —
    nothing is recomputed. `images` are the session's Images; None when the run cannot be rebuilt."""
    if run.verb != "evaluate" or "index" not in run.arrays or "labels" not in run.arrays:
        return None
    from advinspect.core.evaluate import Evaluation

    a = run.arrays
    index = a["index"]
    if images is None or len(index) and int(index.max()) >= len(images):
        return None
    evaluation = Evaluation(dict(run.data), a["labels"], a["clean_pred"], a["clean_confidence"], a.get("adv_pred"),
                            a.get("adv_confidence"), a.get("x_adv"), cancelled=run.cancelled)
    return evaluation_result(evaluation, images.subset(index), a, run.params)


def evaluation_result(evaluation: Any, images: Any, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> Any:
    from advinspect.core.tasks import evaluate

    bins = int(params.get("bins") or 15)
    return evaluate.Result(evaluation, images, arrays["held_out"], arrays["scaled_confidence"],
                           arrays["calibration_bin"], evaluate.Config(bins=bins))
