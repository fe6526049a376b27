"""Issue 15 on the demo digits: synthesis with a robust model (A/B against the standard one), the
WRM certificate curve, and Defense-GAN purification evaluated naively and adaptively.

Models are trained once and cached under out/robust_models/ (ignored by git):
  pgd.pt       PGD adversarial training (Linf eps 0.3, 3 warm-up epochs, 15 epochs, 7 steps)
  standard.pt  the demo recipe (zoo.digits.train, seed 0); judge_cnn.pt the same recipe, seed 1
  judge_mlp.pt a different family: 4x4 average pooling (back to the digits' native 8x8) + MLP, seed 1
  (plus scikit-learn logistic regression and 5-NN on the native 8x8 pixels, fitted each run: judges
  that share no architecture and no gradients with the CNNs that draw)
  dro.pt       WRM (gamma, 15 inner steps); generator.pt the purification VAE decoder
Figures go to docs/ (synthesis_contact_sheet.png, dro_certificate.png, purify_errors.png).

Run by hand: OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/robust_models.py
             [--parts synthesis,dro,purify] [--n 100]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from advinspect.core.attacks import get_attack
from advinspect.core.defenses.training import TrainingConfig, demo_training_set, train_defense
from advinspect.core.models.torch_backend import TorchClassifier
from advinspect.core.tasks.base import Images
from advinspect.zoo.digits import DigitsCNN
from advinspect.zoo.digits import train as train_demo

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "robust_models"
DOCS = ROOT / "docs"
SPEC = DigitsCNN.default_spec()


def judge_mlp() -> nn.Module:
    return nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def clf_of(module: nn.Module) -> TorchClassifier:
    return TorchClassifier(module.eval(), SPEC, torch.device("cpu"))


def cached(name: str, make: callable, arch: callable = DigitsCNN) -> TorchClassifier:
    path = CACHE / name
    module = arch()
    if path.is_file():
        module.load_state_dict(torch.load(path, weights_only=True))
    else:
        started = time.perf_counter()
        module = make()
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.save(module.state_dict(), path)
        print(f"  trained {name} in {time.perf_counter() - started:.0f} s")
    return clf_of(module)


def adversarial(defense: str, **extra: float) -> callable:
    def make() -> nn.Module:
        x, y, _, _ = demo_training_set(0)
        config = TrainingConfig.from_values({"defense": defense, "lr": 2e-3, "seed": 0, "device": "cpu",
                                             "val_attack_size": 100, "keep_best": False, **extra})
        result = train_defense(config, x, y, SPEC, "advinspect.zoo.digits:DigitsCNN")
        for note in result.notes:
            print(f"  note: {note}")
        return result.module
    return make


def fit_mlp() -> nn.Module:
    x, y, _, _ = demo_training_set(0)
    torch.manual_seed(1)
    model = judge_mlp()
    optimizer = torch.optim.Adam(model.parameters(), 2e-3)
    order_gen = torch.Generator().manual_seed(1)
    for _ in range(40):
        order = torch.randperm(len(x), generator=order_gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(model((x[idx] - 0.5) / 0.5), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def models() -> dict[str, TorchClassifier]:
    return {
        "pgd": cached("pgd.pt", adversarial("pgd", epochs=15, eps=0.3, eps_warmup_epochs=3, steps=7)),
        "standard": cached("standard.pt", lambda: train_demo(0, 15).model),
        "judge_cnn": cached("judge_cnn.pt", lambda: train_demo(1, 15).model),
        "judge_mlp": cached("judge_mlp.pt", fit_mlp, judge_mlp),
    }


def test_set(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    _, _, x, y = demo_training_set(0)
    step = max(1, len(x) // n)
    return x[::step][:n], y[::step][:n]


# --- synthesis ---------------------------------------------------------------------------------
def pixel_judges() -> dict[str, callable]:
    """Judges of another family than the CNNs whose gradients draw: scikit-learn logistic
    regression and 5-nearest neighbours on the digits' native 8x8 pixels (4x4 average pooling),
    fitted on the training split. A targeted perturbation of a CNN has no reason to transfer to
    them; a drawing that looks like the digit does."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    x, y, _, _ = demo_training_set(0)

    def pixels(images: torch.Tensor) -> np.ndarray:
        return nn.functional.avg_pool2d(torch.as_tensor(images).float(), 4).flatten(1).numpy()

    fitted = {"logreg": LogisticRegression(max_iter=2000).fit(pixels(x), y.numpy()),
              "5-NN": KNeighborsClassifier(5).fit(pixels(x), y.numpy())}
    return {name: (lambda images, model=model: model.predict(pixels(images))) for name, model in fitted.items()}


def part_synthesis(m: dict[str, TorchClassifier], n: int, kinds: list[str], eps_values: list[float | None],
                   sheet_kind: str, sheet_eps: float | None) -> None:
    """Judged rate (share of images a judge labels as their target class) of the seeds alone and
    of each model's drawings, per seed kind and L2 eps, on the same seeds for both models."""
    from advinspect.core.data.images import save_png
    from advinspect.core.tasks import synthesize

    x, y, _, _ = demo_training_set(0)
    images = Images(x.numpy(), y.numpy())
    x_test, y_test = test_set(n)
    judges = {"CNN": lambda t: m["judge_cnn"].predict(torch.as_tensor(t)).numpy(),
              "MLP": lambda t: m["judge_mlp"].predict(torch.as_tensor(t)).numpy(), **pixel_judges()}
    for name in ("pgd", "standard", "judge_cnn", "judge_mlp"):
        print(f"  {name:<10} clean test accuracy {float((m[name].predict(x_test) == y_test).float().mean()):.4f}")
    for name, judge in judges.items():
        print(f"  judge {name:<7} clean test accuracy {float((judge(x_test) == y_test.numpy()).mean()):.4f}")
    print("judged rate: share labelled as the target class (own = the drawing model itself); 10 classes x 10 seeds")
    print(f"{'seeds':<9} {'eps':>5}  {'images':<9} {'own':>5} " + " ".join(f"{j:>7}" for j in judges))
    for kind in kinds:
        for eps in eps_values:
            started = time.perf_counter()
            config = synthesize.Config(per_class=10, seed_kind=kind, eps=eps)
            result = synthesize.run(synthesize.Inputs(m["pgd"], images, compare=m["standard"],
                                                      names=("pgd", "standard")), config)
            t = result.targets
            rows = [("seeds", None, result.seeds)] + [(r.name, r.rates(t)["model_agreement"], r.images)
                                                      for r in result.runs]
            for label, own, drawn in rows:
                own_text = "  -  " if own is None else f"{own:5.2f}"
                print(f"{kind:<9} {result.eps:5.1f}  {label:<9} {own_text} "
                      + " ".join(f"{float((judge(drawn) == t).mean()):7.2f}" for judge in judges.values()))
            print(f"          ({time.perf_counter() - started:.0f} s)")
            if kind == sheet_kind and eps == sheet_eps:
                path = save_png(result.contact_sheet().transpose(2, 0, 1), DOCS / "synthesis_contact_sheet.png")
                print(f"  wrote {path.relative_to(ROOT)} ({kind} seeds, eps {result.eps:.1f} | PGD model | "
                      "standard model)")


# --- DRO ---------------------------------------------------------------------------------------
def robust_accuracies(clf: TorchClassifier, x: torch.Tensor, y: torch.Tensor, eps: float) -> tuple[float, ...]:
    clean = float((clf.predict(x) == y).float().mean())
    pgd = get_attack("pgd").from_values({"eps": eps, "steps": 40}).run(clf, x, y, seed=0).summary()
    apgd = get_attack("apgd").from_values({"eps": eps, "steps": 100}).run(clf, x, y, seed=0).summary()
    return clean, pgd["robust_accuracy"], apgd["robust_accuracy"]


def part_dro(m: dict[str, TorchClassifier], n: int, gamma: float) -> None:
    from advinspect.core.robust.dro import certificate_curve

    dro = cached("dro.pt", adversarial("dro", epochs=6, dro_gamma=gamma, dro_steps=15, eps=0.1))
    x, y = test_set(n)
    module = dro.module
    normalize = lambda t: module((t - 0.5) / 0.5)  # noqa: E731 — the Classifier's own normalization
    curve = certificate_curve(normalize, x, y, gamma=gamma, steps=15)
    print(f"WRM gamma {gamma}: E[phi_gamma] {curve.phi:.4f}, clean loss {curve.clean_loss:.4f}, holds {curve.holds}")
    for r, e, c, g in sorted(zip(curve.rho, curve.empirical_loss, curve.certificate, curve.gammas, strict=True)):
        print(f"  gamma' {g:6.2f}  rho {r:.4f}  empirical worst-case loss {e:.4f}  certificate {c:.4f}")
    (DOCS / "dro_certificate.png").write_bytes(curve.figure().png)
    print("  wrote docs/dro_certificate.png")
    print(f"defense table, {len(x)} test images, Linf eps 0.1: clean / PGD-40 / APGD-100")
    for name, clf in (("standard", m["standard"]), ("pgd (eps 0.3)", m["pgd"]), (f"dro (gamma {gamma})", dro)):
        clean, pgd, apgd = robust_accuracies(clf, x, y, 0.1)
        print(f"  {name:<18} {clean:.4f}  {pgd:.4f}  {apgd:.4f}")


# --- purification ------------------------------------------------------------------------------
class IdentityBPDA:
    """The first adaptive evaluation, kept to compare: BPDA with the identity as the projection's
    backward pass (a Purify whose own `bpda` is switched off)."""

    bpda = None


def part_purify(m: dict[str, TorchClassifier], n: int, restarts: int, steps: int, eps: float,
                attack_steps: int) -> None:
    """Naive against adaptive at the same budget (Linf eps, PGD steps), every adversarial judged by
    one purification whose restarts come from a seed no attack used (EVAL_SEED): the numbers are
    comparable and repeatable. The engine's own re-prediction is printed beside it."""
    from advinspect.core.defenses.purify import (
        Purify,
        error_histogram,
        estimate_seconds,
        latent_attack,
        load_generator,
        reconstruction_errors,
        save_generator,
        train_generator,
    )
    from advinspect.core.defenses.transforms import DefendedClassifier

    eval_seed = 1234
    path = CACHE / "generator.pt"
    if not path.is_file():
        x_train, *_ = demo_training_set(0)
        started = time.perf_counter()
        result = train_generator(x_train, latent_dim=16, epochs=30)
        save_generator(result.decoder, 16, path)
        print(f"  trained the generator in {time.perf_counter() - started:.0f} s, loss {result.history[-1]:.1f}")
    g = load_generator(path)
    x, y = test_set(n)
    clf = m["standard"]
    print(f"purify {len(x)} test images: estimated {estimate_seconds(g, len(x), restarts=10, steps=200):.1f} s at "
          f"R 10 × L 200, {estimate_seconds(g, len(x), restarts=restarts, steps=steps):.1f} s at R {restarts} × L {steps}")
    full = DefendedClassifier(clf, [Purify(g, 10, 200)], seed=eval_seed)
    print(f"  clean accuracy: model {float((clf.predict(x) == y).float().mean()):.4f}, purified (R 10 × L 200) "
          f"{float((full.predict(x) == y).float().mean()):.4f}")

    def judged(x_adv: torch.Tensor) -> torch.Tensor:
        """Robust per image through the defense, restarts drawn from the evaluation seed."""
        defense = DefendedClassifier(clf, [Purify(g, restarts, steps)], seed=eval_seed)
        return defense.predict(torch.as_tensor(x_adv)) == y

    class Identity(IdentityBPDA, Purify):
        pass

    pgd = get_attack("pgd").from_values({"eps": eps, "steps": attack_steps, "early_stop": False})
    apgd = get_attack("apgd").from_values({"eps": eps, "steps": 50, "loss": "ce"})
    print(f"  defense table, Linf eps {eps}, purification R {restarts} × L {steps}; robust accuracy judged with "
          f"restarts from seed {eval_seed} (engine's own re-prediction in brackets):")
    print(f"    undefended model, PGD-{attack_steps}: {pgd.run(clf, x, y, seed=0).summary()['robust_accuracy']:.4f}")
    rows = (("naive", f"PGD-{attack_steps}", pgd, Purify, False, 1),
            ("adaptive", f"PGD-{attack_steps}, identity BPDA + EOT 4", pgd, Identity, True, 4),
            ("adaptive", f"PGD-{attack_steps}, BPDA through the projection", pgd, Purify, True, 1),
            ("adaptive", "APGD-CE-50, BPDA through the projection", apgd, Purify, True, 1))
    robust, adversarials = {}, {}
    for mode, label, attack, kind, adaptive, eot in rows:
        started = time.perf_counter()
        defended = DefendedClassifier(clf, [kind(g, restarts, steps)], adaptive=adaptive, eot_samples=eot, seed=0)
        result = attack.run(defended, x, y, seed=0)
        robust[label] = judged(result.x_adv)
        adversarials[label] = torch.as_tensor(result.x_adv)
        print(f"    purified, {mode:<8} {label:<44} {float(robust[label].float().mean()):.4f} "
              f"[{result.summary()['robust_accuracy']:.4f}] ({time.perf_counter() - started:.0f} s)")
    started = time.perf_counter()
    label = "latent-space attack (200 steps)"
    adversarials[label] = latent_attack(clf, g, x, y, eps=eps, steps=200, penalty=10.0, seed=0)
    robust[label] = judged(adversarials[label])
    print(f"    purified, adaptive {label:<44} {float(robust[label].float().mean()):.4f} "
          f"({time.perf_counter() - started:.0f} s)")
    adaptive_rows = [k for k in robust if k != f"PGD-{attack_steps}"]
    worst = torch.stack([robust[k] for k in adaptive_rows]).all(0)
    print(f"    purified, adaptive worst case per image over the {len(adaptive_rows)} adaptive attacks: "
          f"{float(worst.float().mean()):.4f}")
    best = "APGD-CE-50, BPDA through the projection"
    clean_err = reconstruction_errors(g, x, restarts=restarts, steps=steps)
    adv_err = reconstruction_errors(g, adversarials[best], restarts=restarts, steps=steps)
    print(f"  reconstruction error: clean median {np.median(clean_err):.2f}, adaptive ({best}) median "
          f"{np.median(adv_err):.2f}")
    (DOCS / "purify_errors.png").write_bytes(error_histogram(clean_err, adv_err).png)
    print("  wrote docs/purify_errors.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="synthesis,dro,purify")
    parser.add_argument("--n", type=int, default=100, help="test images for the accuracies")
    parser.add_argument("--seed-kinds", default="gaussian,pooled,noise", help="synthesis seed kinds")
    parser.add_argument("--synth-eps", default="2,4,8,default", help="synthesis L2 budgets (default: the task's)")
    parser.add_argument("--sheet-kind", default="pooled", help="seed kind of the contact sheet in docs/")
    parser.add_argument("--sheet-eps", default="default", help="eps of the contact sheet in docs/")
    parser.add_argument("--gamma", type=float, default=2.0)
    parser.add_argument("--restarts", type=int, default=4, help="purification restarts during the attacks")
    parser.add_argument("--steps", type=int, default=100, help="purification steps during the attacks")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--attack-steps", type=int, default=20, help="PGD steps against purification")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    m = models()
    parts = args.parts.split(",")
    if "synthesis" in parts:
        eps_values = [None if e == "default" else float(e) for e in args.synth_eps.split(",")]
        sheet_eps = None if args.sheet_eps == "default" else float(args.sheet_eps)
        part_synthesis(m, args.n, args.seed_kinds.split(","), eps_values, args.sheet_kind, sheet_eps)
    if "dro" in parts:
        part_dro(m, args.n, args.gamma)
    if "purify" in parts:
        part_purify(m, args.n, args.restarts, args.steps, args.eps, args.attack_steps)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
