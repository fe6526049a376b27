"""The one hook extraction added to core/defenses/training.py: probability (soft) targets."""

from __future__ import annotations

import pytest
import torch

from advinspect.core.defenses.training import TrainingConfig, train_defense
from advinspect.core.errors import AdvInspectError
from advinspect.core.models import ModelSpec
from advinspect.core.privacy.nets import seeded_net
from tests.core.privacy import fixtures

one_thread = fixtures.one_thread
SPEC = ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c"))


@pytest.mark.usefixtures("one_thread")
def test_soft_targets_train_towards_their_top_class():
    x, y = fixtures.tiny_privacy_data(30)
    soft = torch.full((30, 3), 0.1)
    soft[torch.arange(30), torch.as_tensor(y)] = 0.8
    config = TrainingConfig(epochs=40, lr=3e-3, batch_size=16, val_fraction=0.2, keep_best=False, device="cpu")
    result = train_defense(config, x, soft, SPEC, seeded_net("mlp", (1, 8, 8), 3, 0))
    assert result.history[-1]["train_accuracy"] >= 0.9  # scored against the soft labels' top class
    probs = result.classifier().probabilities(x)
    assert float(probs.max(1).values.mean()) < 0.95  # it learned the soft targets, not one-hot ones
    with pytest.raises(AdvInspectError, match="soft .* standard defense only"):
        train_defense(TrainingConfig(defense="pgd"), x, soft, SPEC, seeded_net("mlp", (1, 8, 8), 3, 0))
