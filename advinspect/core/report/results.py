"""Attack results as files: results.json (summary + one row per sample) and adversarial PNGs.

A results folder is written whole into a staging folder and swapped into place
(`staging.staged_folder`), so a crash, a kill or a full disk leaves the previous folder or the
new one, never a mix. Numbers that are NaN or infinite (a model that outputs NaN) are written as
null, so they can never cost the results file. File names inside the folder are generated from
the sample names (`paths.sample_path`): sanitized and short enough for any file system.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from advinspect import __version__
from advinspect.core.attacks.base import AttackResult
from advinspect.core.data.datasets import ImageItem
from advinspect.core.data.images import save_png
from advinspect.core.models.base import Classifier
from advinspect.core.report.jsonio import finite, write_json
from advinspect.core.report.paths import sample_path
from advinspect.core.report.staging import staged_folder
from advinspect.core.status import result_statuses

if TYPE_CHECKING:
    import torch

__all__ = ["finite", "write_json"]  # kept importable from here (the CLI writes its JSON with it)

TOP_K = 5  # classes kept per sample before/after the attack (the report shows them)


def adversarial_name(file: str) -> str:
    """Where a sample's adversarial PNG lives, relative to results.json (the report reads it)."""
    return sample_path("adversarial", file, ".png")


def top_k(clf: Classifier, x: torch.Tensor | np.ndarray, k: int = TOP_K) -> list[list[dict[str, Any]]]:
    """Per sample, the k most probable classes as [{"name", "index", "probability"}]."""
    import torch

    x = torch.as_tensor(x).float()
    return top_k_of(clf.logits_batched(x).float().softmax(1).cpu(), clf.spec, k)


def top_k_of(probs: Any, spec: Any, k: int = TOP_K) -> list[list[dict[str, Any]]]:
    """`top_k` from class probabilities (N, classes) already computed."""
    import torch

    probs = torch.as_tensor(probs)
    top = probs.topk(max(1, min(k, probs.shape[1])), dim=1)
    return [[{"name": spec.label_name(int(j)), "index": int(j), "probability": _rounded(p)}
             for p, j in zip(values, indices, strict=True)] for values, indices in zip(top.values, top.indices,
                                                                                          strict=True)]


def _rounded(value: Any) -> float | None:
    """A number for JSON: rounded, None where NaN or infinite (JSON has neither)."""
    value = float(value)
    return round(value, 6) if np.isfinite(value) else None


def _clean_inputs(items: list[ImageItem], clf: Classifier) -> torch.Tensor:
    """The clean batch again, from the files (when the caller no longer holds it)."""
    import torch

    from advinspect.core.data.images import load_image

    return torch.stack([load_image(item.path, clf.spec) for item in items])


def sample_rows(result: AttackResult, items: list[ImageItem], clf: Classifier,
                x: torch.Tensor | np.ndarray | None = None) -> list[dict[str, Any]]:
    """One JSON row per sample. `x` is the clean batch (re-read from the files when None); it
    gives the clean top-k the report shows beside the adversarial top-k."""
    spec = clf.spec
    if result.clean_probs is not None and result.adv_probs is not None:  # the engine's: no model run
        clean_top, adv_top = top_k_of(result.clean_probs, spec), top_k_of(result.adv_probs, spec)
    else:
        clean_top = top_k(clf, x if x is not None else _clean_inputs(items, clf))
        adv_top = top_k(clf, result.x_adv)
    statuses = result_statuses(result)
    rows = []
    for i, item in enumerate(items):
        rows.append({
            "file": item.name,
            "status": statuses[i],
            "source": str(item.path.resolve()),
            "adversarial": adversarial_name(item.name),
            "label": spec.label_name(int(result.labels[i])) if result.labels_known else None,
            "target": None if result.target is None else spec.label_name(int(result.target[i])),
            "clean_pred": spec.label_name(int(result.clean_pred[i])),
            "adv_pred": spec.label_name(int(result.adv_pred[i])),
            "clean_confidence": _rounded(result.clean_confidence[i]),
            "adv_confidence": _rounded(result.adv_confidence[i]),
            "success": bool(result.success[i]),
            "linf": _rounded(result.linf[i]),
            "l2": _rounded(result.l2[i]),
            "l0": int(result.l0[i]),
            **({} if result.l1 is None else {"l1": _rounded(result.l1[i])}),
            "iterations": int(result.iterations[i]),
            "queries": int(result.queries[i]),
            "success_after_quantization": bool(result.success_after_quantization[i]),
            "clean_top_k": clean_top[i],
            "adv_top_k": adv_top[i],
        })
    return rows


def provenance(clf: Classifier) -> dict[str, Any]:
    """What reproduces a run: model identity and software versions."""
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "model": {"file": clf.path.name if clf.path else None, "format": clf.format, "sha256": clf.sha256,
                  "spec": clf.spec.to_dict()},
        "versions": {"advinspect": __version__, "torch": torch.__version__, "onnxruntime": ort_version,
                     "python": platform.python_version(), "numpy": np.__version__},
    }


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def attack_results(result: AttackResult, items: list[ImageItem], clf: Classifier,
                   command: str | None = None, *, x: torch.Tensor | np.ndarray | None = None,
                   gui_parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a report needs, as JSON: a report is rebuilt from this and the PNGs alone.

    `command` reproduces a CLI run; `gui_parameters` stands in for it when the GUI ran it."""
    summary = result.summary()
    return {
        "kind": "attack",
        "created": now_iso(),
        "summary": summary,
        "provenance": {**provenance(clf), "device": summary["device"], "command": command,
                       "gui_parameters": gui_parameters},
        "trace": result.trace,
        "samples": sample_rows(result, items, clf, x),
    }


def evaluation_attack_result(evaluation: Any, x: torch.Tensor, clf: Classifier, *, params: dict | None = None,
                             seed: int = 0, seconds: float = 0.0) -> AttackResult | None:
    """The reference attack of an evaluation (its middle budget) as an AttackResult, so its
    adversarials get the same sample rows and cards as a plain attack run. Iterations and queries
    are not kept by the evaluation and read 0."""
    import torch

    from advinspect.core.attacks import get_attack

    data = evaluation.data
    if evaluation.x_adv is None or "reference_attack" not in data:
        return None
    ref = data["reference_attack"]
    x = x.float().cpu()
    x_adv = torch.as_tensor(evaluation.x_adv).float()
    labels = torch.as_tensor(evaluation.labels).long()
    attack = get_attack(ref["attack"])
    adv_pred = torch.as_tensor(evaluation.adv_pred).long()
    lo, hi = clf.spec.value_range
    quantized = torch.round((x_adv - lo) / (hi - lo) * 255) / 255 * (hi - lo) + lo
    delta = (x_adv - x).flatten(1)
    n = len(x)
    return AttackResult(
        attack=ref["attack"], params={**(params or {}), "eps": ref.get("eps")},
        x_adv=x_adv.numpy(), labels=labels.numpy(), labels_known=True, target=None,
        clean_pred=np.asarray(evaluation.clean_pred), clean_confidence=np.asarray(evaluation.clean_confidence),
        adv_pred=adv_pred.numpy(), adv_confidence=np.asarray(evaluation.adv_confidence),
        success=attack.is_success(adv_pred, labels, None).numpy(),
        success_after_quantization=attack.is_success(clf.predict(quantized).cpu(), labels, None).numpy(),
        linf=delta.abs().max(1).values.numpy(), l2=delta.norm(dim=1).numpy(),
        l0=(delta.abs() > 1e-6).sum(1).numpy(), l1=delta.abs().sum(1).numpy(), iterations=np.zeros(n, np.int64),
        queries=np.zeros(n, np.int64), seconds=seconds, device=str(clf.device),
        seed=seed, cancelled=bool(evaluation.cancelled))


def evaluation_results(evaluation: Any, items: list[ImageItem], x: torch.Tensor, clf: Classifier,
                       command: str | None = None, *, params: dict | None = None, seed: int = 0,
                       seconds: float = 0.0) -> tuple[dict[str, Any], AttackResult | None]:
    """An evaluation as report input: its numbers (plots, warnings) plus one sample row per image
    for the reference attack's adversarials (returned too, for their PNGs)."""
    result = evaluation_attack_result(evaluation, x, clf, params=params, seed=seed, seconds=seconds)
    data = {k: v for k, v in evaluation.data.items() if k != "provenance"}
    out: dict[str, Any] = {
        "kind": "evaluation",
        "created": now_iso(),
        "summary": result.summary() if result is not None else {
            "attack": None, "params": {}, "n": data["n"], "clean_accuracy": data["clean_accuracy"],
            "seconds": round(seconds, 4), "device": str(clf.device)},
        "provenance": {**provenance(clf), "device": str(clf.device), "command": command, "gui_parameters": None},
        "evaluation": data,
        "trace": [],
        "samples": sample_rows(result, items, clf, x) if result is not None else [],
    }
    for row in out["samples"]:  # the evaluation does not keep per-sample effort
        row["iterations"] = row["queries"] = None
    out["summary"]["mean_queries"] = None
    return out, result


def write_adversarial_pngs(out_dir: Path, x_adv: np.ndarray, items: list[ImageItem], clf: Classifier) -> None:
    for i, item in enumerate(items):
        save_png(x_adv[i], Path(out_dir) / adversarial_name(item.name), clf.spec.value_range)


def write_attack_outputs(out_dir: Path, result: AttackResult, items: list[ImageItem], clf: Classifier,
                         command: str | None = None, *, x: torch.Tensor | np.ndarray | None = None,
                         results: dict[str, Any] | None = None, saliency: str | None = None,
                         seed: int = 0) -> Path:
    """DIR/results.json and DIR/adversarial/<same relative name>.png for every sample (plus
    DIR/saliency/ when `saliency` names a method), written whole into a staging folder and
    swapped into place. `results` (from `attack_results`) is written as given, so a report built
    from it matches; the saliency fields are added to it."""
    data = results if results is not None else attack_results(result, items, clf, command, x=x)
    with staged_folder(out_dir) as stage:
        if saliency:
            clean = x if x is not None else _clean_inputs(items, clf)
            add_saliency(data, stage, clf, clean, result.x_adv, saliency, seed=seed)
        write_adversarial_pngs(stage, result.x_adv, items, clf)
        write_json(stage / "results.json", data)
    return Path(out_dir) / "results.json"


def saliency_name(file: str, which: str) -> str:
    return sample_path("saliency", file, f".{which}.png")


def add_saliency(results: dict[str, Any], out_dir: Path, clf: Classifier, x: torch.Tensor | np.ndarray,
                 x_adv: torch.Tensor | np.ndarray, method: str, *, seed: int = 0, batch_size: int = 32) -> None:
    """Saliency overlays of each original (for its clean prediction) and adversarial (for its
    adversarial prediction) as PNGs beside results.json; the rows name them, so a report
    rebuilt later shows them without the model."""
    import warnings

    import torch

    from advinspect.core.explain import saliency
    from advinspect.core.explain.overlay import overlay

    x, x_adv = torch.as_tensor(x).float(), torch.as_tensor(x_adv).float()
    rows = results["samples"]
    for which, batch in (("original", x), ("adversarial", x_adv)):
        for start in range(0, len(rows), batch_size):
            stop = min(len(rows), start + batch_size)
            with warnings.catch_warnings():  # captum notes that it set requires_grad itself
                warnings.simplefilter("ignore", UserWarning)
                maps = saliency(clf, batch[start:stop], None, method, seed=seed)
            for i, heat in zip(range(start, stop), maps, strict=True):
                rel = saliency_name(rows[i]["file"], which)
                save_png(overlay(batch[i].numpy(), heat, clf.spec.value_range), Path(out_dir) / rel, (0.0, 1.0))
                rows[i][f"saliency_{which}"] = rel
    results["saliency_method"] = method
