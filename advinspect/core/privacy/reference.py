"""Reference (shadow) models: k models of one architecture, each trained on a random half of a
population set, and cached by everything that determines them.

Halves come in complementary pairs (model 2j and 2j+1 split the same permutation), so with an even
k every population image is in exactly k/2 models and out of k/2 — the offline LiRA statistics
and the shadow attack's in/out examples are balanced by construction.

Cache: one folder per model key (sha256 of the population's pixels and labels, architecture,
training settings, seed and index): `weights.pt` (a state_dict, read back with
`weights_only=True`) and `model.json` (the key and the half). Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import NEVER, NO_PROGRESS, CancelToken, Progress
from advinspect.core.models.spec import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.privacy.nets import build_net, seeded_net


@dataclass(frozen=True)
class ReferenceSettings:
    arch: str
    k: int
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    seed: int
    cache_dir: str


@dataclass
class ReferenceModels:
    """The trained models (as Classifiers) and which population images each trained on."""

    models: list[Any]
    in_half: np.ndarray  # (k, n_population) bool
    cached: int  # how many came from the cache
    cancelled: bool = False


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "advinspect" / "reference_models"


def halves(n: int, k: int, seed: int) -> np.ndarray:
    """(k, n) membership masks: complementary pairs of random halves."""
    masks = np.zeros((k, n), dtype=bool)
    for i in range(k):
        order = np.random.default_rng([seed, i // 2]).permutation(n)
        first = order[: n // 2] if i % 2 == 0 else order[n // 2:]
        masks[i, first] = True
    return masks


def data_digest(x: torch.Tensor, labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32).tobytes())
    digest.update(np.asarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def train_references(target: Any, x: torch.Tensor, labels: np.ndarray, settings: ReferenceSettings, *,
                     progress: Progress = NO_PROGRESS, cancel: CancelToken = NEVER) -> ReferenceModels:
    """Train (or load from the cache) `settings.k` reference models on halves of (x, labels).

    Progress: one step per training batch over all models (cached ones count as done at once).
    A cancel stops after the current batch; the models finished so far are returned."""
    from advinspect.core.defenses.training import TrainingConfig, train_defense

    spec = ModelSpec(input_shape=target.spec.input_shape, value_range=target.spec.value_range,
                     mean=target.spec.mean, std=target.spec.std, labels=target.spec.labels)
    shape, classes = tuple(spec.input_shape), target.num_classes
    build_net(settings.arch, shape, classes, target)  # fails here, before any training, if it does not fit
    masks = halves(len(x), settings.k, settings.seed)
    cache = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    digest = data_digest(x, labels)
    per_model = -(-int(masks[0].sum()) // settings.batch_size) * settings.epochs
    total = per_model * settings.k
    models: list[Any] = []
    cached = 0
    for i in range(settings.k):
        if cancel.cancelled:
            return ReferenceModels(models, masks[: len(models)], cached, cancelled=True)
        key = {"data": digest, "arch": settings.arch, "input_shape": list(shape), "classes": classes,
               "epochs": settings.epochs, "lr": settings.lr, "batch_size": settings.batch_size,
               "weight_decay": settings.weight_decay, "seed": settings.seed, "index": i,
               "mean": spec.mean, "std": spec.std, "value_range": list(spec.value_range)}
        folder = cache / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        module = _load(folder, key, settings.arch, shape, classes, target)
        if module is not None:
            cached += 1
            progress((i + 1) * per_model, total, f"reference model {i + 1}/{settings.k} (cached)")
        else:
            config = TrainingConfig(defense="standard", epochs=settings.epochs, lr=settings.lr,
                                    batch_size=settings.batch_size, weight_decay=settings.weight_decay,
                                    val_fraction=0.0, keep_best=False, seed=settings.seed * 1000 + i)
            sub = Progress(_offset(progress, i * per_model, total, f"reference model {i + 1}/{settings.k}"))
            trained = train_defense(config, x[masks[i]], torch.as_tensor(labels[masks[i]]), spec,
                                    seeded_net(settings.arch, shape, classes, config.seed, target), sub, cancel)
            if trained.cancelled:
                return ReferenceModels(models, masks[: len(models)], cached, cancelled=True)
            module = trained.module
            _save(folder, key, module, masks[i])
        models.append(TorchClassifier(module.eval(), spec, torch.device("cpu"), format="reference"))
    return ReferenceModels(models, masks, cached)


def _offset(progress: Progress, start: int, total: int, message: str) -> Callable[[Any], None]:
    return lambda event: progress(start + event.step, total, message)


def _save(folder: Path, key: dict[str, Any], module: torch.nn.Module, mask: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "weights.pt.part"
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp)
    tmp.replace(folder / "weights.pt")
    (folder / "model.json").write_text(json.dumps({"key": key, "in_half": np.flatnonzero(mask).tolist()}) + "\n")


def _load(folder: Path, key: dict[str, Any], arch: str, shape: tuple[int, ...], classes: int,
          target: Any) -> torch.nn.Module | None:
    """The cached module when its key matches exactly, else None (a mismatch is retrained)."""
    weights, meta = folder / "weights.pt", folder / "model.json"
    if not weights.is_file() or not meta.is_file():
        return None
    try:
        if json.loads(meta.read_text()).get("key") != json.loads(json.dumps(key)):
            return None
        module = build_net(arch, shape, classes, target)  # type: ignore[arg-type]
        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        raise AdvInspectError(f"cached reference model {folder} cannot be read ({exc}); delete that folder") from None
    return module
