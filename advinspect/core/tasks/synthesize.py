"""synthesize: draw images of chosen classes with a classifier's gradients (Santurkar et al. 2019),
or invert a layer's representation of given images, from seeds, with a robust-vs-standard A/B.

A robust model's gradients are perceptually aligned: targeted L2 descent from a seed draws the
class. `Inputs.compare` runs the same seeds through a second (standard) model; `Inputs.judge`, an
independent classifier, says whether the images show their class, and labels the seeds alone as
the control. The default seed is one Gaussian pooled over all classes: a per-class Gaussian seed
(the reference's) already shows its class on small images (the demo digits' judges label 99 % of
such seeds as their class before any step), so an A/B from it cannot tell the models apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.params import param
from advinspect.core.tasks.base import Images, fmt

MODES = ("classes", "invert")
SEED_KINDS = ("gaussian", "pooled", "noise", "image")


@dataclass(frozen=True)
class Config:
    mode: str = param("classes", "classes: draw each chosen class; invert: match a layer's features of "
                      "given images", choices=MODES)
    classes: tuple[str, ...] = param((), "class names (or indices) to draw; empty: every class")
    per_class: int = param(4, "images per class", min=1, max=10_000)
    seed_kind: str = param("pooled", "pooled: one Gaussian fitted to all classes together (the class then comes "
                           "from the model alone: the fair A/B); gaussian: a per-class Gaussian (the reference; "
                           "on small images the seed already shows its class); uniform noise; or the given images",
                           choices=SEED_KINDS)
    seed_size: int = param(8, "Gaussian seeds: side the class images are downsampled to before fitting",
                           min=1, max=64)
    steps: int = param(60, "L2 descent steps", min=1, max=100_000)
    eps: float | None = param(None, "L2 budget around the seed; empty: 0.72·sqrt(C·H·W) (40 on CIFAR)",
                              min=0.0, max=1e6)
    step_size: float | None = param(None, "step size; empty: 2.5·eps/steps", min=0.0, max=1e6)
    layer: str = param("logits", "invert: the layer whose features are matched (logits or a conv layer)")
    batch_size: int = param(100, "images optimised together", min=1, max=65_536)
    seed: int = param(0, "seed of the seeds", min=0)


@dataclass
class Inputs:
    clf: Any  # the model whose gradients draw (the robust one)
    images: Images | None = None  # class images for Gaussian seeds, image seeds, or the images to invert
    compare: Any = None  # optional second model on the same seeds (the standard one): the A/B
    judge: Any = None  # optional independent classifier that labels the drawn images
    names: tuple[str, str] = ("model", "compare")


@dataclass
class Synthesis:
    """What one model drew: images (n, C, H, W) in pixel space, its own and the judge's labels."""

    name: str
    images: np.ndarray
    predictions: np.ndarray
    target_probability: np.ndarray
    judge_predictions: np.ndarray | None = None
    steps_done: int = 0

    def rates(self, targets: np.ndarray) -> dict[str, Any]:
        n = len(self.images)
        t = targets[:n]
        return {"n": n, "steps_done": self.steps_done,
                "model_agreement": float((self.predictions == t).mean()) if n else None,
                "judge_agreement": float((self.judge_predictions == t).mean())
                if n and self.judge_predictions is not None else None}


@dataclass
class Result:
    config: Config
    labels: tuple[str, ...]  # class names of the model
    targets: np.ndarray  # (N,) the class each image should show
    seeds: np.ndarray  # (N, C, H, W)
    runs: list[Synthesis] = field(default_factory=list)
    references: np.ndarray | None = None  # invert: the images whose features are matched
    eps: float = 0.0
    step_size: float = 0.0
    value_range: tuple[float, float] = (0.0, 1.0)
    cancelled: bool = False
    seed_judge_predictions: np.ndarray | None = None  # the judge's labels of the seeds alone: the control

    def seed_judge_agreement(self) -> float | None:
        """Share of the seeds the judge already labels as their target class before any step."""
        p = self.seed_judge_predictions
        return None if p is None or not len(p) else float((p == self.targets[: len(p)]).mean())

    def summary(self) -> dict[str, Any]:
        return {"mode": self.config.mode, "seed_kind": self.config.seed_kind, "n": len(self.targets),
                "classes": sorted({self.labels[t] for t in self.targets.tolist()}),
                "eps": self.eps, "step_size": self.step_size, "steps": self.config.steps,
                "seeds_judge_agreement": self.seed_judge_agreement(),
                "runs": {r.name: r.rates(self.targets) for r in self.runs}, "cancelled": self.cancelled}

    def summary_text(self) -> list[str]:
        s = self.summary()
        what = "inverted" if self.config.mode == "invert" else "drew"
        lines = []
        for name, r in s["runs"].items():
            line = (f"{name}: {what} {r['n']} image(s) in {r['steps_done']} steps (L2 eps {self.eps:.4g}); "
                    f"the model labels {fmt(r['model_agreement'])} as their class")
            if r["judge_agreement"] is not None:
                line += f", the independent classifier {fmt(r['judge_agreement'])}"
            lines.append(line)
        if s["seeds_judge_agreement"] is not None and self.config.mode == "classes":
            lines.append(f"control: the independent classifier labels {fmt(s['seeds_judge_agreement'])} of the "
                         f"{self.config.seed_kind} seeds alone as their class (a drawing shows its class only "
                         "above this)")
        if self.cancelled:
            lines.append("cancelled: the images are those drawn so far")
        return lines

    def per_class(self) -> list[list[Any]]:
        """Rows: class, then per run the model's and the judge's agreement on that class."""
        rows = []
        for k in sorted(set(self.targets.tolist())):
            row: list[Any] = [self.labels[k]]
            for r in self.runs:
                mask = self.targets[: len(r.images)] == k
                row.append(float((r.predictions[mask] == k).mean()) if mask.any() else None)
                if r.judge_predictions is not None:
                    row.append(float((r.judge_predictions[mask] == k).mean()) if mask.any() else None)
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "config": asdict(self.config), "labels": list(self.labels),
                "targets": self.targets.tolist(),
                "seed_judge_predictions": None if self.seed_judge_predictions is None
                else self.seed_judge_predictions.tolist(),
                "runs": [{"name": r.name, "predictions": r.predictions.tolist(),
                          "target_probability": [float(p) for p in r.target_probability],
                          "judge_predictions": None if r.judge_predictions is None else r.judge_predictions.tolist()}
                         for r in self.runs]}

    def grid(self, which: str | None = None) -> np.ndarray:
        """One grid (H', W', C) in [0, 1]: a row per class, `per_class` columns; `which` is a run
        name, 'seeds' or 'references'."""
        from advinspect.core.report.sections import image_grid

        images = {"seeds": self.seeds, "references": self.references}.get(which) if which in (
            "seeds", "references") else next(r.images for r in self.runs if r.name == which)
        lo, hi = self.value_range
        return image_grid((np.asarray(images) - lo) / (hi - lo), self.config.per_class)

    def contact_sheet(self) -> np.ndarray:
        """Seeds (or references), then every run's grid, side by side with a white gap."""
        names = (["references"] if self.references is not None else ["seeds"]) + [r.name for r in self.runs]
        grids = [self.grid(n) for n in names]
        height = max(g.shape[0] for g in grids)
        parts = []
        for g in grids:
            pad = np.ones((height - g.shape[0], *g.shape[1:]), dtype=g.dtype)
            parts += [np.concatenate([g, pad]), np.ones((height, 4, g.shape[2]), dtype=g.dtype)]
        return np.concatenate(parts[:-1], axis=1)

    def report_section(self) -> Any:
        from advinspect.core.report.sections import Section, Table, figure_from_array

        columns = ["class"]
        for r in self.runs:
            columns.append(f"{r.name}: model")
            if r.judge_predictions is not None:
                columns.append(f"{r.name}: judge")
        captions = " | ".join((["references"] if self.references is not None else ["seeds"])
                              + [r.name for r in self.runs])
        return Section("Synthesis" if self.config.mode == "classes" else "Representation inversion",
                       lines=self.summary_text(),
                       tables=[Table(columns, self.per_class(), "agreement with the target class, per class")],
                       figures=[figure_from_array(self.contact_sheet(), f"left to right: {captions}", scale=2)])


def _class_indices(clf: Any, classes: tuple[str, ...]) -> list[int]:
    labels = tuple(clf.spec.labels)
    if not classes:
        return list(range(len(labels)))
    out = []
    for name in classes:
        if name in labels:
            out.append(labels.index(name))
        elif name.isdigit() and int(name) < len(labels):
            out.append(int(name))
        else:
            shown = ", ".join(labels[:20]) + (" …" if len(labels) > 20 else "")
            raise AdvInspectError(f"class {name!r} is not one of the model's classes: {shown}")
    return list(dict.fromkeys(out))


def _check_shape(name: str, clf: Any, shape: tuple[int, ...]) -> None:
    if clf.spec.input_shape is not None and tuple(clf.spec.input_shape) != tuple(shape):
        raise AdvInspectError(f"the {name} takes {tuple(clf.spec.input_shape)} (C,H,W) but the images are "
                              f"{tuple(shape)}")


def _plan(inputs: Inputs, config: Config) -> tuple[list[int], Any, Any]:
    """(targets, seeds, references or None): every input checked before any descent step."""
    import torch

    clf = inputs.clf
    classes = _class_indices(clf, config.classes)
    images = inputs.images
    generator = torch.Generator().manual_seed(config.seed)
    shape = tuple(clf.spec.input_shape) if clf.spec.input_shape is not None else None
    if images is not None and len(images):
        shape = tuple(images.x.shape[1:])
    if shape is None:
        raise AdvInspectError("the model does not say its input shape: give images to take it from")
    for name, other in (("compared model", inputs.compare), ("judge", inputs.judge)):
        if other is not None:
            _check_shape(name, other, shape)
            if len(other.spec.labels) != len(clf.spec.labels):
                raise AdvInspectError(f"the {name} has {len(other.spec.labels)} classes, the model "
                                      f"{len(clf.spec.labels)}")
    bounds = clf.spec.value_range
    needs_labels = config.mode == "invert" or config.seed_kind in ("gaussian", "pooled")
    if needs_labels:
        if images is None:
            raise AdvInspectError(f"{'inversion needs' if config.mode == 'invert' else 'Gaussian seeds need'} "
                                  "labelled images: give a folder of class folders (or --seed-kind noise)")
        images.require_labels("synthesize")
    references = None
    if config.mode == "invert":
        if config.seed_kind == "image":
            raise AdvInspectError("inversion starts from gaussian or noise seeds, not from the images it inverts")
        picks = []
        for k in classes:
            members = np.flatnonzero(images.labels == k)[: config.per_class]
            if len(members) < config.per_class:
                raise AdvInspectError(f"inversion of {config.per_class} image(s) of class "
                                      f"{clf.spec.labels[k]!r} needs that many; found {len(members)}")
            picks.extend(members.tolist())
        references = images.tensor()[torch.as_tensor(picks)]
    targets = [k for k in classes for _ in range(config.per_class)]
    n = len(targets)
    if config.seed_kind == "gaussian":
        from advinspect.core.robust.synthesis import gaussian_seeds

        seeds = gaussian_seeds(images.tensor(), images.labels_tensor(), classes, config.per_class,
                               seed_size=config.seed_size, bounds=bounds, generator=generator)
    elif config.seed_kind == "pooled":
        from advinspect.core.robust.synthesis import gaussian_seeds

        x_all = images.tensor()
        seeds = gaussian_seeds(x_all, torch.zeros(len(x_all), dtype=torch.long), [0], n,
                               seed_size=config.seed_size, bounds=bounds, generator=generator)
    elif config.seed_kind == "noise":
        from advinspect.core.robust.synthesis import noise_seeds

        seeds = noise_seeds(n, shape, bounds=bounds, generator=generator)
    else:
        if images is None or len(images) < config.per_class:
            raise AdvInspectError(f"image seeds need at least {config.per_class} image(s) (--per-class)")
        seeds = images.tensor()[: config.per_class].repeat(len(classes), 1, 1, 1)
    return targets, seeds, references


def run(inputs: Inputs, config: Config, *, progress: Progress = NO_PROGRESS,
        cancel: CancelToken = NEVER) -> Result:
    import torch

    from advinspect.core.robust import synthesis as engine

    targets_list, seeds, references = _plan(inputs, config)
    targets = torch.as_tensor(targets_list, dtype=torch.long)
    shape = tuple(seeds.shape[1:])
    eps = config.eps if config.eps is not None else engine.default_eps(shape)
    step = config.step_size if config.step_size is not None else engine.default_step(eps, config.steps)
    clf = inputs.clf
    result = Result(config, tuple(clf.spec.labels), targets.numpy(), seeds.numpy(),
                    references=None if references is None else references.numpy(), eps=eps, step_size=step,
                    value_range=tuple(clf.spec.value_range))
    if inputs.judge is not None:
        result.seed_judge_predictions = inputs.judge.predict(seeds).cpu().numpy()
    models = [(inputs.names[0], clf)] + ([(inputs.names[1], inputs.compare)] if inputs.compare is not None else [])
    batches = list(range(0, len(targets), config.batch_size))
    total = config.steps * len(batches) * len(models)
    count = {"step": 0}
    for name, model in models:
        if cancel.cancelled:
            break
        parts: list[Any] = []
        steps_done = config.steps
        for start in batches:
            if cancel.cancelled:
                break
            sl = slice(start, start + config.batch_size)
            seed_b, target_b = seeds[sl].to(model.device), targets[sl]
            if config.mode == "invert":
                loss = engine.inversion_loss(engine.feature_fn(model, config.layer), references[sl].to(model.device))
            else:
                loss = engine.class_loss(model, target_b)

            def on_step(k: int, x: Any, name: str = name, target_b: Any = target_b) -> None:
                count["step"] += 1
                preview = None
                if progress.wants_preview and (k % 5 == 0 or k == config.steps):
                    preview = {"run": name, "step": k, "images": x.detach().cpu().numpy(),
                               "targets": target_b.numpy()}
                progress(count["step"], total, f"{name}: step {k}/{config.steps}", preview)

            x, done = engine.l2_descent(seed_b, loss, engine.Descent(eps, step, config.steps, model.spec.value_range),
                                        on_step=on_step, cancel=cancel)
            steps_done = min(steps_done, done)
            parts.append(x.cpu())
        if not parts:
            break
        drawn = torch.cat(parts)
        probs = model.probabilities(drawn).cpu()
        n = len(drawn)
        judge = None if inputs.judge is None else inputs.judge.predict(drawn).cpu().numpy()
        result.runs.append(_synthesis(name, drawn, probs, targets[:n], judge, steps_done))
    result.cancelled = bool(cancel.cancelled)
    return result


def _synthesis(name: str, drawn: Any, probs: Any, targets: Any, judge: np.ndarray | None, steps_done: int) -> Synthesis:
    return Synthesis(name, drawn.numpy(), probs.argmax(1).numpy(),
                     probs.gather(1, targets.view(-1, 1)).squeeze(1).numpy(), judge, steps_done)
