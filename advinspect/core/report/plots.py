"""PNG plots of an evaluation for the CLI and reports (matplotlib, Agg: no display, no Qt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _values(items: list[Any]) -> np.ndarray:
    """Numbers for plotting; null (a NaN written as null) becomes NaN, a gap in the plot."""
    return np.array([np.nan if v is None else float(v) for v in items], dtype=float)


def _num(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _pyplot().close(fig)
    return path


def plot_curves(data: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for curve in data["curves"]:
        ax.plot(_values(curve["eps"]), _values(curve["robust_accuracy"]), marker="o", label=curve["attack"])
    if data.get("clean_accuracy") is not None:
        ax.axhline(data["clean_accuracy"], color="gray", linestyle=":", label="clean")
    ax.set(xlabel="epsilon", ylabel="robust accuracy", ylim=(0, 1.02), title="Robust accuracy vs epsilon")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_reliability(data: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    calib = data["calibration"]
    panels = [("clean", calib), ("held-out, before", calib["held_out_before"]),
              (f"held-out, T={_num(calib.get('temperature'), '.2f')}", calib["held_out_after"])]
    if calib.get("adversarial"):
        panels.append(("adversarial", calib["adversarial"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.8), squeeze=False)
    for ax, (title, c) in zip(axes[0], panels, strict=True):
        centers = [(b["lower"] + b["upper"]) / 2 for b in c["bins"]]
        width = c["bins"][0]["upper"] - c["bins"][0]["lower"]
        accuracy = [b.get("accuracy") or 0 for b in c["bins"]]
        ax.bar(centers, accuracy, width=width * 0.95, color="#4c72b0", edgecolor="white", label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{title}\nECE {_num(c.get('ece'), '.4f')}")
    axes[0][0].legend(loc="upper left")
    return _save(fig, path)


def plot_histograms(data: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    h = data["histograms"]
    edges = np.asarray(h["bins"])
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, keys, title in ((axes[0], ("clean", "adversarial"), "clean vs adversarial"),
                            (axes[1], ("correct", "wrong"), "correct vs wrong (clean)")):
        for key in keys:
            if key in h:
                ax.bar(centers, _values(h[key]), width=width * 0.9, alpha=0.6, label=key)
        ax.set(xlabel="max softmax confidence", ylabel="images", title=title, yscale="log")
        ax.legend()
    return _save(fig, path)


def plot_confusion(data: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    matrices = {name: m for name, m in (data.get("confusion") or {}).items() if m}
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 4), squeeze=False)
    labels = data.get("labels") or []
    for ax, (name, matrix) in zip(axes[0], matrices.items(), strict=True):
        m = np.asarray(matrix)
        ax.imshow(m, cmap="Blues")
        ax.set(title=name, xlabel="predicted", ylabel="true")
        if len(m) <= 20:  # numbers in the cells only where they fit
            ticks = labels if len(labels) == len(m) else [str(i) for i in range(len(m))]
            ax.set_xticks(range(len(ticks)), ticks)
            ax.set_yticks(range(len(ticks)), ticks)
            for (i, j), v in np.ndenumerate(m):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                            color="white" if v > m.max() / 2 else "black")
    return _save(fig, path)


def write_evaluation_plots(data: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [plot_reliability(data, out_dir / "reliability.png"), plot_histograms(data, out_dir / "histograms.png")]
    if any((data.get("confusion") or {}).values()):
        paths.append(plot_confusion(data, out_dir / "confusion.png"))
    if data["curves"]:
        paths.insert(0, plot_curves(data, out_dir / "robustness.png"))
    return paths


def plot_comparison(data: dict[str, Any], maps: dict[str, Any], image: Any, out: Path) -> list[Path]:
    """comparison.png (robust accuracy vs eps, and the clean/robust trade-off) and saliency.png
    (the same image explained by each model)."""
    from advinspect.core.explain.overlay import overlay

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for row in data["models"]:
        axes[0].plot(row["curve"]["eps"], row["curve"]["robust_accuracy"], marker="o", label=row["model"])
        axes[1].scatter(row["clean_accuracy"], row["robust_accuracy"], s=40)
        axes[1].annotate(row["model"], (row["clean_accuracy"], row["robust_accuracy"]), fontsize=8)
    axes[0].set(xlabel="epsilon", ylabel="robust accuracy", ylim=(0, 1.02), title="Robust accuracy vs epsilon")
    axes[0].legend(fontsize=8)
    axes[1].set(xlabel="clean accuracy", ylabel="robust accuracy", title="Trade-off")
    written = [_save(fig, out / "comparison.png")]
    if maps:
        fig, axes = plt.subplots(1, len(maps), figsize=(2.6 * len(maps), 2.9), squeeze=False)
        for ax, (name, heat) in zip(axes[0], maps.items(), strict=True):
            ax.imshow(overlay(image, heat, opacity=0.7).transpose(1, 2, 0))
            ax.set_title(name[-24:], fontsize=8)
            ax.axis("off")
        written.append(_save(fig, out / "saliency.png"))
    return written
