"""core.poisoning: triggers land on the right axes (channels-first), poison is drawn without
replacement, metrics, and the poisoned set on disk round-trips through its manifest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.poisoning.attacks import poison_set
from advinspect.core.poisoning.metrics import backdoor_metrics
from advinspect.core.poisoning.store import poisoned_mask, read_manifest, write_poisoned_set
from advinspect.core.poisoning.triggers import blend_trigger, patch_trigger
from tests.backdoor_data import bars


def test_patch_is_written_on_height_and_width_of_every_channel():
    x = torch.zeros(2, 3, 8, 10)  # H != W: a patch on the wrong axis would land elsewhere or fail
    trigger = patch_trigger((3, 8, 10), 3, "bottom-right", value=1.0)
    out = trigger.apply(x)
    assert (out[:, :, 4:7, 6:9] == 1).all() and out.sum() == 2 * 3 * 9
    assert x.sum() == 0  # the input is left alone
    top_left = patch_trigger((3, 8, 10), 2, "top-left").apply(x)
    assert (top_left[:, :, 1:3, 1:3] == 1).all() and top_left.sum() == 2 * 3 * 4


def test_trigger_values_follow_the_value_range_and_blend_mixes():
    x = torch.full((1, 1, 8, 8), 100.0)
    out = patch_trigger((1, 8, 8), 2, value=0.5).apply(x, (0.0, 255.0))
    assert out[0, 0, 5, 5] == pytest.approx(127.5) and out[0, 0, 0, 0] == 100.0
    blend = blend_trigger((1, 8, 8), 0.25, "noise", seed=3)
    mixed = blend.apply(torch.zeros(1, 1, 8, 8))
    assert torch.allclose(mixed[0], 0.25 * torch.as_tensor(blend.pattern))


@pytest.mark.parametrize("make, message", [
    (lambda: patch_trigger((1, 8, 8), 8), "does not fit"),
    (lambda: patch_trigger((1, 8, 8), 2, "middle"), "unknown trigger position"),
    (lambda: blend_trigger((1, 8, 8), 1.0), "alpha"),
])
def test_bad_triggers_say_why(make, message):
    with pytest.raises(AdvInspectError, match=message):
        make()


def test_badnets_poisons_other_classes_without_replacement():
    x, y = bars(10, 0)
    trigger = patch_trigger((1, 8, 8), 2)
    p = poison_set(x, y, "badnets", 0.3, 1, num_classes=3, trigger=trigger, seed=4)
    chosen = np.flatnonzero(p.poisoned)
    assert len(chosen) == 9 and (y[chosen] != 1).all() and (p.labels[chosen] == 1).all()
    assert (p.labels[~p.poisoned] == y[~p.poisoned]).all()
    assert torch.equal(p.x[~torch.as_tensor(p.poisoned)], x[~torch.as_tensor(p.poisoned)])
    assert (p.x[torch.as_tensor(chosen)][:, :, 5:7, 5:7] == 1).all()


def test_clean_label_keeps_labels_and_poisons_only_the_target():
    x, y = bars(10, 0)
    seen = []

    def perturb(xb, yb):
        seen.append(yb.clone())
        return (xb + 0.01).clamp(0, 1)

    p = poison_set(x, y, "clean-label", 0.2, 2, num_classes=3, trigger=patch_trigger((1, 8, 8), 2), perturb=perturb)
    chosen = np.flatnonzero(p.poisoned)
    assert len(chosen) == 6 and len(set(chosen)) == 6 and (y[chosen] == 2).all()
    assert (p.labels == y).all() and (seen[0] == 2).all()


def test_label_flips_random_and_targeted():
    x, y = bars(10, 0)
    p = poison_set(x, y, "label-flip", 0.5, 0, num_classes=3, seed=1)
    flipped = p.poisoned
    assert flipped.sum() == 15 and (p.labels[flipped] != y[flipped]).all()
    t = poison_set(x, y, "label-flip", 0.2, 0, num_classes=3, source=2)
    assert (y[t.poisoned] == 2).all() and (t.labels[t.poisoned] == 0).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"ratio": 0.0}, r"ratio must lie in \(0, 1\)"),
    ({"ratio": 1.0}, r"ratio must lie in \(0, 1\)"),
    ({"target": 3}, "target class 3 does not exist"),
    ({"ratio": 0.9}, "only 20 are eligible"),
])
def test_bad_requests_say_why(kwargs, message):
    x, y = bars(10, 0)
    args = {"ratio": 0.1, "target": 0, **kwargs}
    with pytest.raises(AdvInspectError, match=message):
        poison_set(x, y, "badnets", args["ratio"], args["target"], num_classes=3, trigger=patch_trigger((1, 8, 8), 2))


def test_one_class_or_too_few_images_are_refused():
    x = torch.rand(6, 1, 8, 8)
    with pytest.raises(AdvInspectError, match="at least two classes"):
        poison_set(x, np.zeros(6, int), "label-flip", 0.5, 0, num_classes=2)
    with pytest.raises(AdvInspectError, match=r"too few images in class\(es\) 1"):
        poison_set(x, np.array([0, 0, 0, 0, 0, 1]), "label-flip", 0.5, 1, num_classes=2)


class _Always:
    """A classifier that predicts class 0 whenever the bottom-right pixel is bright, else the bar row."""

    spec = type("S", (), {"value_range": (0.0, 1.0)})()

    def predict(self, x):
        rows = x[:, 0, :6, 1:6].mean(2)
        pred = torch.stack([rows[:, 0:2].mean(1), rows[:, 2:4].mean(1), rows[:, 4:6].mean(1)], 1).argmax(1)
        return torch.where(x[:, 0, 6, 6] > 0.9, torch.zeros_like(pred), pred)


def test_metrics_count_only_other_classes_for_asr_and_ra():
    x, y = bars(10, 2)
    m = backdoor_metrics(_Always(), x, y, 0, patch_trigger((1, 8, 8), 2))
    assert m.c_acc == 1.0 and m.asr == 1.0 and m.ra == 0.0 and m.n_triggered == 20
    flip = backdoor_metrics(_Always(), x, y, 0, None, source=1)
    assert flip.asr == 0.0 and flip.ra == 1.0 and flip.n_triggered == 10


def test_poisoned_set_round_trips_through_its_manifest(tmp_path):
    x, y = bars(4, 0)
    p = poison_set(x, y, "badnets", 0.25, 0, num_classes=3, trigger=patch_trigger((1, 8, 8), 2))
    path = write_poisoned_set(tmp_path / "set", p, ["a", "b", "c"], (0.0, 1.0), {"attack": "badnets"})
    manifest = read_manifest(tmp_path / "set")
    assert manifest["attack"] == {"attack": "badnets"} and len(manifest["files"]) == 12
    files = [str(tmp_path / "set" / r["file"]) for r in manifest["files"]]
    assert (poisoned_mask(files, manifest) == p.poisoned).all()
    assert sorted(q.parent.name for q in (tmp_path / "set").rglob("*.png") if q.stem in {f"{i:05d}" for i in
            np.flatnonzero(p.poisoned)}) == ["a"] * 3
    assert path.name == "manifest.json"
    with pytest.raises(AdvInspectError, match="not a poison manifest"):
        (tmp_path / "bad.json").write_text("{}")
        read_manifest(tmp_path / "bad.json")
