"""DeepFool, Carlini-Wagner L2 and FMN: our speed and quality against torchattacks, ART and
foolbox (DeepFool, CW 9x200 and FMN L0/L1/L2/Linf), same run (contenders interleaved when --repeats > 1).

Run by hand (not a test):  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/minimal_attacks_speed.py

Every adversarial batch is re-predicted here (no library's success flag is trusted). For each
attack it prints seconds, success rate on clean-correct images, median L2 of the successes, and
the median L2 with failures counted as infinite (fair when success rates differ), then the
time ratio ours/oracle and whether the oracle reached our quality (success and median L2 both
equal or better). Times are the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from advinspect.core.attacks import get_attack
from advinspect.core.data import collect_images, load_images
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from advinspect.core.models import load_model
from advinspect.core.models.torch_backend import TorchClassifier


class _Times1000(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 1000


def measure(clf, x, y, x_adv, norm: str = "l2") -> dict[str, float]:
    """Success on clean-correct images and the median `norm` (in the key median_l2) of the successes."""
    x_adv = torch.as_tensor(np.asarray(x_adv, dtype=np.float32))
    correct = clf.predict(x) == y
    success = (clf.predict(x_adv) != y) & correct
    delta = (x_adv - x).flatten(1)
    l2 = {"l2": lambda: delta.norm(dim=1), "linf": lambda: delta.abs().amax(1),
          "l1": lambda: delta.abs().sum(1), "l0": lambda: (delta.abs() > 1e-6).sum(1).float()}[norm]()
    l2_inf = torch.where(success, l2, torch.full_like(l2, float("inf")))[correct]
    return {
        "success": success.sum().item() / max(1, correct.sum().item()),
        "median_l2": float(l2[success].median()) if success.any() else float("nan"),
        "median_l2_fail_inf": float(l2_inf.median()),
    }


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def report(name: str, seconds: float, stats: dict[str, float], norm: str = "l2") -> None:
    print(f"  {name:<34} {seconds:8.2f} s  success {stats['success']:6.1%}  "
          f"median {norm.upper()} {stats['median_l2']:.4f}  (failures=inf: {stats['median_l2_fail_inf']:.4f})")


def compare(ours: tuple[float, dict], oracles: dict[str, tuple[float, dict]]) -> None:
    t_ours, s_ours = ours
    for name, (t, s) in oracles.items():
        matches = s["success"] >= s_ours["success"] and s["median_l2"] <= s_ours["median_l2"]
        print(f"  ours/{name}: time ratio {t_ours / t:.2f}  "
              f"(oracle reaches our quality: {'yes' if matches else 'no'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=450, help="demo images (all 450 by default)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--art-cw-max-iter", type=int, default=20,
                        help="ART CW iterations per binary step (its line search is slow)")
    parser.add_argument("--foolbox-cw-steps", type=int, default=200, help="foolbox CW steps per binary step")
    parser.add_argument("--skip", nargs="*", default=(), choices=("deepfool", "cw", "fmn", "art", "foolbox"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    import torchattacks
    from art.attacks.evasion import CarliniL2Method
    from art.attacks.evasion import DeepFool as ArtDeepFool
    from art.estimators.classification import PyTorchClassifier

    clf = load_model(DEMO_MODEL, device="cpu")
    batch = load_images(collect_images([DEMO_SAMPLES], clf.spec), clf.spec)
    x, y = batch.x[: args.n].float(), batch.labels[: args.n]
    module = clf.as_module()
    art_clf = PyTorchClassifier(module, loss=torch.nn.CrossEntropyLoss(),
                                input_shape=tuple(x.shape[1:]), nb_classes=clf.num_classes,
                                clip_values=clf.spec.value_range, device_type="cpu")
    print(f"{len(x)} demo images, {args.threads} thread(s), best of {args.repeats}")

    def run(name: str, fn: Callable[[], object], repeats: int = args.repeats) -> tuple[float, dict]:
        return run_norm(name, fn, "l2", repeats)

    def run_norm(name: str, fn: Callable[[], object], norm: str,
                 repeats: int = args.repeats) -> tuple[float, dict]:
        seconds, adv = timed(fn, repeats)
        stats = measure(clf, x, y, adv, norm)
        report(name, seconds, stats, norm)
        return seconds, stats

    if "deepfool" not in args.skip:
        print("DeepFool L2 (overshoot 0.02, 50 iterations, 10 classes)")
        ours = run("advinspect", lambda: get_attack("deepfool")().run(clf, x, y).x_adv)
        ta_deepfool = torchattacks.DeepFool(module, steps=50, overshoot=0.02)
        oracles = {"torchattacks": run("torchattacks.DeepFool",
                                       lambda: ta_deepfool(x, y).detach())}
        if "art" not in args.skip:
            oracles["art"] = run("art DeepFool (epsilon=0.02)", lambda: ArtDeepFool(
                art_clf, max_iter=50, epsilon=0.02, nb_grads=10, batch_size=len(x), verbose=False
            ).generate(x.numpy()), repeats=1)
        if "foolbox" not in args.skip:
            import foolbox

            fb_model = foolbox.PyTorchModel(module, bounds=clf.spec.value_range)
            fb_deepfool = foolbox.attacks.L2DeepFoolAttack(steps=50, candidates=10, overshoot=0.02)
            oracles["foolbox"] = run("foolbox L2DeepFoolAttack",
                                     lambda: fb_deepfool.run(fb_model, x, y))
        compare(ours, oracles)
        print("  the same network with x1000 logits (a fixed step margin used to stall there)")
        big = TorchClassifier(_Times1000(module).eval(), clf.spec, torch.device("cpu"))
        big._mean = big._std = None  # the pixel-space module normalizes already
        run("advinspect on x1000 logits", lambda: get_attack("deepfool")().run(big, x, y).x_adv)

    if "cw" not in args.skip:
        print("Carlini-Wagner L2 (kappa 0)")
        ours = run("advinspect 5x50 (c0=1, lr 0.05)", lambda: get_attack("cw")().run(clf, x, y).x_adv)
        oracles = {}
        for c in (1.0, 10.0):
            ta_cw = torchattacks.CW(module, c=c, steps=100)
            oracles[f"torchattacks c={c:g}"] = run(f"torchattacks.CW c={c:g} 100 steps",
                                                   lambda ta_cw=ta_cw: ta_cw(x, y).detach())
        if "art" not in args.skip:
            oracles["art"] = run(f"art CW 5x{args.art_cw_max_iter} (c0=1)", lambda: CarliniL2Method(
                art_clf, binary_search_steps=5, max_iter=args.art_cw_max_iter, learning_rate=0.01,
                initial_const=1.0, batch_size=len(x), verbose=False).generate(x.numpy()), repeats=1)
        if "foolbox" not in args.skip:
            import foolbox

            fb_model = foolbox.PyTorchModel(module, bounds=clf.spec.value_range)
            fb_cw = foolbox.attacks.L2CarliniWagnerAttack(binary_search_steps=9, steps=args.foolbox_cw_steps,
                                                          initial_const=1e-3, confidence=0)
            oracles["foolbox"] = run(f"foolbox CW 9x{args.foolbox_cw_steps}",
                                     lambda: fb_cw.run(fb_model, x, y), repeats=1)
        compare(ours, oracles)
        print("  same budget as torchattacks c=1 (one c, 100 steps): per-step speed, same outputs")
        one_c = get_attack("cw").from_values(
            {"binary_search_steps": 1, "initial_const": 1.0, "steps": 100, "lr": 0.01,
             "abort_early": False})
        same = run("advinspect 1x100 (c=1)", lambda: one_c.run(clf, x, y).x_adv)
        compare(same, {k: v for k, v in oracles.items() if k == "torchattacks c=1"})

    if "fmn" not in args.skip:
        import foolbox

        fmodel = foolbox.PyTorchModel(module, bounds=clf.spec.value_range)
        for norm, fb_attack in (("l2", foolbox.attacks.L2FMNAttack(steps=100)),
                                ("linf", foolbox.attacks.LInfFMNAttack(steps=100)),
                                ("l1", foolbox.attacks.L1FMNAttack(steps=100)),
                                ("l0", foolbox.attacks.L0FMNAttack(steps=100))):
            print(f"FMN {norm} (100 steps, foolbox defaults); median {norm} of the successes")
            ours_fmn = get_attack("fmn").from_values({"norm": norm})
            ours = run_norm(f"advinspect fmn {norm}", lambda a=ours_fmn: a.run(clf, x, y).x_adv, norm)
            theirs = run_norm(f"foolbox {type(fb_attack).__name__}",
                              lambda a=fb_attack: a.run(fmodel, x, y), norm)
            compare(ours, {"foolbox": theirs})


if __name__ == "__main__":
    main()
