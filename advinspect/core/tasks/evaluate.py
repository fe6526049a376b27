"""evaluate: robustness curves, calibration, histograms and sanity checks over a labelled set.

The result keeps what the plots link back to (per-sample calibration bins, the held-out split,
temperature-scaled confidences), so a consumer never re-runs the model."""

from __future__ import annotations

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
    evaluation: Any  # core Evaluation: JSON-ready `data` and per-sample arrays
    images: Images
    held_out: np.ndarray  # positions of the calibration's held-out split
    scaled_confidence: np.ndarray  # clean confidence after temperature scaling, per sample
    calibration_bin: np.ndarray  # reliability bin of each sample's clean confidence
    config: Config = field(default_factory=Config)

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
    ev = evaluate(clf, x, y, core, progress=progress, cancel=cancel)
    logits = clf.logits_batched(x).double().cpu()
    temperature = float(ev.data["calibration"]["temperature"])
    scaled = (logits / temperature).softmax(1).max(1).values.numpy()
    _, held = split_indices(len(x), core.calibration_split, core.seed)
    bins = bin_index(ev.clean_confidence, config.bins)
    return Result(ev, images, np.asarray(held), scaled, bins, config)


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
    from advinspect.core.evaluate import params_for

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
                correct = (result.adv_pred == labels_p) & result.clean_correct & ~result.nonfinite
                for i, row in enumerate(rows):
                    row["adv"].setdefault(name, []).append({
                        "eps": eps, "pred": int(result.adv_pred[i]), "confidence": _num(result.adv_confidence[i]),
                        "correct": bool(correct[i]), "linf": _num(result.linf[i]), "l2": _num(result.l2[i])})
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


def run_stream(clf: Any, stream: Any, config: Config, *, sink: Any = None, done: list[dict[str, Any]] | None = None,
               progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> Streamed:
    """A whole streamed evaluation in this process: the rows, the model-probing sanity checks
    on the first samples, and the aggregates from the rows."""
    rows, cancelled = stream_rows(clf, stream, config, sink=sink, done=done, progress=progress, cancel=cancel)
    warnings = [] if cancelled or not config.sanity_checks else model_warnings(clf, stream, config, cancel=cancel)
    data = aggregate(rows, config, clf.spec, warnings=warnings, cancelled=cancelled or cancel.cancelled)
    return Streamed(data, rows, config)
