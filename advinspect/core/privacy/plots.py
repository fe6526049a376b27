"""Report figures of the privacy verbs (matplotlib, Agg): ROC on log-log axes, budget curves."""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], n_negatives: int) -> Any:
    """ROC curves (fpr, tpr, auc per name) on log-log axes, the chance line dashed."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    floor = 1.0 / max(2 * n_negatives, 10)
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), label=f"{name} (AUC {auc:.3f})", drawstyle="steps-post")
    ax.plot([floor, 1], [floor, 1], "k--", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1)
    ax.set_xlabel("false positive rate (non-members called members)")
    ax.set_ylabel("true positive rate (members found)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def budget_figure(budgets: list[int], series: dict[str, list[float | None]]) -> Any:
    """Fidelity / accuracy against the query budget (log x axis)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    for name, values in series.items():
        pts = [(b, v) for b, v in zip(budgets, values, strict=True) if v is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("queries to the victim")
    ax.set_ylabel("rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
