"""Train on a (poisoned or cleaned) set through the training defenses and measure C-Acc/ASR/RA.

One function so poison (poisoned and clean runs, the ratio sweep) and sanitize (retraining on
the cleaned set) train and measure the same way; the training itself is `train_defense`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.poisoning.metrics import BackdoorMetrics, backdoor_metrics
from advinspect.core.poisoning.triggers import Trigger


def stage(progress: Progress, index: int, count: int, label: str) -> Progress:
    """Progress of one stage of `count`, mapped onto one bar of count·1000 steps."""
    if not progress.active:
        return progress

    def forward(event: Any) -> None:
        done = index * 1000 + (1000 * event.step // max(1, event.total))
        progress(done, count * 1000, f"{label}: {event.message}", event.preview)

    return Progress(forward, previews=progress.wants_preview)


def train_and_measure(x: torch.Tensor, labels: np.ndarray, spec: Any, arch: Any, train_config: Any,
                      test: tuple[torch.Tensor, np.ndarray] | None, target: int, trigger: Trigger | None,
                      source: int, progress: Progress, cancel: CancelToken) -> tuple[Any, BackdoorMetrics | None]:
    """(TrainingResult, metrics on `test` or None when there is no test set)."""
    from advinspect.core.defenses.training import train_defense

    training = train_defense(train_config, x, torch.as_tensor(labels).long(), spec, arch, progress=progress,
                             cancel=cancel)
    if test is None:
        return training, None
    return training, backdoor_metrics(training.classifier("cpu"), test[0], test[1], target, trigger, source)
