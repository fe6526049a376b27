"""AutoAttack stage by stage (APGD-T, FAB-T, Square) against torchattacks on the points APGD-CE
left robust: where a whole-AutoAttack time difference comes from, with every stage on the same
points in one run.

Run by hand: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/autoattack_stages.py
"""
import time
import warnings

import numpy as np
import torch
import torchattacks

from advinspect.core.attacks import get_attack
from advinspect.core.data import collect_images, load_images
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from advinspect.core.models import load_model

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
clf = load_model(DEMO_MODEL, device="cpu")
b = load_images(collect_images([DEMO_SAMPLES], clf.spec), clf.spec)
x, y = b.x[:200].float(), b.labels[:200]
m = clf.as_module()
eps = 0.05
adv = get_attack("apgd").from_values({"eps": eps, "steps": 100, "loss": "ce"}).run(clf, x, y).x_adv
keep = (clf.predict(torch.as_tensor(adv)) == y) & (clf.predict(x) == y)
x, y = x[keep][:40], y[keep][:40]
print("robust points", len(x))


def t(name, fn):
    start = time.perf_counter()
    out = fn()
    d = time.perf_counter() - start
    ra = float((clf.predict(torch.as_tensor(np.asarray(out, dtype=np.float32))) == y).float().mean())
    print(f"{name:<28} {d:7.2f} s  RA {ra:.3f}", flush=True)


t("ours apgd-t", lambda: get_attack("apgd-t").from_values({"eps": eps, "steps": 100}).run(clf, x, y).x_adv)
t("ta APGDT", lambda: torchattacks.APGDT(m, eps=eps, steps=100, n_classes=10, seed=0)(x, y).detach())
t("ours fab-t", lambda: get_attack("fab").from_values({"eps": eps, "steps": 100, "n_target_classes": 9}).run(clf, x, y).x_adv)
t("ta FAB mt", lambda: torchattacks.FAB(m, eps=eps, steps=100, n_classes=10, multi_targeted=True, seed=0)(x, y).detach())
t("ours square", lambda: get_attack("square").from_values({"eps": eps, "n_queries": 5000}).run(clf, x, y).x_adv)
t("ta Square", lambda: torchattacks.Square(m, eps=eps, n_queries=5000, seed=0)(x, y).detach())
