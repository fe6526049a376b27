"""core.tasks.synthesize: seeds, targeted L2 descent, A/B with a judge, inversion, bad input, cancel."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advinspect.core.errors import AdvInspectError
from advinspect.core.jobs import CancelToken, Progress
from advinspect.core.robust.synthesis import gaussian_seeds
from advinspect.core.tasks import synthesize
from advinspect.core.tasks.base import Images


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on the shared 2-core machine more threads made these steps 20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def class_images() -> Images:
    """Three classes of 8x8 images with distinct means (bright top, middle, bottom rows)."""
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.rand(30, 1, 8, 8, generator=g)
    y = torch.arange(30) % 3
    for k in range(3):
        x[y == k, :, 3 * k:3 * k + 2] += 0.8
    return Images(x.numpy(), y.numpy())


def test_gaussian_seeds_follow_their_class(class_images):
    x, y = class_images.tensor(), class_images.labels_tensor()
    seeds = gaussian_seeds(x, y, [0, 1, 2], 20, seed_size=4, bounds=(0.0, 1.0),
                           generator=torch.Generator().manual_seed(1))
    assert seeds.shape == (60, 1, 8, 8) and float(seeds.min()) >= 0 and float(seeds.max()) <= 1
    means = torch.stack([x[y == k].mean(0) for k in range(3)]).flatten(1)
    nearest = torch.cdist(seeds.flatten(1), means).argmin(1)
    assert (nearest == torch.arange(3).repeat_interleave(20)).float().mean() >= 0.9


def test_targeted_descent_reaches_each_class_within_the_ball(tiny_clf, class_images):
    config = synthesize.Config(per_class=2, steps=30, eps=4.0, seed_size=4)
    result = synthesize.run(synthesize.Inputs(tiny_clf, class_images), config)
    run = result.runs[0]
    assert result.targets.tolist() == [0, 0, 1, 1, 2, 2]
    assert (run.predictions == result.targets).all() and run.steps_done == 30
    distance = np.linalg.norm((run.images - result.seeds).reshape(6, -1), axis=1)
    assert distance.max() <= 4.0 + 1e-4 and distance.min() > 0
    assert result.summary()["runs"]["model"]["model_agreement"] == 1.0


def test_ab_runs_the_same_seeds_and_the_judge_labels_them(tiny_clf, class_images):
    torch.manual_seed(5)
    other = type(tiny_clf)(type(tiny_clf.module)().eval(), tiny_clf.spec, tiny_clf.device)
    inputs = synthesize.Inputs(tiny_clf, class_images, compare=other, judge=tiny_clf, names=("robust", "standard"))
    result = synthesize.run(inputs, synthesize.Config(classes=("b", "2"), per_class=2, steps=10, eps=3.0,
                                                      seed_kind="noise"))
    assert result.targets.tolist() == [1, 1, 2, 2]
    robust, standard = result.runs
    assert (robust.judge_predictions == robust.predictions).all()  # the judge is the same model here
    assert not np.allclose(robust.images, standard.images)
    s = result.summary()
    assert set(s["runs"]) == {"robust", "standard"} and s["classes"] == ["b", "c"]
    assert "the independent classifier" in result.summary_text()[0]
    # the control: the judge's labels of the seeds alone, before any step
    expected = float((tiny_clf.predict(torch.as_tensor(result.seeds)).numpy() == result.targets).mean())
    assert s["seeds_judge_agreement"] == expected
    assert result.summary_text()[2].startswith(f"control: the independent classifier labels {expected:.4f} of the "
                                               "noise seeds alone")
    assert json.loads(json.dumps(result.to_dict()))["seed_judge_predictions"] == \
        tiny_clf.predict(torch.as_tensor(result.seeds)).tolist()
    section = result.report_section()
    assert section.tables[0].rows[0][0] == "b" and section.figures[0].png.startswith(b"\x89PNG")
    sheet = result.contact_sheet()
    assert sheet.shape[0] == result.grid("seeds").shape[0] and sheet.shape[1] > 3 * result.grid("seeds").shape[1]


def test_inversion_matches_the_reference_features(tiny_clf, class_images):
    config = synthesize.Config(mode="invert", per_class=1, steps=40, eps=6.0, seed_kind="noise")
    result = synthesize.run(synthesize.Inputs(tiny_clf, class_images), config)
    refs, seeds, out = (torch.as_tensor(a) for a in (result.references, result.seeds, result.runs[0].images))
    with torch.no_grad():
        before = (tiny_clf.logits(seeds) - tiny_clf.logits(refs)).norm(dim=1)
        after = (tiny_clf.logits(out) - tiny_clf.logits(refs)).norm(dim=1)
    assert (after < 0.5 * before).all()
    conv = synthesize.run(synthesize.Inputs(tiny_clf, class_images),
                          synthesize.Config(mode="invert", per_class=1, steps=3, layer="conv", seed_kind="noise"))
    assert len(conv.runs[0].images) == 3
    with pytest.raises(AdvInspectError, match="no convolution layer 'fc9'"):
        synthesize.run(synthesize.Inputs(tiny_clf, class_images),
                       synthesize.Config(mode="invert", per_class=1, steps=1, layer="fc9", seed_kind="noise"))


@pytest.mark.parametrize("config, images, message", [
    (synthesize.Config(classes=("zebra",)), True, r"class 'zebra' is not one of the model's classes: a, b, c"),
    (synthesize.Config(), False, "Gaussian seeds need labelled images"),
    (synthesize.Config(mode="invert", seed_kind="image"), True, "inversion starts from gaussian or noise"),
    (synthesize.Config(mode="invert", per_class=50), True, "needs that many; found 10"),
])
def test_bad_input_is_one_line_before_any_work(tiny_clf, class_images, config, images, message):
    with pytest.raises(AdvInspectError, match=message):
        synthesize.run(synthesize.Inputs(tiny_clf, class_images if images else None), config)


def test_a_judge_of_another_shape_is_refused(tiny_clf, class_images):
    from advinspect.core.models import ModelSpec

    judge = tiny_clf.with_spec(ModelSpec(input_shape=(1, 16, 16), labels=("a", "b", "c")))
    with pytest.raises(AdvInspectError, match=r"the judge takes \(1, 16, 16\) \(C,H,W\) but the images are \(1, 8, 8\)"):
        synthesize.run(synthesize.Inputs(tiny_clf, class_images, judge=judge), synthesize.Config())


def test_cancel_returns_the_images_drawn_so_far(tiny_clf, class_images):
    token = CancelToken()
    events = []

    def listen(event):
        events.append(event)
        if event.step >= 5:
            token.cancel()

    result = synthesize.run(synthesize.Inputs(tiny_clf, class_images), synthesize.Config(per_class=1, steps=50),
                            progress=Progress(listen, previews=True), cancel=token)
    assert result.cancelled and result.runs[0].steps_done == 5 and len(result.runs[0].images) == 3
    assert result.summary_text()[-1] == "cancelled: the images are those drawn so far"
    previews = [e.preview for e in events if e.preview is not None]  # every 5 steps
    assert events[-1].total == 50 and len(previews) == 1 and previews[0]["images"].shape == (3, 1, 8, 8)


def test_the_default_seed_does_not_carry_the_class(class_images, tiny_clf):
    """Pooled seeds (the default) come from one Gaussian over all classes: the same distribution
    whatever the target, so any class they end up showing comes from the model's gradients."""
    assert synthesize.Config().seed_kind == "pooled"
    result = synthesize.run(synthesize.Inputs(tiny_clf, class_images), synthesize.Config(per_class=30, steps=1))
    x, y = class_images.tensor(), class_images.labels_tensor()
    means = torch.stack([x[y == k].mean(0) for k in range(3)]).flatten(1)
    seeds = torch.as_tensor(result.seeds).flatten(1)
    nearest = torch.cdist(seeds, means).argmin(1).numpy()
    # a per-class seed would sit nearest its own class mean; a pooled one no more often than chance allows
    assert (nearest == result.targets).mean() < 0.6
    per_class = synthesize.run(synthesize.Inputs(tiny_clf, class_images),
                               synthesize.Config(per_class=30, steps=1, seed_kind="gaussian"))
    nearest = torch.cdist(torch.as_tensor(per_class.seeds).flatten(1), means).argmin(1).numpy()
    assert (nearest == per_class.targets).mean() > 0.9
