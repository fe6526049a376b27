"""evaluate: robustness curves, calibration, histograms and sanity checks over a labelled set.

The result keeps what the plots link back to (per-sample calibration bins, the held-out split,
temperature-scaled confidences), so a consumer never re-runs the model."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import DEFAULT_EPS, param
from advinspect.core.tasks.base import Images, with_plugins


@dataclass(frozen=True)
class Config:
    attacks: tuple[str, ...] = param(("pgd",), "attacks to run (comma-separated or repeated)", flag="--attack")
    eps: tuple[float, ...] = param(DEFAULT_EPS, "budgets, comma-separated; fractions allowed (8/255)", min=0.0)
    steps: int | None = param(None, "attack iterations (given to the attacks that take it)", min=1)
    calibration_split: float = param(0.5, "fraction held out to evaluate temperature scaling", min=0.01, max=0.99)
    bins: int = param(15, "reliability bins", min=2, max=1000)
    seed: int = param(0, "random seed", min=0)
    batch_size: int | None = param(None, "samples per batch", min=1)
    sanity_checks: bool = param(True, "run the gradient-masking sanity checks")
    params: dict[str, Any] = field(default_factory=dict)  # other shared attack parameters

    def core_config(self) -> Any:
        from advinspect.core.evaluate import EvaluationConfig

        params = dict(self.params)
        if self.steps is not None:
            params["steps"] = self.steps
        return EvaluationConfig(attacks=tuple(self.attacks), eps=tuple(self.eps), params=params,
                                calibration_split=self.calibration_split, n_bins=self.bins, seed=self.seed,
                                batch_size=self.batch_size, sanity_checks=self.sanity_checks)


@dataclass
class Inputs:
    clf: Any
    images: Images


@dataclass
class Result:
    """An evaluation with what its plots link back to. `index` and `names` say which sample each
    position is (global index, file name); `images` is the evaluated set when it was in memory
    (None for a result rebuilt from JSON rows: the GUI matches samples to its open images by
    index and name). `scaled_confidence` is None where no logits were kept (an imported
    evaluation.json): temperature-scaled confidences cannot be rebuilt without them."""

    evaluation: Any  # core Evaluation: JSON-ready `data` and per-sample arrays
    images: Images | None
    held_out: np.ndarray  # positions of the calibration's held-out split
    scaled_confidence: np.ndarray | None  # clean confidence after temperature scaling, per sample
    calibration_bin: np.ndarray  # reliability bin of each sample's clean confidence
    config: Config = field(default_factory=Config)
    index: np.ndarray | None = None  # global sample index per position (from `images` when given)
    names: list[str] | None = None  # file name per position (from `images` when given)

    def __post_init__(self) -> None:
        if self.images is not None:
            self.index = self.images.index if self.index is None else self.index
            self.names = list(self.images.names) if self.names is None else self.names
        if self.index is None or self.names is None:
            raise ValueError("an evaluate Result needs its images or the samples' index and names")

    @classmethod
    def from_data(cls, data: dict[str, Any], rows: list[dict[str, Any]] | None = None,
                  config: Config | None = None) -> Result:
        """The Result the plots read, rebuilt from an evaluation's JSON (`data["samples"]`, or the
        streamed `rows`) with nothing recomputed but the bins: per-sample labels, predictions and
        confidences, the reference attack's adversarial predictions, the held-out split (from its
        seed and sizes) and, where the rows kept their logits, the temperature-scaled confidences."""
        from advinspect.core.evaluate import Evaluation
        from advinspect.core.metrics.calibration import bin_index, split_indices

        rows = data.get("samples") if rows is None else rows
        if not rows:
            raise AdvInspectError("this evaluation has no per-sample rows (`samples`): its plots cannot be "
                                  "linked to images (it was made by an older advinspect)")
        good = [r for r in rows if "error" not in r]

        def column(key: str, dtype: Any, entries: list[Any] | None = None) -> np.ndarray:
            values = [(e or {}).get(key) for e in (good if entries is None else entries)]
            return np.array([np.nan if v is None else v for v in values], dtype=dtype)

        labels, clean_pred = column("label", np.int64), column("clean_pred", np.int64)
        clean_conf = column("clean_confidence", np.float64)
        adv_pred = adv_conf = None
        ref = data.get("reference_attack") or {}
        if ref:
            eps = float(ref.get("eps") or 0.0)
            entries = [next((e for e in r.get("adv", {}).get(ref.get("attack"), []) if abs(e["eps"] - eps) <= 1e-12),
                            None) for r in good]
            if all(e is not None for e in entries):
                adv_pred, adv_conf = column("pred", np.int64, entries), column("confidence", np.float64, entries)
        calib = data["calibration"]
        split = calib.get("split") or {}
        n_held = int(split.get("held_out", 0))
        held = split_indices(len(good), n_held / len(good), int(split.get("seed", 0)))[1] if good else np.zeros(0, int)
        n_bins = len(calib["bins"])
        scaled = None
        if good and all(r.get("logits") for r in good):
            import torch

            logits = torch.tensor([[np.nan if v is None else v for v in r["logits"]] for r in good], dtype=torch.float64)
            scaled = (logits / float(calib["temperature"])).softmax(1).max(1).values.numpy()
        evaluation = Evaluation(data, labels, clean_pred, clean_conf, adv_pred, adv_conf, None,
                                cancelled=bool(data.get("cancelled")))
        return cls(evaluation, None, np.asarray(held, dtype=np.int64), scaled, bin_index(clean_conf, n_bins),
                   config or Config(bins=n_bins), index=column("index", np.int64),
                   names=[str(r.get("file", "")) for r in good])

    @property
    def cancelled(self) -> bool:
        return bool(self.evaluation.cancelled)

    @property
    def data(self) -> dict[str, Any]:
        return self.evaluation.data

    def summary(self) -> dict[str, Any]:
        d, calib = self.data, self.data["calibration"]
        return {"n": d["n"], "clean_accuracy": d["clean_accuracy"], "ece": calib["ece"],
                "temperature": calib["temperature"], "ece_after_temperature": calib["ece_after_temperature"],
                "curves": {c["attack"]: dict(zip(c["eps"], c["robust_accuracy"], strict=True)) for c in d["curves"]},
                "warnings": list(d["warnings"]), "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        d, calib = self.data, self.data["calibration"]
        lines = [f"clean accuracy {d['clean_accuracy']:.4f} on {d['n']} images; ECE {calib['ece']:.4f} "
                 f"(after temperature T={calib['temperature']:.3f}: {calib['ece_after_temperature']:.4f} held-out, "
                 f"was {calib['held_out_before']['ece']:.4f}); NLL {calib['nll']:.4f}; Brier {calib['brier']:.4f}"]
        for curve in d["curves"]:
            points = ", ".join(f"{e:.4g}: {a:.4f}" for e, a in zip(curve["eps"], curve["robust_accuracy"], strict=True))
            lines.append(f"{curve['attack']} robust accuracy by eps: {points}")
        lines += [f"warning: {w}" for w in d["warnings"]]
        if self.cancelled:
            lines.append("cancelled: the curves hold the budgets finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def report_section(self) -> Any:
        return evaluation_section(self.data, self.summary_text())


def evaluation_section(data: dict[str, Any], lines: list[str]) -> Any:
    """The report section of an evaluation: its summary lines, the curves as a table and a
    plot, per-class accuracy."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from advinspect.core.report.sections import Section, Table, figure_from_matplotlib

    curve_rows = [[c["attack"], e, a, r, s] for c in data["curves"]
                  for e, a, r, s in zip(c["eps"], c["robust_accuracy"], c["raw_robust_accuracy"], c["success_rate"],
                                        strict=True)]
    tables = [Table(["attack", "eps", "robust accuracy", "raw robust accuracy", "success rate"], curve_rows,
                    "Robust accuracy by budget (envelope over smaller budgets; raw: each budget alone)"),
              Table(["class", "n", "clean accuracy", "adversarial accuracy"],
                    [[r["class"], r["n"], r["clean_accuracy"], r.get("adversarial_accuracy")] for r in data["per_class"]],
                    "Per class")]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for c in data["curves"]:
        ax.plot(c["eps"], c["robust_accuracy"], marker="o", label=c["attack"])
    ax.axhline(data["clean_accuracy"], color="gray", linestyle=":", label="clean")
    ax.set(xlabel="epsilon", ylabel="robust accuracy", ylim=(0, 1.02))
    ax.legend()
    errors = [f"skipped {e}" for e in data.get("errors", [])]
    return Section("Evaluation", list(lines) + errors, tables, [figure_from_matplotlib(fig, "Robust accuracy vs eps")])


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    from advinspect.core.attacks import get_attack
    from advinspect.core.evaluate import evaluate
    from advinspect.core.metrics.calibration import bin_index, split_indices

    clf, images = inputs.clf, inputs.images
    images.require_labels("evaluate")
    with_plugins()
    if not config.attacks:
        raise AdvInspectError("evaluate: choose at least one attack")
    for name in config.attacks:
        get_attack(name)  # a typo fails before any work
    core = config.core_config()
    x, y = images.tensor(), images.labels_tensor()
    ev = evaluate(clf, x, y, core, progress=progress, cancel=cancel, index=images.index)
    logits = clf.logits_batched(x).double().cpu()
    temperature = float(ev.data["calibration"]["temperature"])
    scaled = (logits / temperature).softmax(1).max(1).values.numpy()
    _, held = split_indices(len(x), core.calibration_split, core.seed)
    bins = bin_index(ev.clean_confidence, config.bins)
    ev.data["samples"] = sample_rows(images, ev)
    return Result(ev, images, np.asarray(held), scaled, bins, config)


def adv_entry(eps: float, numbers: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Sample `i`'s entry under `row["adv"][attack]` for one eps (see core.evaluate.adv_numbers)."""
    return {"eps": float(eps), "pred": int(numbers["pred"][i]), "confidence": _num(numbers["confidence"][i]),
            "correct": bool(numbers["correct"][i]), "linf": _num(numbers["linf"][i]), "l2": _num(numbers["l2"][i])}


def sample_rows(images: Images, ev: Any) -> list[dict[str, Any]]:
    """The in-memory evaluation's per-sample rows, in the evaluated order and in the streamed
    rows' layout (without logits), so evaluation.json and a kept run carry them either way."""
    rows = []
    for i in range(len(ev.labels)):
        adv = {name: [adv_entry(eps, numbers, i) for eps, numbers in entries] for name, entries in ev.per_eps.items()}
        rows.append({"index": int(images.index[i]), "file": images.names[i], "label": int(ev.labels[i]),
                     "clean_pred": int(ev.clean_pred[i]), "clean_confidence": _num(ev.clean_confidence[i]),
                     "clean_correct": bool(ev.clean_pred[i] == ev.labels[i]), "adv": adv})
    return rows


# --- streaming: rows batch by batch, aggregates from the rows ------------------------------------

SANITY_SAMPLES = 64  # the model-probing sanity checks run on the first samples by global index
ROW_DIGITS = 6  # floats in rows are rounded: they are results, not intermediate values


def _num(value: Any) -> float | None:
    value = float(value)
    return round(value, ROW_DIGITS) if np.isfinite(value) else None


def check_streamable(config: Config) -> None:
    """The checks `run` makes before any work, for a streamed run (no images in memory yet)."""
    from advinspect.core.attacks import get_attack
    from advinspect.core.evaluate import params_for

    with_plugins()
    if not config.attacks:
        raise AdvInspectError("evaluate: choose at least one attack")
    core = config.core_config()
    for name in config.attacks:
        get_attack(name)  # a typo fails before any work
        params_for(name, core)


def _reference(config: Config) -> tuple[str, float]:
    from advinspect.core.evaluate import _reference_eps

    return config.attacks[0], _reference_eps(sorted(float(e) for e in config.eps))


def batch_rows(clf: Any, batch: Any, config: Config, *, cancel: CancelToken = NEVER) -> list[dict[str, Any]] | None:
    """One streamed batch (core.data StreamBatch) as per-sample rows: the clean logits and
    prediction, and per attack and eps the adversarial prediction, confidence, correctness and
    norms; a file that failed to decode is a row with its error. None when cancelled midway
    (the batch is then not written: a resume redoes it)."""
    import torch

    from advinspect.core.attacks import get_attack
    from advinspect.core.data.stream import padded
    from advinspect.core.evaluate import adv_numbers, params_for

    core = config.core_config()
    labels = np.asarray(batch.labels, dtype=np.int64)
    if (labels < 0).any():
        raise AdvInspectError("evaluate needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    rows: list[dict[str, Any]] = []
    if len(batch):
        x, labels_p, index_p = padded(batch.x.float(), labels, np.asarray(batch.index, dtype=np.int64))  # see MIN_ROWS
        y = torch.from_numpy(labels_p)
        logits = clf.logits_batched(x).double().cpu()
        finite = torch.isfinite(logits).all(1).numpy()
        conf, pred = logits.softmax(1).max(1)
        for i in range(len(batch)):
            rows.append({"index": int(batch.index[i]), "file": batch.names[i], "label": int(labels[i]),
                         "clean_pred": int(pred[i]), "clean_confidence": _num(conf[i]),
                         "clean_correct": bool(finite[i] and pred[i] == labels[i]),
                         "logits": [_num(v) for v in logits[i].tolist()], "adv": {}})
        ref_attack, ref_eps = _reference(config)
        for name in config.attacks:
            attack_cls, params = get_attack(name), params_for(name, core)
            for eps in sorted(float(e) for e in config.eps):
                result = attack_cls.from_values({**params, "eps": eps}).run(
                    clf, x, y, cancel=cancel, seed=config.seed, batch_size=len(x), index=index_p)
                if result.cancelled:
                    return None
                numbers = adv_numbers(result, labels)
                for i, row in enumerate(rows):
                    row["adv"].setdefault(name, []).append(adv_entry(eps, numbers, i))
                if name == ref_attack and eps == ref_eps:
                    adv_logits = clf.logits_batched(torch.from_numpy(result.x_adv)).double().cpu()
                    for i, row in enumerate(rows):
                        row["ref_logits"] = [_num(v) for v in adv_logits[i].tolist()]
    rows += [{"index": int(i), "file": name, "error": message} for i, name, message in batch.errors]
    return sorted(rows, key=lambda r: r["index"])


def curves_from_rows(rows: list[dict[str, Any]], config: Config) -> list[dict[str, Any]]:
    """Each attack's robustness curve from the rows, as `robustness_curve` computes it: a sample
    counts as broken at eps if any budget up to eps broke it (the envelope)."""
    from advinspect.core.evaluate import params_for

    core = config.core_config()
    clean_correct = np.array([r["clean_correct"] for r in rows], dtype=bool)
    curves = []
    for name in config.attacks:
        entries = [r["adv"].get(name, []) for r in rows]
        n_eps = min((len(e) for e in entries), default=0)
        broken = np.zeros(len(rows), dtype=bool)
        curve: dict[str, Any] = {"attack": name, "eps": [], "robust_accuracy": [], "raw_robust_accuracy": [],
                                 "success_rate": [], "params": dict(params_for(name, core))}
        for j in range(n_eps if rows else 0):
            adv_wrong = ~np.array([e[j]["correct"] for e in entries], dtype=bool)
            broken |= adv_wrong
            curve["eps"].append(float(entries[0][j]["eps"]))
            curve["raw_robust_accuracy"].append(float((~adv_wrong).mean()))
            curve["robust_accuracy"].append(float((~broken).mean()))
            curve["success_rate"].append(float(broken[clean_correct].mean()) if clean_correct.any() else 0.0)
        curves.append(curve)
    return curves


def _curve_objects(curves: list[dict[str, Any]]) -> list[Any]:
    from advinspect.core.metrics.robustness import Curve

    return [Curve(**c) for c in curves]


def curve_warnings(curves: list[dict[str, Any]], clean_accuracy: float) -> list[str]:
    """The sanity checks that need only the curves (eps=0 against clean; curves that rise)."""
    import torch

    from advinspect.core.metrics.robustness import sanity_warnings

    return sanity_warnings(None, torch.empty(0), torch.empty(0), clean_accuracy,  # type: ignore[arg-type]
                           _curve_objects(curves))


def model_warnings(clf: Any, stream: Any, config: Config, *, cancel: CancelToken = NEVER) -> list[str]:
    """The sanity checks that probe the model (randomness, zero gradients, unbounded PGD, more
    steps), on the first SANITY_SAMPLES samples by global index: the same sample for any
    number of shards and any batch size, and bounded memory."""
    from advinspect.core.metrics.robustness import sanity_warnings

    window = stream.window(0, SANITY_SAMPLES)
    xs, ys, rows = [], [], []
    for batch in window:
        if len(batch):
            xs.append(batch.x.float())
            ys.append(batch.labels)
            rows += [r for r in (batch_rows(clf, batch, config, cancel=cancel) or []) if "error" not in r]
    if not xs or cancel.cancelled:
        return []
    import torch

    x, y = torch.cat(xs), torch.from_numpy(np.concatenate(ys))
    curves = curves_from_rows(rows, config)
    accuracy = float(np.mean([r["clean_correct"] for r in rows]))
    everything = sanity_warnings(clf, x, y, accuracy, _curve_objects(curves), seed=config.seed, cancel=cancel,
                                 steps=int(config.core_config().params.get("steps", 10) or 10))
    return [w for w in everything if w not in curve_warnings(curves, accuracy)]


def aggregate(rows: list[dict[str, Any]], config: Config, spec: Any, *, warnings: list[str] | None = None,
              cancelled: bool = False) -> dict[str, Any]:
    """evaluation.json's numbers, computed once from the merged rows (never averaged per rank),
    with the rows themselves as `samples` (without their logits)."""
    import torch

    from advinspect.core.evaluate import assemble

    good = [r for r in rows if "error" not in r]
    if not good:
        raise AdvInspectError("evaluate: none of the images could be evaluated")
    labels = np.array([r["label"] for r in good], dtype=np.int64)
    logits = torch.tensor([[np.nan if v is None else v for v in r["logits"]] for r in good], dtype=torch.float64)
    curves = curves_from_rows(good, config)
    ref_attack, ref_eps = _reference(config)
    reference = adv_pred = adv_conf = adv_logits = None
    ref_curve = next((c for c in curves if c["attack"] == ref_attack), None)
    if ref_curve is not None and ref_eps in ref_curve["eps"] and all("ref_logits" in r for r in good):
        j = ref_curve["eps"].index(ref_eps)
        reference = {"attack": ref_attack, "eps": ref_eps}
        adv_pred = np.array([r["adv"][ref_attack][j]["pred"] for r in good], dtype=np.int64)
        adv_conf = np.array([r["adv"][ref_attack][j]["confidence"] or 0.0 for r in good], dtype=np.float64)
        adv_logits = torch.tensor([[np.nan if v is None else v for v in r["ref_logits"]] for r in good],
                                  dtype=torch.float64)
    data = assemble(labels, logits, curves, config.core_config(), logits.shape[1], spec, reference=reference,
                    adv_pred=adv_pred, adv_confidence=adv_conf, adv_logits=adv_logits)
    data["warnings"] = curve_warnings(curves, data["clean_accuracy"]) + list(warnings or [])
    data["cancelled"] = bool(cancelled)
    data["errors"] = [f"{r['file']}: {r['error']}" for r in rows if "error" in r]
    data["samples"] = [{k: v for k, v in r.items() if k not in ("logits", "ref_logits")} for r in rows]
    return data


@dataclass
class Streamed:
    """A streamed evaluation: the per-sample rows (bounded: numbers, no images) and the JSON
    aggregated from them. The same summary lines as the in-memory Result."""

    data: dict[str, Any]
    rows: list[dict[str, Any]]
    config: Config = field(default_factory=Config)

    @property
    def cancelled(self) -> bool:
        return bool(self.data.get("cancelled"))

    summary = Result.summary
    summary_text = Result.summary_text

    @functools.cached_property
    def plotted(self) -> Result:
        """The Result the plots read, from the rows (their logits give the scaled confidences)."""
        return Result.from_data(self.data, self.rows, self.config)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def report_section(self) -> Any:
        return evaluation_section(self.data, self.summary_text())


def stream_rows(clf: Any, stream: Any, config: Config, *, sink: Any = None, done: list[dict[str, Any]] | None = None,
                progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> tuple[list[dict[str, Any]], bool]:
    """Rows of every sample of `stream` (a core.data ImageStream / ArrayStream or a shard of
    one), batch by batch; `sink(rows)` gets each batch's rows as they are made (a shard file),
    `done` holds the rows of an interrupted earlier run (the stream starts after them).
    Returns (all rows, cancelled). Memory holds the images of one batch at a time."""
    check_streamable(config)
    rows = list(done or [])
    total = len(stream) + len(rows)
    progress(len(rows), total, "evaluating")
    for batch in stream:
        new = batch_rows(clf, batch, config, cancel=cancel)
        if new is None or cancel.cancelled:
            return rows, True
        if sink is not None:
            sink(new)
        rows += new
        progress(len(rows), total, "evaluating")
    return rows, False


def plotted(outcome: Any) -> Result | None:
    """What the plots draw for the session's evaluation: a Result as it is, a Streamed one's view
    of its rows; None for anything else."""
    if isinstance(outcome, Result):
        return outcome
    if isinstance(outcome, Streamed):
        return outcome.plotted
    return None


def run_stream(clf: Any, stream: Any, config: Config, *, sink: Any = None, done: list[dict[str, Any]] | None = None,
               progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> Streamed:
    """A whole streamed evaluation in this process: the rows, the model-probing sanity checks
    on the first samples, and the aggregates from the rows."""
    rows, cancelled = stream_rows(clf, stream, config, sink=sink, done=done, progress=progress, cancel=cancel)
    warnings = [] if cancelled or not config.sanity_checks else model_warnings(clf, stream, config, cancel=cancel)
    data = aggregate(rows, config, clf.spec, warnings=warnings, cancelled=cancelled or cancel.cancelled)
    return Streamed(data, rows, config)
