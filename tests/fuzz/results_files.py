"""Results files for hardening tests and fuzzing: a small valid results folder built without a
model (8×8 PNGs, three samples), and seeded mutations of its results.json."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

LABELS = ["a", "b", "c"]


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _calibration() -> dict[str, Any]:
    bins = [{"lower": i / 3, "upper": (i + 1) / 3, "count": 1, "accuracy": 0.5, "confidence": 0.5} for i in range(3)]
    return {"ece": 0.1, "nll": 0.7, "brier": 0.3, "bins": bins}


def evaluation_section() -> dict[str, Any]:
    return {"n": 3, "clean_accuracy": 2 / 3,
            "curves": [{"attack": "pgd", "eps": [0.0, 0.1], "robust_accuracy": [2 / 3, 1 / 3]}],
            "calibration": {**_calibration(), "temperature": 1.5, "ece_after_temperature": 0.05,
                            "held_out_before": _calibration(), "held_out_after": _calibration()},
            "confusion": {"clean": [[1, 0, 0], [0, 1, 0], [1, 0, 0]]},
            "histograms": {"bins": [0.0, 0.5, 1.0], "clean": [1, 2], "correct": [0, 2], "wrong": [1, 0]},
            "labels": list(LABELS), "warnings": ["a warning"], "reference_attack": {"attack": "pgd", "eps": 0.1}}


def make_run(folder: Path, *, names: tuple[str, ...] = ("a/one.png", "b/two.png", "c/three.png"),
             attack: str = "pgd", evaluation: bool = False) -> dict[str, Any]:
    """folder/originals/*.png, folder/run/adversarial/*.png and folder/run/results.json."""
    from advinspect.core.report.jsonio import write_json
    from advinspect.core.report.paths import sample_path

    def adversarial_name(file: str) -> str:  # as results.adversarial_name, without importing torch
        return sample_path("adversarial", file, ".png")

    samples = []
    for i, name in enumerate(names):
        source = folder / "originals" / f"{i}.png"
        _png(source, i)
        _png(folder / "run" / adversarial_name(name), 100 + i)
        top = [{"name": LABELS[(i + j) % 3], "index": (i + j) % 3, "probability": p}
               for j, p in enumerate((0.7, 0.2, 0.1))]
        samples.append({
            "file": name, "source": str(source), "adversarial": adversarial_name(name), "label": LABELS[i % 3],
            "target": None, "clean_pred": LABELS[i % 3], "adv_pred": LABELS[(i + 1) % 3], "clean_confidence": 0.7,
            "adv_confidence": 0.6, "success": True, "linf": 0.1, "l2": 0.5, "l0": 12, "iterations": 5,
            "queries": 5, "success_after_quantization": True, "clean_top_k": top, "adv_top_k": top[::-1]})
    results: dict[str, Any] = {
        "kind": "evaluation" if evaluation else "attack", "created": "2026-01-01T00:00:00+00:00",
        "summary": {"attack": attack, "params": {"eps": 0.1, "steps": 5}, "n": len(names), "clean_accuracy": 1.0,
                    "robust_accuracy": 0.0, "success_rate": 1.0, "success_rate_after_quantization": 1.0,
                    "median_linf": 0.1, "median_l2": 0.5, "mean_queries": 5.0, "seconds": 0.1, "device": "cpu",
                    "seed": 0, "labels_known": True, "cancelled": False},
        "provenance": {"model": {"file": "m.pt", "format": "torchscript", "sha256": "0" * 64,
                                 "spec": {"input_shape": [1, 8, 8], "value_range": [0.0, 1.0], "mean": None,
                                          "std": None, "resize": "resize", "labels": list(LABELS)}},
                       "versions": {"advinspect": "0", "torch": "2"}, "device": "cpu",
                       "command": "advinspect attack m.pt x", "gui_parameters": None},
        "trace": [],
        "samples": samples,
    }
    if evaluation:
        results["evaluation"] = evaluation_section()
    write_json(folder / "run" / "results.json", results)
    return results


# --- mutations ---------------------------------------------------------------------------

JUNK: list[Any] = [None, True, False, 0, -1, 1, 2**64, -(2**70), 1e308, -1e308, 1e-320, float("nan"),
                   float("inf"), float("-inf"), "", "x", "=HYPERLINK(\"http://e\")", "\x00", "\ud800", "é" * 300,
                   "a" * 5000, [], [1, 2], [None], {}, {"x": 1}, [[[[[]]]]], {"a": {"b": {"c": []}}},
                   "../../payload.png", "/etc/passwd", "..", ".", "adversarial/../../x.png", "C:\\x.png",
                   "\\\\server\\share\\x.png", "adversarial/%2e%2e/x.png"]
PATHS = ["../../payload.png", "/tmp/payload.png", "adversarial/../../../payload.png", "..", "a/../../b.png",
         "\x00.png", "~/x.png", "adversarial//../x.png", "./../x.png"]


def _walk(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON value."""
    paths = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            paths += _walk(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths += _walk(v, prefix + (i,))
    return paths


def _deep(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def mutate(base: dict[str, Any], rng: random.Random) -> dict[str, Any] | Any:
    """One to three random edits: a value replaced by junk, a key removed or renamed, a path
    field aimed outside the folder, a list emptied or grown, deep nesting."""
    data = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        paths = _walk(data)
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.1:
                return rng.choice(JUNK)
            continue
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = rng.random()
        if op < 0.45:
            parent[key] = rng.choice(JUNK)
        elif op < 0.6 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.7 and isinstance(parent, dict):
            parent[str(key) + "_x"] = parent.pop(key)
        elif op < 0.85:
            row = rng.choice(data["samples"]) if isinstance(data, dict) and isinstance(data.get("samples"), list) \
                and data["samples"] and isinstance(data["samples"][0], dict) else None
            if isinstance(row, dict):
                row[rng.choice(["adversarial", "saliency_original", "saliency_adversarial", "source", "file"])] = \
                    rng.choice(PATHS)
        elif op < 0.93 and isinstance(parent[key], list):
            parent[key] = parent[key] * rng.choice([0, 2, 50])
        else:
            parent[key] = _deep(rng.choice([5, 40, 200]))
    return data


def dumps(data: Any, rng: random.Random) -> str:
    """JSON text, sometimes truncated or with bytes flipped (a broken file)."""
    text = json.dumps(data, allow_nan=True)
    r = rng.random()
    if r < 0.04:
        return text[: rng.randrange(len(text) + 1)]
    if r < 0.08:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(["{", "]", "\"", "\\", "NaN", "1e999999", "9" * 5000]) + text[i + 1:]
    return text
