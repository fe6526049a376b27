"""predict: classify a set of images, top-k per image, accuracy where labels are known."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images


@dataclass(frozen=True)
class Config:
    top_k: int = param(3, "how many classes to show per image", min=1, max=1000)
    batch_size: int = param(128, "images per forward pass", min=1)


@dataclass
class Inputs:
    clf: Any
    images: Images


@dataclass
class Result:
    images: Images
    probs: np.ndarray  # (n, classes) for the predicted images (fewer than n when cancelled)
    rows: list[dict[str, Any]]
    device: str
    seconds: float
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def predictions(self) -> np.ndarray:
        return self.probs.argmax(1) if len(self.probs) else np.zeros(0, np.int64)

    def summary(self) -> dict[str, Any]:
        labelled = [r for r in self.rows if r["label"] is not None]
        s: dict[str, Any] = {"n": len(self.rows), "errors": list(self.errors), "device": self.device,
                             "seconds": round(self.seconds, 3), "cancelled": self.cancelled,
                             "n_nonfinite": self.n_nonfinite}
        if labelled:
            s["n_labelled"] = len(labelled)
            s["accuracy"] = sum(r["label"] == r["pred_name"] for r in labelled) / len(labelled)
        return s

    @property
    def n_nonfinite(self) -> int:
        """Images whose outputs hold NaN or Inf: the model is broken on them, not the images."""
        return int((~np.isfinite(self.probs).all(1)).sum()) if len(self.probs) else 0

    def summary_text(self) -> list[str]:
        s = self.summary()
        lines = []
        if s["n_nonfinite"]:
            lines.append(f"warning: the model's outputs are NaN or infinite on {s['n_nonfinite']} of {s['n']} "
                         "images; their predictions mean nothing")
        if "accuracy" in s:
            lines.append(f"accuracy: {s['accuracy']:.4f} on {s['n_labelled']} labelled images")
        else:
            lines.append(f"{s['n']} images predicted")
        if self.cancelled:
            lines.append("cancelled: the rows hold the images predicted so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "rows": self.rows}


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    started = time.perf_counter()
    clf, images = inputs.clf, inputs.images
    x = images.tensor()
    parts = []
    for start in range(0, len(x), config.batch_size):
        if cancel.cancelled:
            break
        parts.append(clf.logits_batched(x[start:start + config.batch_size]).float().softmax(1).cpu().numpy())
        progress(min(len(x), start + config.batch_size), len(x), "predicting")
    probs = np.concatenate(parts) if parts else np.zeros((0, clf.num_classes), np.float32)
    rows = prediction_rows(clf, probs, images.labels, images.names, images.index, config.top_k)
    return Result(images, probs, rows, str(clf.device), time.perf_counter() - started,
                  cancelled=len(probs) < len(x), errors=list(images.errors))


def prediction_rows(clf: Any, probs: np.ndarray, labels: np.ndarray, names: list[str], index: np.ndarray,
                    top_k: int) -> list[dict[str, Any]]:
    """One row per image: global index, file, label name, prediction and the top-k classes."""
    spec, k = clf.spec, max(1, min(top_k, clf.num_classes))
    rows = []
    for i in range(len(probs)):
        order = np.argsort(-probs[i], kind="stable")[:k]
        top = [{"index": int(j), "name": spec.label_name(int(j)), "probability": round(float(probs[i, j]), 6)}
               for j in order]
        label = None if labels[i] < 0 else spec.label_name(int(labels[i]))
        rows.append({"index": int(index[i]), "file": names[i], "label": label,
                     "pred": top[0]["index"], "pred_name": top[0]["name"], "top_k": top})
    return rows


@dataclass
class Streamed:
    """A streamed prediction: the rows (numbers, no images or probability matrix), with the same
    summary as the in-memory Result."""

    rows: list[dict[str, Any]]
    device: str
    seconds: float
    n_nonfinite: int = 0
    cancelled: bool = False
    errors: list[str] = field(default_factory=list)

    summary = Result.summary
    summary_text = Result.summary_text
    to_dict = Result.to_dict


def run_stream(clf: Any, stream: Any, config: Config, *, on_rows: Any = None, progress: Progress = NO_PROGRESS,
               cancel: CancelToken = NEVER) -> Streamed:
    """Classify a stream (core.data ImageStream / ArrayStream) batch by batch; `on_rows(rows)`
    gets each batch's rows as they are made (printed by the CLI). Memory holds one batch."""
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    nonfinite, done, cancelled = 0, 0, False
    for batch in stream:
        if cancel.cancelled:
            cancelled = True
            break
        errors += [message for _, _, message in batch.errors]
        if len(batch):
            probs = clf.logits_batched(batch.x.float()).float().softmax(1).cpu().numpy()
            nonfinite += int((~np.isfinite(probs).all(1)).sum())
            new = prediction_rows(clf, probs, batch.labels, batch.names, batch.index, config.top_k)
            if on_rows is not None:
                on_rows(new)
            rows += new
        done += len(batch) + len(batch.errors)
        progress(done, len(stream), "predicting")
    return Streamed(rows, str(clf.device), time.perf_counter() - started, nonfinite, cancelled, errors)
