"""core.tasks.sanitize and core.backdoor: scores that find planted poison, comparable across
classes; layer features from modules and torch.export graphs; a wrong layer lists the right ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advinspect.core.backdoor.features import extract_features, layer_names
from advinspect.core.backdoor.scores import (
    detection_auc,
    flag_top,
    removal_budget,
    scores,
    suspicion,
)
from advinspect.core.errors import AdvInspectError
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.tasks import sanitize
from advinspect.core.tasks.base import Images
from tests.backdoor_data import BarNet, badnets_run


def _planted(seed: int = 0):
    """Five classes of Gaussian features around their own means; 12 samples labelled 0 are
    poison: drawn from the four other classes (all-to-one poison comes from many sources, so it
    is the heterogeneous part of its class) plus a shared trigger direction."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(5), 40)
    f = rng.normal(size=(200, 16)) + 3.0 * np.eye(16)[labels + 1]
    poisoned = np.zeros(200, bool)
    poisoned[:12] = True
    sources = np.repeat(np.arange(1, 5), 3)
    f[:12] = rng.normal(size=(12, 16)) + 3.0 * np.eye(16)[sources + 1] + 4.0 * np.eye(16)[0]
    return f, labels, poisoned


@pytest.mark.parametrize("method", ["spectral", "activation-clustering", "outlier"])
def test_feature_scores_rank_planted_poison_first(method):
    f, labels, poisoned = _planted()
    values = scores(method, f, labels)
    assert detection_auc(values, poisoned) >= 0.9
    clean_classes = values[labels != 0]
    assert np.quantile(clean_classes, 0.9) < np.median(values[poisoned])


@pytest.mark.parametrize("method", ["spectral", "activation-clustering"])
def test_the_neighbour_vote_flags_the_poisoned_class_only(method):
    """Poison drawn from many source classes sits among its sources' samples: the target class's
    suspect side is mostly reclassified, the clean classes' second clusters are not."""
    f, labels, poisoned = _planted()
    found = suspicion(method, f, labels)
    assert found.flagged_classes == (0,)
    assert found.candidates[poisoned].mean() >= 0.9 and not found.candidates[labels != 0].any()
    clean = _planted(1)[0][labels != 0], labels[labels != 0]  # no poison anywhere: nothing flagged
    assert suspicion(method, *clean).flagged_classes == ()


def test_budget_is_one_and_a_half_times_the_expected_ratio():
    assert removal_budget(1000, 0.1) == 150 and removal_budget(10, 0.66) == 10
    flags = flag_top(np.array([0.1, 3.0, 2.0, 0.5]), 2)
    assert flags.tolist() == [False, True, True, False]


def test_features_from_a_module_and_from_its_export_agree():
    torch.manual_seed(0)
    module = BarNet().eval()
    clf = TorchClassifier(module, BarNet.default_spec(), torch.device("cpu"))
    batch = torch.export.Dim("batch", min=1, max=64)
    exported = torch.export.export(module, (torch.rand(2, 1, 8, 8),), dynamic_shapes=({0: batch},)).module()
    gclf = TorchClassifier(exported, BarNet.default_spec(), torch.device("cpu"))
    x = torch.rand(5, 1, 8, 8)
    assert layer_names(clf)[-2:] == ["head.2", "head.3"]
    a = extract_features(clf, x, ["head.2"])["head.2"]
    names = layer_names(gclf)
    b = extract_features(gclf, x, [names[-2]])[names[-2]]
    expected = module.head[:3](module.features(x)).numpy()
    assert a.shape == (5, 32) and np.allclose(a, expected, atol=1e-5) and np.allclose(b, expected, atol=1e-5)


def _training_images():
    r = badnets_run()
    return r, Images(r.poisoned.x, r.poisoned.labels)


def test_sanitize_scores_every_layer_against_the_manifest():
    r, images = _training_images()
    clf = r.training.classifier("cpu")
    result = sanitize.run(sanitize.Inputs(clf, images, r.poisoned.poisoned), sanitize.Config(expected_ratio=0.2))
    assert result.layer == "head.2" and set(result.layer_auc) == set(layer_names(clf))
    assert result.layer_auc[result.best_layer] >= 0.9
    assert result.auc == result.layer_auc["head.2"]
    assert result.flags.sum() <= removal_budget(len(images), 0.2)
    assert result.summary()["flagged_classes"] == list(result.flagged_classes)
    # removal only from the suspect side of flagged classes (here each source class gives nine
    # poisoned copies whose nearest neighbours are each other: the vote flags no class)
    assert not result.flags.any() or set(result.images.labels[result.flags]) <= set(result.flagged_classes)
    rows = result.rows()
    assert len(rows) == len(images) and set(rows[0]) == {"index", "path", "label", "score", "flagged", "poisoned"}
    section = result.report_section()
    assert section.tables[0].columns == ["layer", "detection AUC"] and len(section.figures) == 2
    import json

    assert len(json.loads(json.dumps(result.to_dict()))["rows"]) == len(images)


def test_retraining_on_the_cleaned_set_removes_the_backdoor():
    r, images = _training_images()
    clf = r.training.classifier("cpu")
    from tests.backdoor_data import ARCH, bars

    tx, ty = bars(20, 1)
    best = sanitize.run(sanitize.Inputs(clf, images, r.poisoned.poisoned),
                        sanitize.Config(method="outlier", expected_ratio=0.2)).best_layer
    result = sanitize.run(sanitize.Inputs(clf, images, r.poisoned.poisoned, r.config, ARCH, Images(tx, ty)),
                          sanitize.Config(method="outlier", layer=best, expected_ratio=0.2, all_layers=False, retrain=True, epochs=8,
                                          lr=1e-2, batch_size=16))
    assert result.before.asr >= 0.9
    assert result.after.asr < result.before.asr and result.after.c_acc >= 0.9
    assert result.summary_text()[-1].startswith("retrained on the cleaned set")


def test_an_unknown_layer_lists_the_layers():
    r, images = _training_images()
    with pytest.raises(AdvInspectError, match=r"no layer 'nope'; layers: features.0, features.1"):
        sanitize.run(sanitize.Inputs(r.training.classifier("cpu"), images), sanitize.Config(layer="nope"))


def test_loss_scores_need_no_layer_and_flag_flipped_labels():
    from tests.backdoor_data import bars

    x, y = bars(20, 0)
    r = badnets_run()
    clean = r.training.classifier("cpu")  # right on clean images of every class
    flipped = y.copy()
    flipped[:6] = 2
    result = sanitize.run(sanitize.Inputs(clean, Images(x, flipped), np.arange(60) < 6),
                          sanitize.Config(method="loss", expected_ratio=0.1))
    assert result.layer == "(model loss)" and result.layer_auc == {} and result.auc >= 0.95
