"""Privacy attacks on the demo digits (issue 14): membership, extraction, inversion.

Membership: all 1797 digits (32x32), a seeded random half are the target's members, the other
half its non-members (balanced, members positive). Two DigitsCNN targets trained by the tool:
  overfit      standard CE, no augmentation, no weight decay, 30 epochs (train accuracy 1.0)
  regularized  label smoothing 0.2 + weight decay 5e-4, 4 epochs (early stopping)
Attacks: threshold, offline LiRA and shadow with k DigitsCNN reference models on random halves of
the 1797 images (the references are trained like the overfit target, cached), and ART's
MembershipInferenceBlackBox (random forest) as an oracle — it trains on half of the *true*
membership labels and is scored on the other half, a stronger attacker than ours.
With ~900 non-members an FPR of 0.1 % is below one false positive: TPR@0.1% is TPR at zero FP.

Extraction: victim = the shipped ONNX demo model (no gradients used). Pool = the demo training
split (1347 images); budgets above 1347 use augmented copies (shift <= 2 px, noise 0.03). Test =
the 450-image demo test split. Thief = the built-in `cnn`, trained from scratch at each budget.
Variants: random/soft (all budgets), adaptive/soft, random/hard, noise pool/soft (1000, 10000).

Inversion: MIFace on the demo model (pt2) for every class, checked by a second DigitsCNN trained
independently (seed 1) on the same split; with and without a TV prior.

Run by hand: OMP_NUM_THREADS=1 .venv/bin/python -u benchmarks/privacy.py [--parts membership,extract,invert]
             [--k 4] [--epochs 30] [--members 450] [--thief-epochs 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from advinspect.core.data.digits import digits_images, to_tensor
from advinspect.core.defenses.training import TrainingConfig, train_defense
from advinspect.core.models import load_model
from advinspect.core.tasks import extract, invert, membership
from advinspect.core.tasks.base import Images
from advinspect.zoo.digits import DigitsCNN

ARCH = "advinspect.zoo.digits:DigitsCNN"
DEMO = "resources/models/digits_cnn"


def digits_halves(size: int = 0, seed: int = 0) -> tuple[Images, Images]:
    """`size` members and as many non-members drawn from all digits (0: half each)."""
    x_tr, y_tr, x_te, y_te = digits_images(0)
    x = to_tensor(np.concatenate([x_tr, x_te]))
    y = np.concatenate([y_tr, y_te])
    order = np.random.default_rng(seed).permutation(len(x))
    half = size or len(x) // 2
    m, n = order[:half], order[half: 2 * half]
    return (Images(x[m].numpy(), y[m], [f"digit{i}" for i in m], index=m),
            Images(x[n].numpy(), y[n], [f"digit{i}" for i in n], index=n))


def train_target(members: Images, config: TrainingConfig):
    return train_defense(config, members.tensor(), members.labels_tensor(), DigitsCNN.default_spec(), ARCH).classifier("cpu")


def art_oracle(clf, members: Images, non_members: Images) -> float:
    """ART MembershipInferenceBlackBox (random forest on the target's outputs): fit on the first
    half of each set with the true membership, AUC on the second half."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.estimators.classification import PyTorchClassifier
    from sklearn.metrics import roc_auc_score

    est = PyTorchClassifier(clf.as_module(), torch.nn.CrossEntropyLoss(), clf.spec.input_shape, clf.num_classes,
                            clip_values=(0.0, 1.0))
    h = len(members) // 2
    xm, ym, xn, yn = members.x, members.labels, non_members.x, non_members.labels
    attack = MembershipInferenceBlackBox(est, attack_model_type="rf")
    attack.fit(xm[:h], ym[:h], xn[:h], yn[:h])
    p_in = attack.infer(xm[h:], ym[h:], probabilities=True)[:, -1]
    p_out = attack.infer(xn[h:], yn[h:], probabilities=True)[:, -1]
    return float(roc_auc_score(np.r_[np.ones(len(p_in)), np.zeros(len(p_out))], np.r_[p_in, p_out]))


def part_membership(args: argparse.Namespace, out: dict) -> None:
    members, non_members = digits_halves(args.members)
    cache = args.cache or tempfile.mkdtemp(prefix="advinspect-refs-")
    targets = {
        "overfit": TrainingConfig(epochs=args.epochs, val_fraction=0.0, keep_best=False, weight_decay=0.0, seed=0),
        "regularized": TrainingConfig(defense="label_smoothing", smoothing=0.2, weight_decay=5e-4, epochs=4,
                                      val_fraction=0.0, keep_best=False, seed=0),
    }
    for name, tconfig in targets.items():
        started = time.perf_counter()
        clf = train_target(members, tconfig)
        config = membership.Config(reference_models=args.k, reference_arch=ARCH, epochs=args.epochs,
                                   bootstrap=200, cache_dir=cache)
        result = membership.run(membership.Inputs(clf, members, non_members), config)
        oracle = art_oracle(clf, members, non_members)
        print(f"\n== membership, {name} target ({time.perf_counter() - started:.0f} s, k={args.k}) ==")
        for line in result.summary_text():
            print(line)
        print(f"ART MembershipInferenceBlackBox (rf, trained on true labels of half): AUC {oracle:.4f}")
        out[f"membership_{name}"] = {**result.summary(), "ci95": {a: m.ci for a, m in result.metrics.items()},
                                     "art_black_box_auc": oracle}


def part_extract(args: argparse.Namespace, out: dict) -> None:
    victim = load_model(f"{DEMO}.onnx", device="cpu")
    x_tr, _, x_te, y_te = digits_images(0)
    pool = Images(to_tensor(x_tr).numpy(), -np.ones(len(x_tr)))
    test = Images(to_tensor(x_te).numpy(), y_te)
    runs = {"random/soft": ({}, (100, 300, 1000, 3000, 10000)),
            "adaptive/soft": ({"sampling": "adaptive", "round_size": 250}, (1000, 10000)),
            "random/hard": ({"labels_only": True}, (1000, 10000)),
            "noise pool/soft": ({"pool": None}, (1000, 10000))}
    for name, (values, budgets) in runs.items():
        started = time.perf_counter()
        values = dict(values)
        use_pool = values.pop("pool", pool)
        config = extract.Config(budget=budgets[-1], checkpoints=tuple(float(b) for b in budgets[:-1]),
                                epochs=args.thief_epochs, transfer_images=450, **values)
        result = extract.run(extract.Inputs(victim, use_pool, test), config)
        print(f"\n== extraction, {name} ({time.perf_counter() - started:.0f} s) ==")
        for line in result.summary_text():
            print(line)
        out[f"extract_{name}"] = {"rows": result.rows, "transfer": result.transfer}


def part_invert(args: argparse.Namespace, out: dict) -> None:
    from advinspect.core.models.torch_backend import TorchClassifier
    from advinspect.zoo.digits import train as train_digits

    clf = load_model(f"{DEMO}.pt2", device="cpu")
    second = train_digits(seed=1)
    check = TorchClassifier(second.model.eval(), DigitsCNN.default_spec(), torch.device("cpu"))
    print(f"\nsecond model (seed 1): test accuracy {second.test_accuracy:.4f}")
    for tv in (0.0, 0.05):
        started = time.perf_counter()
        result = invert.run(invert.Inputs(clf, check), invert.Config(tv_weight=tv))
        print(f"\n== inversion, TV weight {tv} ({time.perf_counter() - started:.0f} s) ==")
        for line in result.summary_text():
            print(line)
        print("second model says:", [r["check_prediction"] for r in result.rows()])
        out[f"invert_tv{tv}"] = {**result.summary(), "rows": result.rows()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="membership,extract,invert")
    parser.add_argument("--k", type=int, default=4, help="reference models")
    parser.add_argument("--epochs", type=int, default=30, help="overfit target and reference epochs")
    parser.add_argument("--thief-epochs", type=int, default=8)
    parser.add_argument("--members", type=int, default=0, help="members (= non-members); 0: half the digits each")
    parser.add_argument("--cache", default="", help="reference model cache (default: a temporary folder)")
    parser.add_argument("--json")
    args = parser.parse_args()
    out: dict = {}
    for part in args.parts.split(","):
        {"membership": part_membership, "extract": part_extract, "invert": part_invert}[part](args, out)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
