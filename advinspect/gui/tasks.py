"""Job functions the worker runs. Each takes plain inputs and returns CPU numpy data.

These are the only GUI-package functions that touch torch or run a model; they import the core
lazily so the window can show before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError, ImageLoadError
from advinspect.core.jobs import CancelToken, Progress


@dataclass
class ImageSet:
    """Images as the GUI holds them: float32 (N, C, H, W) in the model's value range."""

    names: list[str]
    paths: list[str]
    labels: np.ndarray  # (N,) int, -1 where unknown
    x: np.ndarray
    errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())


@dataclass
class ModelState:
    """A loaded model with its description, the images fitted to it and their predictions."""

    clf: Any
    info: dict[str, Any]
    images: ImageSet | None
    probs: np.ndarray | None
    seconds: float


@dataclass
class AttackOutcome:
    """An attack result plus the full adversarial class probabilities for the Confidence dock."""

    result: Any  # core AttackResult (numpy arrays)
    indices: np.ndarray  # image indices in the session that were attacked
    adv_probs: np.ndarray  # (n, classes)


def discover_attacks(progress: Progress, cancel: CancelToken) -> dict[str, type]:
    """The attack registry; importing it imports torch, so it runs in the worker."""
    from advinspect.core.attacks import all_attacks

    return all_attacks()


def open_model(path: str | Path | None, sources: list[str], *, device: str = "auto",
               trust_pickle: bool = False, spec: Any = None, clf: Any = None,
               progress: Progress, cancel: CancelToken) -> ModelState:
    """Load a model (or take an in-memory one), then load `sources` fitted to it and predict.

    All or nothing: the GUI commits the new state only when every step succeeded.
    """
    started = time.perf_counter()
    if clf is None:
        from advinspect.core.models import load_model

        progress(0, 3, f"loading {Path(str(path)).name}")
        clf = load_model(path, spec, device=device, trust_pickle=trust_pickle)
    info = clf.describe()  # hashes the file: keep it off the GUI thread
    images, probs = None, None
    if sources:
        images = load_image_set(clf.spec, sources, progress=progress, cancel=cancel)
        probs = predict(clf, images.x, progress=progress, cancel=cancel)
    return ModelState(clf, info, images, probs, time.perf_counter() - started)


def load_image_set(spec: Any, sources: list[str], *, progress: Progress,
                   cancel: CancelToken) -> ImageSet:
    """Files and folders into an ImageSet; fails only when not a single image could be read."""
    from advinspect.core.data import collect_images, load_images

    items = collect_images(sources, spec)
    if not items:
        raise AdvInspectError(f"no images found in {', '.join(sources)}")
    batch = load_images(items, spec, progress=progress, cancel=cancel)
    if not len(batch):
        detail = batch.errors[0] if batch.errors else "cancelled"
        raise ImageLoadError(f"none of the {len(items)} images could be read: {detail}")
    return ImageSet(
        names=[item.name for item in batch.items],
        paths=[str(item.path) for item in batch.items],
        labels=batch.labels.numpy().astype(np.int64),
        x=batch.x.numpy().astype(np.float32, copy=False),
        errors=list(batch.errors),
    )


def images_with_predictions(clf: Any, sources: list[str], *, progress: Progress,
                            cancel: CancelToken) -> tuple[ImageSet, np.ndarray]:
    images = load_image_set(clf.spec, sources, progress=progress, cancel=cancel)
    return images, predict(clf, images.x, progress=progress, cancel=cancel)


def predict(clf: Any, x: np.ndarray, *, progress: Progress, cancel: CancelToken,
            batch_size: int = 128) -> np.ndarray:
    """Class probabilities (N, classes) as float32 numpy, in batches with progress."""
    import torch

    parts = []
    for start in range(0, len(x), batch_size):
        if cancel.cancelled:
            raise AdvInspectError("prediction cancelled")
        chunk = torch.from_numpy(np.ascontiguousarray(x[start:start + batch_size]))
        parts.append(clf.probabilities(chunk).float().cpu().numpy())
        progress(min(len(x), start + batch_size), len(x), "predicting")
    return np.concatenate(parts) if parts else np.zeros((0, clf.num_classes), np.float32)


def run_attack(attack: Any, clf: Any, x: np.ndarray, labels: np.ndarray, indices: np.ndarray, *,
               target: np.ndarray | None, seed: int, progress: Progress,
               cancel: CancelToken) -> AttackOutcome:
    """Run a configured attack instance on the images at `indices`; previews flow to the GUI."""
    import torch

    xb = torch.from_numpy(np.ascontiguousarray(x))
    yb = torch.from_numpy(labels.astype(np.int64))
    tb = torch.from_numpy(target.astype(np.int64)) if target is not None else None
    result = attack.run(clf, xb, yb, target=tb, progress=progress, cancel=cancel, seed=seed)
    adv_probs = clf.probabilities(torch.from_numpy(result.x_adv)).float().cpu().numpy()
    return AttackOutcome(result, indices, adv_probs)


def params_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params)


# --- saliency, evaluation, defenses (issues 5 and 7) -----------------------------------------
@dataclass
class SaliencyMaps:
    """Maps for the clean image and, when it was attacked, its adversarial (None otherwise)."""

    method: str
    clean: np.ndarray  # (H, W) in [0, 1]
    adversarial: np.ndarray | None
    targets: list[int]  # the class each map explains
    layer: str | None


def saliency_maps(clf: Any, x: np.ndarray, x_adv: np.ndarray | None, *, method: str,
                  target: int | None, layer: str | None, progress: Progress,
                  cancel: CancelToken) -> SaliencyMaps:
    """Saliency of one image (and its adversarial) for `target` (None: each one's prediction)."""
    import torch

    from advinspect.core.explain import saliency

    batch = x[None] if x_adv is None else np.stack([x, x_adv])
    xb = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    targets = clf.predict(xb).cpu() if target is None else torch.full((len(xb),), int(target), dtype=torch.long)
    maps = saliency(clf, xb, targets, method, layer=layer if method == "gradcam" else None)
    return SaliencyMaps(method, maps[0], maps[1] if x_adv is not None else None,
                        [int(t) for t in targets], layer)


@dataclass
class EvaluationOutcome:
    """A core Evaluation plus what links its plots back to session images."""

    evaluation: Any  # core Evaluation (numpy arrays, JSON-ready data)
    indices: np.ndarray  # session image index of each evaluated sample
    held_out: np.ndarray  # positions (into `indices`) of the calibration's held-out split
    scaled_confidence: np.ndarray  # clean confidence after temperature scaling, per sample
    ignored_params: list[str] = field(default_factory=list)


def shared_params(attack_classes: list[type], params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The parameters some chosen attack accepts (core `evaluate` hands each attack the ones it
    takes), and the names dropped because none of them takes it (steps for FGSM alone)."""
    keep, dropped = {}, []
    for key, value in params.items():
        if any(key in {f.name for f in dataclasses.fields(cls.params_type)} for cls in attack_classes):
            keep[key] = value
        else:
            dropped.append(key)
    return keep, dropped


def run_evaluation(clf: Any, x: np.ndarray, labels: np.ndarray, indices: np.ndarray, config: Any, *,
                   ignored: list[str], progress: Progress, cancel: CancelToken) -> EvaluationOutcome:
    import torch

    from advinspect.core.evaluate import evaluate
    from advinspect.core.metrics.calibration import split_indices

    xb = torch.from_numpy(np.ascontiguousarray(x))
    yb = torch.from_numpy(labels.astype(np.int64))
    ev = evaluate(clf, xb, yb, config, progress=progress, cancel=cancel)
    temperature = float(ev.data["calibration"]["temperature"])
    logits = clf.logits_batched(xb).double().cpu()
    scaled = (logits / temperature).softmax(1).max(1).values.numpy()
    _, held = split_indices(len(x), config.calibration_split, config.seed)
    return EvaluationOutcome(ev, np.asarray(indices, dtype=np.int64), held, scaled, ignored)


def defended_state(base: Any, text: str, adaptive: bool, eot_samples: int, x: np.ndarray | None, *,
                   progress: Progress, cancel: CancelToken) -> ModelState:
    """The base model behind the parsed transforms, described and with predictions on `x`."""
    from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense

    started = time.perf_counter()
    clf = DefendedClassifier(base, parse_defense(text), adaptive=adaptive, eot_samples=eot_samples)
    probs = None if x is None else predict(clf, x, progress=progress, cancel=cancel)
    return ModelState(clf, clf.describe(), None, probs, time.perf_counter() - started)


@dataclass
class DefensePreview:
    transformed: np.ndarray  # (C, H, W) in the model's value range
    probs: np.ndarray  # (classes,) of the model on the transformed image
    clean_probs: np.ndarray  # (classes,) on the untouched image


def defense_preview(clf: Any, x: np.ndarray, text: str, *, progress: Progress,
                    cancel: CancelToken) -> DefensePreview:
    """One image through the transforms (what the defended model would see) and its prediction."""
    import torch

    from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense

    defended = DefendedClassifier(clf, parse_defense(text))
    xb = torch.from_numpy(np.ascontiguousarray(x[None], dtype=np.float32))
    with torch.no_grad():
        transformed = defended.transform(xb.to(clf.device))
        probs = clf.probabilities(transformed).float().cpu().numpy()[0]
        clean = clf.probabilities(xb).float().cpu().numpy()[0]
    return DefensePreview(transformed.cpu().numpy()[0], probs, clean)


def detect(clf: Any, clean: np.ndarray, adversarial: np.ndarray, target_fpr: float, *,
           progress: Progress, cancel: CancelToken) -> Any:
    """Feature-squeezing detector on these clean images and their adversarials (a DetectionReport)."""
    import torch

    from advinspect.core.defenses.detection import evaluate_detector

    progress(0, 1, "feature squeezing")
    return evaluate_detector(clf, torch.from_numpy(np.ascontiguousarray(clean)),
                             torch.from_numpy(np.ascontiguousarray(adversarial)), target_fpr=target_fpr)


def certify(clf: Any, x: np.ndarray, labels: np.ndarray, sigma: float, n0: int, n: int, alpha: float, *,
            progress: Progress, cancel: CancelToken) -> Any:
    """Randomized-smoothing certificates (a CertificationResult) for these images."""
    import torch

    from advinspect.core.defenses.smoothing import certify_set

    return certify_set(clf, torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels.astype(np.int64)),
                       sigma, n0=n0, n=n, alpha=alpha, progress=progress, cancel=cancel)


def compare(models: dict[str, Any], files: dict[str, str], x: np.ndarray, labels: np.ndarray, *, attack: str,
            eps: tuple[float, ...], params: dict[str, Any], device: str, progress: Progress,
            cancel: CancelToken) -> dict[str, Any]:
    """compare_models over in-memory models plus model files loaded here (on the worker)."""
    import torch

    from advinspect.core.compare import compare_models
    from advinspect.core.models import load_model

    everything = dict(models)
    for name, path in files.items():
        progress(0, 1, f"loading {Path(path).name}")
        everything[name] = load_model(path, None, device=device)
    return compare_models(everything, torch.from_numpy(np.ascontiguousarray(x)),
                          torch.from_numpy(labels.astype(np.int64)), attack=attack, eps=eps, params=params,
                          progress=progress, cancel=cancel)


def training_available() -> bool:
    """Whether the training-time defenses module exists (it is optional for the GUI)."""
    import importlib.util

    return importlib.util.find_spec("advinspect.core.defenses.training") is not None


def train(values: dict[str, Any], base: Any, x: np.ndarray | None, labels: np.ndarray | None, limit: int, *,
          progress: Progress, cancel: CancelToken) -> Any:
    """Retrain the session's torch model with a training-time defense; returns (result, classifier).

    `x`/`labels` None: the demo's training digits (the first `limit`)."""
    import torch

    from advinspect.core.defenses.training import TrainingConfig, demo_training_set, train_defense

    config = TrainingConfig.from_values(values)
    if x is None:
        x_tr, y_tr, _, _ = demo_training_set(config.seed)
    else:
        x_tr, y_tr = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels.astype(np.int64))
    x_tr, y_tr = x_tr[:limit], y_tr[:limit]
    result = train_defense(config, x_tr, y_tr, base.spec, base, progress=progress, cancel=cancel)
    return result, result.classifier(base.device)
