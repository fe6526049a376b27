"""Training-time defenses on scikit-learn's 8x8 digits with a tiny CNN (fast), plus one run from
the DigitsCNN architecture string. Target numbers on the demo set are measured by
benchmarks/defense_training.py, not here; these tests check behaviour and direction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from advinspect.core.attacks import get_attack
from advinspect.core.defenses.training import (
    DEFENSES,
    HISTORY_FIELDS,
    TrainingConfig,
    _catastrophic,
    largest_singular_values,
    save_defended_model,
    train_defense,
)
from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.models import ModelSpec, load_model
from advinspect.core.models.torch_backend import TorchClassifier

SPEC = ModelSpec(input_shape=(1, 8, 8), labels=tuple(str(i) for i in range(10)), mean=(0.3,), std=(0.4,))


class SmallNet(nn.Module):
    def __init__(self, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8) if batch_norm else nn.Identity()
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def small_net(batch_norm: bool = False) -> SmallNet:
    torch.manual_seed(0)
    return SmallNet(batch_norm)


@pytest.fixture(scope="module")
def digits8() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): 8x8 digits in [0, 1]; 900 to train, 300 to test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.from_numpy((data.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(data.target).long()
    return x[:900], y[:900], x[900:1200], y[900:1200]


def config(**values) -> TrainingConfig:
    base = {"epochs": 1, "lr": 3e-3, "batch_size": 64, "eps": 0.1, "steps": 3, "val_attack_size": 60,
            "val_pgd_steps": 5, "device": "cpu", "seed": 0}
    return TrainingConfig(**{**base, **values})


def robust_accuracy(clf, x, y, eps: float = 0.1) -> float:
    return get_attack("pgd").from_values({"eps": eps, "steps": 10}).run(clf, x, y, seed=0).summary()["robust_accuracy"]


@pytest.mark.parametrize("defense", list(DEFENSES))
def test_each_defense_trains_and_loads_back(defense, digits8, tmp_path):
    x, y, x_test, _ = digits8
    net = small_net(batch_norm=defense == "standard")
    epochs = 2 if defense == "distillation" else 1  # the student learns from a teacher: give both time
    result = train_defense(config(defense=defense, epochs=epochs, temperature=2.0), x[:300], y[:300], SPEC, net)
    assert not result.cancelled
    phases = ["teacher"] * 2 + ["train"] * 2 if defense == "distillation" else ["train"]
    assert [h["phase"] for h in result.history] == phases
    assert result.history[-1]["val_clean_accuracy"] > 0.4  # it learnt something in one epoch
    path = save_defended_model(result, tmp_path / "defended.pt")
    loaded = load_model(path, device="cpu")
    assert loaded.spec.mean == SPEC.mean and loaded.spec.labels == SPEC.labels
    expected = result.classifier("cpu").logits(x_test[:16])
    assert torch.allclose(loaded.logits(x_test[:16]), expected, atol=1e-5)
    assert all(not torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                     result.module.state_dict().values(), strict=False)
               if a.dtype.is_floating_point)  # trained, and the caller's module is left as it was


def test_batch_norm_trains_in_train_mode_and_validates_in_eval_mode(digits8):
    x, y, *_ = digits8
    net = small_net(batch_norm=True)
    result = train_defense(config(defense="pgd", val_fraction=0.2), x[:300], y[:300], SPEC, net)
    assert not torch.allclose(result.module.bn.running_mean, torch.zeros(8))  # train mode updated stats
    assert not result.module.training
    clf = result.classifier("cpu")
    # validation used eval mode: the recorded clean accuracy equals the eval-mode model's own
    x_all = torch.as_tensor(x[:300])
    order = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    val = order[:60]
    accuracy = float((clf.predict(x_all[val]) == y[:300][val]).float().mean())
    assert result.history[-1]["val_clean_accuracy"] == pytest.approx(accuracy)


def test_history_and_progress(digits8):
    x, y, *_ = digits8
    events = []
    result = train_defense(config(defense="fgsm", epochs=2), x[:300], y[:300], SPEC, small_net(),
                           progress=Progress(events.append, previews=True))
    assert len(result.history) == 2
    for record in result.history:
        assert set(HISTORY_FIELDS) <= set(record)
        for key in ("train_accuracy", "val_clean_accuracy", "val_pgd_accuracy", "val_fgsm_accuracy"):
            assert 0.0 <= record[key] <= 1.0
    assert sum(h["best"] for h in result.history) == 1
    assert result.best_epoch == next(h["epoch"] for h in result.history if h["best"])
    steps = [e.step for e in events]
    assert steps == sorted(steps) and steps[-1] == events[-1].total == 2 * 5  # 270 train images / 64
    last = events[-1].preview
    assert last["epoch"] == 2 and [h["epoch"] for h in last["history"]] == [1, 2]
    assert "FGSM" in events[-1].message


def test_cancel_after_first_epoch_returns_best_checkpoint(digits8):
    x, y, *_ = digits8
    cancel = CancelToken()

    def on_event(event) -> None:
        if "epoch 1/3:" in event.message:
            cancel.cancel()

    values = {"defense": "standard", "epochs": 3, "lr_schedule": "constant"}
    result = train_defense(config(**values), x[:300], y[:300], SPEC, small_net(),
                           progress=Progress(on_event), cancel=cancel)
    assert result.cancelled and result.best_epoch == 1 and len(result.history) == 1
    one_epoch = train_defense(config(**{**values, "epochs": 1}), x[:300], y[:300], SPEC, small_net())
    for a, b in zip(result.module.state_dict().values(), one_epoch.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_deterministic_under_seed(digits8):
    x, y, *_ = digits8

    def run(seed: int):
        result = train_defense(config(defense="pgd", seed=seed), x[:200], y[:200], SPEC, small_net())
        return result.module.state_dict(), [{k: v for k, v in h.items() if k != "seconds"} for h in result.history]

    (a, history_a), (b, history_b), (c, _) = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a) and history_a == history_b
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_spectral_norm_bounds_largest_singular_values(digits8):
    x, y, *_ = digits8

    def large_net() -> SmallNet:  # singular values well above 1 to start from
        net = small_net()
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.mul_(4.0)
        return net

    result = train_defense(config(defense="spectral_norm", epochs=2), x[:300], y[:300], SPEC, large_net())
    sigmas = largest_singular_values(result.module)
    assert set(sigmas) == {"conv", "fc"}
    assert all(abs(s - 1.0) < 0.02 for s in sigmas.values()), sigmas
    plain = train_defense(config(epochs=2), x[:300], y[:300], SPEC, large_net()).module
    assert min(largest_singular_values(plain).values()) > 1.5  # without it the layers stay large


def test_label_smoothing_lowers_confidence(digits8):
    x, y, x_test, _ = digits8

    def mean_confidence(defense: str) -> float:
        result = train_defense(config(defense=defense, epochs=3, smoothing=0.3), x, y, SPEC, small_net())
        return float(result.classifier("cpu").probabilities(x_test).max(1).values.mean())

    assert mean_confidence("label_smoothing") < mean_confidence("standard") - 0.05


def test_pgd_training_raises_pgd_robust_accuracy(digits8):
    x, y, x_test, y_test = digits8
    values = {"epochs": 5, "steps": 5, "eps": 0.2, "lr_schedule": "constant", "val_fraction": 0.05}
    standard = train_defense(config(defense="standard", **values), x, y, SPEC, small_net())
    robust = train_defense(config(defense="pgd", **values), x, y, SPEC, small_net())
    x_eval, y_eval = x_test[:200], y_test[:200]
    acc_standard = robust_accuracy(standard.classifier("cpu"), x_eval, y_eval, eps=0.2)
    acc_robust = robust_accuracy(robust.classifier("cpu"), x_eval, y_eval, eps=0.2)
    assert acc_robust > acc_standard + 0.1, (acc_standard, acc_robust)


def test_trains_from_an_architecture_name_and_a_classifier(digits8):
    from advinspect.core.defenses.training import demo_training_set

    x, y, _, _ = demo_training_set(0)
    result = train_defense(config(val_fraction=0.25), x[:80], y[:80], None, "advinspect.zoo.digits:DigitsCNN")
    assert result.spec.mean == (0.5,) and result.spec.input_shape == (1, 32, 32)
    clf = TorchClassifier(small_net(), SPEC, torch.device("cpu"))
    before = [p.clone() for p in clf.module.parameters()]
    again = train_defense(config(), digits8[0][:100], digits8[1][:100], None, clf)
    assert again.spec == SPEC
    assert all(torch.equal(a, b) for a, b in zip(before, clf.module.parameters(), strict=True))


def test_catastrophic_overfitting_flag():
    def record(epoch: int, pgd: float, fgsm: float) -> dict:
        return {"phase": "train", "epoch": epoch, "val_pgd_accuracy": pgd, "val_fgsm_accuracy": fgsm}

    history = [record(1, 0.40, 0.50), record(2, 0.45, 0.55)]
    assert _catastrophic(history, record(3, 0.02, 0.80), 0.2)  # PGD collapses, FGSM rises
    assert not _catastrophic(history, record(3, 0.44, 0.60), 0.2)  # ordinary progress
    assert not _catastrophic(history, record(3, 0.10, 0.12), 0.2)  # both fall: not the FGSM illusion
    assert not _catastrophic([], record(1, 0.0, 0.9), 0.2)
    never_rose = [record(1, 0.01, 0.30), record(2, 0.0, 0.36)]
    assert _catastrophic(never_rose, record(3, 0.0, 0.48), 0.2)  # PGD never rose, FGSM climbs away
    assert not _catastrophic(never_rose, record(3, 0.0, 0.20), 0.2)  # FGSM falls too
    assert not _catastrophic(history, record(3, 0.15, 0.40), 0.2)  # PGD falls, and FGSM with it


def test_config_from_values():
    parsed = TrainingConfig.from_values({"defense": "trades", "eps": "8/255", "trades-beta": "3"})
    assert parsed.eps == pytest.approx(8 / 255) and parsed.trades_beta == 3.0
    with pytest.raises(AdvInspectError):
        TrainingConfig.from_values({"defense": "magic"})


def test_fine_tunes_an_exported_program_and_says_its_mode_is_fixed(demo_clf, tmp_path):
    from advinspect.core.defenses.training import demo_training_set

    x, y, x_test, _ = demo_training_set(0)
    result = train_defense(config(lr=1e-3, val_fraction=0.25), x[:96], y[:96], None, demo_clf)
    assert any("torch.export" in note for note in result.notes)
    assert result.spec.labels == demo_clf.spec.labels
    loaded = load_model(save_defended_model(result, tmp_path / "tuned.pt"), device="cpu")
    assert torch.allclose(loaded.logits(x_test[:8]), result.classifier("cpu").logits(x_test[:8]), atol=1e-5)
    assert not torch.allclose(loaded.logits(x_test[:8]), demo_clf.logits(x_test[:8]))


def test_rejects_images_outside_the_value_range(digits8):
    x, y, *_ = digits8
    with pytest.raises(AdvInspectError, match="uint8 / 255"):
        train_defense(config(), x[:50] * 255, y[:50], SPEC, small_net())
