"""Defense-GAN style purification: the generator (train, save, load TorchScript and ONNX), the
projection, the shape check, naive vs adaptive gradients (BPDA through the projection's own
derivative + EOT over restarts) and the latent-space attack."""

from __future__ import annotations

import pytest
import torch

from advinspect.core.defenses.purify import (
    Purify,
    configure,
    error_histogram,
    estimate_seconds,
    latent_attack,
    latent_jacobian,
    load_generator,
    project,
    project_latent,
    reconstruction_errors,
    save_generator,
    train_generator,
)
from advinspect.core.defenses.transforms import DefendedClassifier, parse_defense
from advinspect.core.errors import AdvInspectError


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def patterns() -> torch.Tensor:
    """60 8x8 images of three bar patterns with a little noise."""
    g = torch.Generator().manual_seed(0)
    x = 0.1 * torch.rand(60, 1, 8, 8, generator=g)
    for k in range(3):
        x[k::3, :, 3 * k:3 * k + 2] += 0.8
    return x.clamp(0, 1)


@pytest.fixture(scope="module")
def generator_file(patterns, tmp_path_factory):
    result = train_generator(patterns, latent_dim=4, epochs=30, batch_size=30, lr=1e-2, seed=0, hidden=32)
    assert result.history[-1] < result.history[0] and len(result.history) == 30
    return save_generator(result.decoder, 4, tmp_path_factory.mktemp("gen") / "g.pt")


def test_generator_saves_as_torchscript_and_projects_close(generator_file, patterns):
    g = load_generator(generator_file)
    assert g.latent_dim == 4 and g.shape == (1, 8, 8)
    purified, errors = project(g, patterns[:6], restarts=4, steps=60, rng=torch.Generator().manual_seed(0))
    assert purified.shape == (6, 1, 8, 8)
    with torch.no_grad():
        random_errors = (g(torch.randn(6, 4, generator=torch.Generator().manual_seed(1))) - patterns[:6]) \
            .flatten(1).pow(2).sum(1)
    assert (errors < random_errors).all() and float(errors.mean()) < 1.0
    assert torch.allclose(errors, (purified - patterns[:6]).flatten(1).pow(2).sum(1), atol=1e-5)
    noise = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    assert reconstruction_errors(g, noise, restarts=2, steps=30).mean() > 3 * float(errors.mean())
    assert estimate_seconds(g, 100, restarts=2, steps=10) > 0


def test_onnx_generator_takes_its_latent_size_from_the_graph(generator_file, tmp_path):
    g = load_generator(generator_file)
    path = tmp_path / "g.onnx"
    decoder = torch.jit.load(str(generator_file))
    torch.onnx.export(decoder, (torch.zeros(2, 4),), str(path), input_names=["z"], dynamic_axes={"z": {0: "n"}}, opset_version=17,
                      dynamo=False)
    onnx_g = load_generator(path)
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert onnx_g.latent_dim == 4 and torch.allclose(onnx_g(z), g(z), atol=1e-5)


def test_purify_defense_parses_checks_the_shape_and_takes_r_and_l(generator_file, tiny_clf):
    (t,) = configure(parse_defense(f"purify:{generator_file}"), (1, 8, 8), restarts=3, steps=7)
    assert isinstance(t, Purify) and (t.restarts, t.steps) == (3, 7)
    assert "R 3 × L 7" in t.describe()
    with pytest.raises(AdvInspectError, match=r"g.pt draws images of shape \(1, 8, 8\) but the model takes "
                                              r"\(3, 32, 32\) \(C,H,W\)"):
        configure(parse_defense(f"purify:{generator_file}"), (3, 32, 32), restarts=1, steps=1)
    with pytest.raises(AdvInspectError, match="purify needs a generator file"):
        parse_defense("purify")
    bare = generator_file.parent / "bare.pt"
    bare.write_bytes(generator_file.read_bytes())
    with pytest.raises(AdvInspectError, match="latent size of bare.pt is unknown"):
        load_generator(bare)


def test_naive_gets_no_gradient_adaptive_gets_bpda_with_eot(generator_file, tiny_clf, patterns):
    transforms = configure(parse_defense(f"purify:{generator_file}"), (1, 8, 8), restarts=2, steps=20)
    x, y = patterns[:4], torch.tensor([0, 1, 2, 0])
    naive = DefendedClassifier(tiny_clf, transforms, adaptive=False)
    adaptive = DefendedClassifier(tiny_clf, transforms, adaptive=True, eot_samples=3)
    assert float(naive.gradient(x, y).abs().max()) == 0.0
    grad = adaptive.gradient(x, y)
    assert float(grad.abs().max()) > 0
    # BPDA: the model's gradient at the purified points, through the projection, averaged over 3 draws
    assert not torch.allclose(grad, tiny_clf.gradient(x, y))
    with torch.no_grad():
        purified = naive.transform(x)
    assert torch.allclose(naive.logits(x), tiny_clf.logits(purified), atol=1.0)  # another draw, close by
    fig = error_histogram(reconstruction_errors(transforms[0].generator, x, restarts=2, steps=10),
                          reconstruction_errors(transforms[0].generator, x.flip(3), restarts=2, steps=10))
    assert fig.png.startswith(b"\x89PNG")


def test_latent_jacobian_is_dg_dz(generator_file):
    g = load_generator(generator_file)
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    jac = latent_jacobian(g, z)
    assert jac.shape == (3, 64, 4)
    for i in range(3):
        exact = torch.autograd.functional.jacobian(lambda v: g(v[None]).flatten(), z[i])
        assert torch.allclose(jac[i], exact, atol=1e-5)


def test_adaptive_gradient_is_the_projections_own_derivative(generator_file, tiny_clf, patterns):
    """dG(z*)/dx = J (JᵀJ)⁻¹ Jᵀ: the classifier's gradient at G(z*) projected onto the range's
    tangent space, not passed through whole (identity BPDA)."""
    (t,) = configure(parse_defense(f"purify:{generator_file}"), (1, 8, 8), restarts=2, steps=30)
    x, y = patterns[:3], torch.tensor([0, 1, 2])
    adaptive = DefendedClassifier(tiny_clf, [t], adaptive=True, eot_samples=1, seed=7)
    grad = adaptive.gradient(x, y)
    purified, _, z = project_latent(t.generator, x, restarts=2, steps=30, rng=torch.Generator().manual_seed(7))
    outer = tiny_clf.gradient(purified, y).flatten(1)[..., None]
    jac = latent_jacobian(t.generator, z)
    expected = jac @ torch.linalg.solve(jac.transpose(1, 2) @ jac + 1e-4 * torch.eye(4), jac.transpose(1, 2) @ outer)
    assert torch.allclose(grad.flatten(1), expected.squeeze(2), atol=1e-5)
    assert float(grad.abs().max()) > 0 and not torch.allclose(grad.flatten(1), outer.squeeze(2), atol=1e-4)


def test_latent_attack_stays_in_the_ball_and_moves_the_purified_margin(generator_file, patterns):
    from advinspect.core.models.spec import ModelSpec
    from advinspect.core.models.torch_backend import TorchClassifier

    templates = torch.stack([patterns[k::3].mean(0).flatten() for k in range(3)])  # a template matcher
    matcher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3, bias=False))
    matcher[1].weight.data = 4 * (templates - templates.mean(0))
    clf = TorchClassifier(matcher.eval(), ModelSpec(input_shape=(1, 8, 8), labels=("a", "b", "c")), torch.device("cpu"))
    g = load_generator(generator_file)
    x, y = patterns[:9], torch.tensor([0, 1, 2] * 3)

    def margin(images: torch.Tensor) -> float:
        with torch.no_grad():
            purified, _ = project(g, images, restarts=4, steps=60, rng=torch.Generator().manual_seed(123))
            logits = clf.logits(purified)
        true = logits.gather(1, y[:, None]).squeeze(1)
        return float((true - logits.scatter(1, y[:, None], float("-inf")).max(1).values).mean())

    x_adv = latent_attack(clf, g, x, y, eps=0.3, steps=60, lr=0.05, penalty=10.0, restarts=2,
                          projection_steps=40, seed=1)
    assert float((x_adv - x).abs().max()) <= 0.3 + 1e-6 and float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    clean = margin(x)
    assert clean > 1 and margin(x_adv) < clean / 2  # the defender's own projection (another seed) sees it
