"""compare: several models on one labelled set — clean vs robust accuracy, curves, ECE, saliency.

`run` (the GUI's images) and `run_stream` (the CLI's files decoded batch by batch) share the
per-batch code (core.compare.batch_rows): every model scores and attacks each batch, each image
becomes a row (per model: prediction, calibration terms, per-eps result), and the table is
computed once from all rows. Memory holds one batch of images, the rows and one image for the
saliency comparison (the set's first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images, with_plugins

SALIENCY_METHOD = "gradient"


@dataclass(frozen=True)
class Config:
    attack: str = param("pgd", "attack for the robustness curves")
    eps: tuple[float, ...] = param((0.0, 0.05, 0.1), "budgets, comma-separated; fractions allowed", min=0.0)
    steps: int | None = param(None, "attack iterations", min=1)
    seed: int = param(0, "random seed", min=0)
    batch_size: int = param(64, "images per batch (memory only: the results do not change)", min=1)
    params: dict[str, Any] = field(default_factory=dict)  # other attack parameters

    def attack_params(self) -> dict[str, Any]:
        return {**self.params, **({"steps": self.steps} if self.steps else {})}


@dataclass
class Inputs:
    models: dict[str, Any]  # name -> Classifier
    images: Images


@dataclass
class Result:
    data: dict[str, Any]  # JSON-ready: the table per model, and the per-image rows as `samples`
    saliency: dict[str, np.ndarray]  # name -> (H, W) map of the compared image
    image: np.ndarray  # the image the saliency maps explain (C, H, W)

    @property
    def cancelled(self) -> bool:
        return bool(self.data.get("cancelled"))

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.data["samples"]

    @property
    def errors(self) -> list[str]:
        return self.data.get("errors", [])

    def summary(self) -> dict[str, Any]:
        return {"attack": self.data["attack"], "eps": self.data["eps"][-1] if self.data["eps"] else None,
                "n": len(self.rows),
                "models": {r["model"]: {"clean_accuracy": r["clean_accuracy"], "robust_accuracy": r["robust_accuracy"],
                                        "ece": r["ece"]} for r in self.data["models"]},
                "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        eps = max(self.data["eps"]) if self.data["eps"] else 0.0
        lines = [f"{'model':<32} {'clean':>7} {'robust':>7} {'ECE':>7}  (robust at eps={eps:.4g}, {self.data['attack']}, "
                 f"{len(self.rows)} images)"]
        for row in self.data["models"]:
            robust = "-" if row["robust_accuracy"] is None else f"{row['robust_accuracy']:7.4f}"
            lines.append(f"{row['model'][-32:]:<32} {row['clean_accuracy']:7.4f} {robust:>7} {row['ece']:7.4f}")
        if self.errors:
            lines.append(f"{len(self.errors)} file(s) could not be decoded and were skipped")
        if self.cancelled:
            lines.append("cancelled: the table covers the images finished so far")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {**self.data, "summary": self.summary()}

    def report_section(self) -> Any:
        from advinspect.core.explain.overlay import overlay
        from advinspect.core.report.sections import (
            Section,
            Table,
            figure_from_array,
            figure_from_matplotlib,
            image_grid,
        )

        table = Table(["model", "clean accuracy", "robust accuracy", "ECE", "NLL", "saliency alignment"],
                      [[r["model"], r["clean_accuracy"], r["robust_accuracy"], r["ece"], r["nll"],
                        r.get("saliency_alignment")] for r in self.data["models"]])
        figures = []
        if self.rows:
            figures.append(figure_from_matplotlib(_curves_figure(self.data), "robust accuracy versus epsilon"))
        if self.saliency:
            tiles = np.stack([overlay(self.image, heat, opacity=0.7) for heat in self.saliency.values()])
            figures.append(figure_from_array(image_grid(tiles, len(tiles)), "the first image explained by each model "
                                             f"({', '.join(self.saliency)})", scale=max(1, 96 // self.image.shape[-1])))
        return Section("Model comparison", self.summary_text(), [table], figures)


def _curves_figure(data: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
    for row in data["models"]:
        ax.plot(row["curve"]["eps"], row["curve"]["robust_accuracy"], marker="o", markersize=3, label=row["model"])
    ax.set(xlabel="epsilon", ylabel="robust accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def check(models: dict[str, Any], config: Config) -> None:
    """What fails before any work: the models, the attack's name and parameters."""
    from advinspect.core.attacks import get_attack
    from advinspect.core.compare import check_models

    check_models(models)
    with_plugins()
    get_attack(config.attack).from_values({**config.attack_params(), "eps": max(config.eps, default=0.0)})


def run_stream(models: dict[str, Any], stream: Any, config: Config, *, on_rows: Any = None,
               progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> Result:
    """Compare the models on a stream (core.data ImageStream / ArrayStream) batch by batch;
    `on_rows(rows)` gets each batch's rows. A batch cancelled midway is dropped whole."""
    import torch

    from advinspect.core.compare import batch_rows, model_rows, saliency_alignment, saliency_maps
    from advinspect.core.data.stream import Walk

    check(models, config)
    params = config.attack_params()
    rows: list[dict[str, Any]] = []
    maps: dict[str, np.ndarray] = {}
    image = np.zeros(0, np.float32)
    walk = Walk(stream, progress, cancel, "compared")
    for batch in walk:
        new = batch_rows(models, batch.x, batch.labels, batch.index, batch.names, attack=config.attack,
                         eps=tuple(config.eps), params=params, seed=config.seed, cancel=cancel)
        if new is None:  # cancelled midway: the batch is dropped whole
            break
        if new and not maps:  # the set's first image, explained by every model
            image = batch.x[0].float().numpy().copy()
            maps = saliency_maps(models, batch.x[0].float(), torch.tensor(int(batch.labels[0])), SALIENCY_METHOD)
        if on_rows is not None and new:
            on_rows(new)
        rows += new
    table = model_rows(models, rows, attack=config.attack, params=params)
    for row in table:
        row["saliency_alignment"] = saliency_alignment(maps[row["model"]], image) if maps else None
    data = {"attack": config.attack, "eps": sorted(float(e) for e in config.eps), "models": table,
            "saliency_index": rows[0]["index"] if rows else None, "saliency_method": SALIENCY_METHOD,
            "cancelled": walk.cancelled or bool(cancel.cancelled), "samples": rows, "errors": walk.errors}
    return Result(data, maps, image)


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    """The images in memory (or decoded on demand), through the same per-batch code."""
    from advinspect.core.data.stream import ArrayStream

    inputs.images.require_labels("compare")
    return run_stream(inputs.models, ArrayStream.of(inputs.images, config.batch_size), config, progress=progress,
                      cancel=cancel)
