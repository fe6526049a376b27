"""Commands about a model: gui, info, predict."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from advinspect.cli.common import add_model_flags, load_images, load_model


def cmd_info(args: argparse.Namespace) -> int:
    import json

    clf = load_model(args)
    info = clf.describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    spec = info.pop("spec")
    for key, value in info.items():
        if key == "parameters" and value is not None:
            value = f"{value:,}"
        print(f"{key:>16}: {value}")
    labels = spec.pop("labels")
    for key, value in spec.items():
        print(f"{key:>16}: {value}")
    shown = ", ".join(labels[:10]) + (f", … ({len(labels)} in all)" if len(labels) > 10 else "")
    print(f"{'labels':>16}: {shown}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from advinspect.core.report.results import write_json

    started = time.perf_counter()
    clf = load_model(args)
    batch = load_images(clf, args.images)
    probs = clf.probabilities(batch.x).cpu()
    k = max(1, min(args.top_k, probs.shape[1]))
    top = probs.topk(k, dim=1)
    spec = clf.spec
    rows = []
    for i, item in enumerate(batch.items):
        label = None if item.label is None else spec.label_name(item.label)
        topk = [{"index": int(j), "name": spec.label_name(int(j)), "probability": round(float(p), 6)}
                for p, j in zip(top.values[i], top.indices[i], strict=True)]
        rows.append({"file": item.name, "label": label, "pred": topk[0]["index"], "pred_name": topk[0]["name"],
                     "top_k": topk})
    labelled = [r for r in rows if r["label"] is not None]
    summary: dict[str, Any] = {"n": len(rows), "errors": batch.errors, "device": str(clf.device),
                               "seconds": round(time.perf_counter() - started, 3)}
    if labelled:
        summary["n_labelled"] = len(labelled)
        summary["accuracy"] = sum(r["label"] == r["pred_name"] for r in labelled) / len(labelled)
    width = min(40, max(len(r["file"]) for r in rows))
    print(f"{'file':<{width}}  {'label':>8}  {'predicted':>10}  top-{k}")
    for r in rows:
        tops = "  ".join(f"{t['name']}:{t['probability']:.3f}" for t in r["top_k"])
        mark = "" if r["label"] in (None, r["pred_name"]) else "  ✗"
        print(f"{r['file'][-width:]:<{width}}  {r['label'] or '-':>8}  {r['pred_name']:>10}  {tops}{mark}")
    if labelled:
        print(f"accuracy: {summary['accuracy']:.4f} on {len(labelled)} labelled images")
    if args.json:
        write_json(args.json, {"summary": summary, "rows": rows})
    return 0



def cmd_gui(args: argparse.Namespace) -> int:
    from advinspect.gui.app import run_gui

    demo = args.demo or args.model is None
    return run_gui(args.model, list(args.images), demo, args.screenshot, args.device, args.trust_pickle)



def register(sub: Any) -> None:
    gui = sub.add_parser("gui", help="open the desktop app", description="Open the desktop app.")
    gui.add_argument("model", nargs="?", help="model to open (default: the demo)")
    gui.add_argument("images", nargs="*", help="images or folders to open")
    gui.add_argument("--demo", action="store_true", help="open the demo model and images")
    gui.add_argument("--screenshot", metavar="FILE", help="run FGSM on the first image, save a PNG of the window, exit")
    gui.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    gui.add_argument("--trust-pickle", action="store_true", help="allow loading a pickled model you trust")
    gui.set_defaults(func=cmd_gui)

    info = sub.add_parser("info", help="describe a model: format, spec, parameters, device, sha256",
                          description="Describe a model: format, spec, parameters, device, sha256.")
    add_model_flags(info)
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)

    predict = sub.add_parser("predict", help="classify images", description="Classify images (files or folders; "
                             "a folder of class folders gives labels and accuracy).")
    add_model_flags(predict)
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--top-k", type=int, default=3, help="how many classes to show (default 3)")
    predict.add_argument("--json", type=Path, metavar="FILE", help="also write the predictions as JSON")
    predict.set_defaults(func=cmd_predict)
