"""The poison verb's report section: the metrics table, the ratio sweep plot and the preview."""

from __future__ import annotations

from typing import Any

import numpy as np

from advinspect.core.report.sections import (
    Section,
    Table,
    figure_from_array,
    figure_from_matplotlib,
    image_grid,
)


def preview_grid(original: np.ndarray, poisoned: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Pairs side by side, original | poisoned, one pair per row, in [0, 1]."""
    lo, hi = value_range
    pairs = np.stack([original, poisoned], 1).reshape(-1, *original.shape[1:])
    return image_grid((pairs - lo) / (hi - lo), columns=2)


def poison_section(result: Any) -> Section:
    c = result.config
    section = Section(f"Poisoning: {c.attack}", list(result.summary_text()),
                      command=f"advinspect poison DATA --attack {c.attack} --ratio {c.ratio} --target {c.target} "
                              f"--out DIR")
    rows = []
    for name, m in (("poisoned", result.metrics), ("clean", result.baseline)):
        if m is not None:
            rows.append([name, c.ratio if name == "poisoned" else 0.0, m.c_acc, m.asr, m.ra])
    rows += [["sweep", r["ratio"], r["metrics"].c_acc, r["metrics"].asr, r["metrics"].ra] for r in result.sweep]
    if rows:
        section.tables.append(Table(["model", "ratio", "C-Acc", "ASR", "RA"], rows, "C-Acc, ASR and RA on the test set"))
    curve = sorted([(c.ratio, result.metrics)] * (result.metrics is not None)
                   + [(r["ratio"], r["metrics"]) for r in result.sweep], key=lambda t: t[0])
    if len(curve) >= 2:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        ratios = [100 * r for r, _ in curve]
        for key, label in (("c_acc", "C-Acc"), ("asr", "ASR"), ("ra", "RA")):
            values = [getattr(m, key) for _, m in curve]
            if all(v is not None for v in values):
                ax.plot(ratios, values, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("poison ratio (%)")
        ax.set_ylim(0, 1.02)
        ax.legend()
        ax.grid(alpha=0.3)
        section.figures.append(figure_from_matplotlib(fig, "C-Acc, ASR and RA versus the poison ratio"))
    if result.preview_original is not None:
        grid = preview_grid(result.preview_original, result.preview_poisoned, result.value_range)
        section.figures.append(figure_from_array(grid, "original | poisoned", scale=3))
    return section
