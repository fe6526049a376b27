"""PGD speed against a raw torch floor, torchattacks and ART, measured interleaved in one run.

Per-step cost is isolated as (time for 2S steps - time for S steps) / S, so fixed costs (clean
predictions, result bookkeeping) do not blur it. Then a whole robust-accuracy run (PGD-40, eps
0.1, the demo set) against torchattacks, where our per-sample early stop pays off.

Run by hand: .venv/bin/python benchmarks/attack_speed.py [--device cpu|cuda] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from advinspect.core.attacks import get_attack
from advinspect.core.models import ModelSpec
from advinspect.core.models.torch_backend import TorchClassifier

warnings.filterwarnings("ignore")



def floor_pgd(model, x, y, eps, alpha, steps):
    """The floor: forward, loss, autograd.grad w.r.t. the input only, sign step, projection."""
    xa = x.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, xa)
        xa = torch.min(torch.max(xa.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def runners(clf, x, y, eps, alpha):
    import torchattacks
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    module = clf.as_module()
    art_clf = PyTorchClassifier(module, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                nb_classes=clf.num_classes, clip_values=(0.0, 1.0),
                                device_type="gpu" if clf.device.type == "cuda" else "cpu")
    xn, yn = x.cpu().numpy(), y.cpu().numpy()

    def ours(steps):
        attack = get_attack("pgd").from_values({"eps": eps, "steps": steps, "step_size": alpha,
                                                "random_start": False, "early_stop": False})
        return lambda: attack.run(clf, x, y, batch_size=len(x))

    return {
        "floor": lambda s: (lambda: floor_pgd(module, x, y, eps, alpha, s)),
        "advinspect": ours,
        "torchattacks": lambda s: (lambda: torchattacks.PGD(module, eps=eps, alpha=alpha, steps=s,
                                                            random_start=False)(x, y)),
        "ART": lambda s: (lambda: ProjectedGradientDescent(art_clf, eps=eps, eps_step=alpha, max_iter=s,
                                                           num_random_init=0, batch_size=len(x),
                                                           verbose=False).generate(xn, y=yn)),
    }


def per_step(name, clf, x, y, steps, repeats):
    eps, alpha = 8 / 255, 2 / 255
    fns = runners(clf, x, y, eps, alpha)
    samples = {k: [] for k in fns}
    for k in fns:  # warm-up
        fns[k](1)()
    for _ in range(repeats):
        for k, make in fns.items():  # interleaved, so drift hits every contender alike
            short, long = timed(make(steps), clf.device), timed(make(2 * steps), clf.device)
            samples[k].append((long - short) / steps)
    floor = statistics.median(samples["floor"])
    print(f"\nPGD per step, {name} (batch {len(x)}, median of {repeats}):")
    for k, v in samples.items():
        m = statistics.median(v)
        print(f"  {k:<13} {m * 1000:9.2f} ms/step   {m / floor:5.2f}x floor")


def whole_run(clf, x, y, repeats):
    import torchattacks

    eps, steps, alpha = 0.1, 40, 0.01
    module = clf.as_module()
    ours_attack = get_attack("pgd").from_values({"eps": eps, "steps": steps, "step_size": alpha})
    results = {"advinspect": [], "torchattacks": []}
    accuracy = {}
    for _ in range(repeats):
        holder = {}
        results["advinspect"].append(timed(lambda holder=holder: holder.setdefault("o", ours_attack.run(clf, x, y)), clf.device))
        results["torchattacks"].append(timed(lambda holder=holder: holder.setdefault(
            "t", torchattacks.PGD(module, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)), clf.device))
        accuracy["advinspect"] = holder["o"].summary()["robust_accuracy"]
        accuracy["torchattacks"] = (clf.predict(holder["t"]) == y).float().mean().item()
    base = statistics.median(results["torchattacks"])
    print(f"\nWhole robust-accuracy run: PGD-{steps}, eps {eps}, demo set ({len(x)} images):")
    for k, v in results.items():
        m = statistics.median(v)
        print(f"  {k:<13} {m:7.2f} s   {m / base:5.2f}x torchattacks   robust accuracy {accuracy[k]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")

    from advinspect.core.data import collect_images, load_images
    from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
    from advinspect.core.models import load_model

    demo = load_model(DEMO_MODEL, device=device)
    batch = load_images(collect_images([DEMO_SAMPLES], demo.spec), demo.spec)
    x, y = batch.x.to(device), batch.labels.to(device)

    if not args.skip_resnet:
        import torchvision

        torch.manual_seed(0)
        resnet = TorchClassifier(torchvision.models.resnet18(weights=None), ModelSpec(
            input_shape=(3, 224, 224), labels=tuple(str(i) for i in range(1000))), device)
        xr = torch.rand(8, 3, 224, 224, device=device)
        yr = resnet.predict(xr).to(device)
        per_step("resnet18 224x224 random weights", resnet, xr, yr, steps=3 if device.type == "cpu" else 10,
                 repeats=args.repeats)
    per_step("demo CNN", demo, x[:256], y[:256], steps=10, repeats=args.repeats)
    whole_run(demo, x, y, args.repeats)


if __name__ == "__main__":
    main()
