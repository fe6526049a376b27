"""certify: randomized smoothing (Cohen et al. 2019), a certified L2 radius per image.

`run` (the GUI's images in memory) and `run_stream` (the CLI's files decoded batch by batch)
walk their batches with the same code and keep only per-sample rows (global index, file,
label, smoothed prediction, radius, correct); the curve and the summary are computed once from
the rows. Each image's noise is seeded by (seed, global index), so the rows do not depend on
the batch size, the shard or which other images are certified with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images

IMAGES_PER_BATCH = 64  # images `run` hands the per-batch code at a time (memory only: rows do not change)


@dataclass(frozen=True)
class Config:
    sigma: float = param(0.25, "noise level as a fraction of the value range", min=1e-4, max=10.0)
    n0: int = param(100, "noise samples to guess the class", min=1)
    n: int = param(1000, "noise samples to bound its probability", min=1)
    alpha: float = param(0.001, "failure probability of each certificate", min=1e-12, max=0.5)
    batch_size: int = param(1000, "noise samples per forward pass", min=1)
    seed: int = param(0, "random seed", min=0)


@dataclass
class Inputs:
    clf: Any
    images: Images


@dataclass
class Result:
    certification: Any  # core CertificationResult, computed from the rows
    rows: list[dict[str, Any]]  # per image: index, file, label, prediction, radius, correct
    errors: list[str] = field(default_factory=list)  # files that could not be decoded (skipped)

    @property
    def cancelled(self) -> bool:
        return bool(self.certification.cancelled)

    def summary(self) -> dict[str, Any]:
        c = self.certification
        radii = np.asarray(c.radii, dtype=float)
        correct = np.asarray(c.correct, dtype=bool)
        certified = radii[correct & (radii > 0)]
        return {"n": len(c.radii), "sigma": c.sigma,
                "certified_accuracy_at_0": c.curve_certified_accuracy[0] if c.curve_certified_accuracy else 0.0,
                "n_certified": int(len(certified)),
                "median_radius": float(np.median(certified)) if len(certified) else None,
                "mean_radius": float(certified.mean()) if len(certified) else None,
                "abstained": int(sum(p < 0 for p in c.predictions)), "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        median = "-" if s["median_radius"] is None else f"{s['median_radius']:.4f}"
        lines = [f"sigma {s['sigma']}: certified accuracy {s['certified_accuracy_at_0']:.4f} at radius 0, "
                 f"{s['n_certified']}/{s['n']} correct with a non-zero radius, median radius of those {median}, "
                 f"{s['abstained']} abstained"]
        if self.errors:
            lines.append(f"{len(self.errors)} file(s) could not be decoded and were skipped")
        if self.cancelled:
            lines.append("cancelled: the certificates cover the images finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**self.certification.to_dict(), "summary": self.summary(), "files": [r["file"] for r in self.rows],
                "index": [r["index"] for r in self.rows], "samples": self.rows, "errors": list(self.errors)}

    def report_section(self) -> Any:
        from advinspect.core.report.sections import Section, Table, figure_from_matplotlib

        c = self.certification
        table = Table(["L2 radius", "certified accuracy"],
                      [[round(r, 6), round(a, 6)] for r, a in zip(c.curve_radius, c.curve_certified_accuracy,
                                                                  strict=True)],
                      caption=f"certified accuracy at radius r (sigma {c.sigma}, n {c.n}, alpha {c.alpha})")
        figures = [figure_from_matplotlib(_curve_figure(c), "certified accuracy versus L2 radius")] if c.radii else []
        return Section("Randomized smoothing certification", self.summary_text(), [table], figures)


def _curve_figure(c: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    ax.plot(c.curve_radius, c.curve_certified_accuracy, marker="o", markersize=3, color="#2e8b57")
    ax.set_xlabel("L2 radius (pixel units)")
    ax.set_ylabel("certified accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    return fig


def certify_batch(clf: Any, batch: Any, config: Config, *, progress: Progress = NO_PROGRESS,
                  cancel: CancelToken = NEVER) -> list[dict[str, Any]]:
    """The rows of one batch (core.data StreamBatch): each image certified with the noise of
    (seed, its global index). A cancel keeps the images finished before it."""
    import torch

    from advinspect.core.defenses.smoothing import certify_set

    labels = np.asarray(batch.labels, dtype=np.int64)
    if (labels < 0).any():
        raise AdvInspectError("certify needs labels: give a folder of class folders (e.g. digits/3/*.png)")
    if not len(batch):
        return []
    c = certify_set(clf, batch.x.float(), torch.from_numpy(labels), config.sigma, n0=config.n0, n=config.n,
                    alpha=config.alpha, batch=config.batch_size, seed=config.seed, index=batch.index,
                    progress=progress, cancel=cancel)
    return [{"index": int(batch.index[i]), "file": batch.names[i], "label": int(labels[i]), "prediction": int(p),
             "radius": float(r), "correct": bool(ok)}
            for i, (p, r, ok) in enumerate(zip(c.predictions, c.radii, c.correct, strict=True))]


def aggregate(rows: list[dict[str, Any]], config: Config, *, cancelled: bool) -> Any:
    """The CertificationResult (curve included) of the rows, computed once for the whole set."""
    from advinspect.core.defenses.smoothing import certification

    return certification(config.sigma, config.n0, config.n, config.alpha, [r["prediction"] for r in rows],
                         [r["radius"] for r in rows], [r["label"] for r in rows], cancelled=cancelled)


def run_stream(clf: Any, stream: Any, config: Config, *, on_rows: Any = None, progress: Progress = NO_PROGRESS,
               cancel: CancelToken = NEVER) -> Result:
    """Certify a stream (core.data ImageStream / ArrayStream) batch by batch; `on_rows(rows)`
    gets each batch's rows as they are made. Memory holds one batch of images and the rows."""
    from advinspect.core.data.stream import Walk

    rows: list[dict[str, Any]] = []
    walk = Walk(stream, progress, cancel, "certified")
    for batch in walk:
        def forward(event: Any, done: int = walk.done) -> None:
            progress(done + event.step, walk.total, f"certified {done + event.step}/{walk.total}")

        new = certify_batch(clf, batch, config, progress=Progress(forward) if progress.active else NO_PROGRESS,
                            cancel=cancel)
        if on_rows is not None and new:
            on_rows(new)
        rows += new
    return Result(aggregate(rows, config, cancelled=bool(cancel.cancelled)), rows, walk.errors)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    """The images in memory (or decoded on demand), through the same per-batch code."""
    from advinspect.core.data.stream import ArrayStream

    inputs.images.require_labels("certify")
    return run_stream(inputs.clf, ArrayStream.of(inputs.images, IMAGES_PER_BATCH), config, progress=progress,
                      cancel=cancel)
