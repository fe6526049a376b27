"""Report sections of sanitize (layer AUCs, ROC, the most suspicious images) and scan (anomaly
indices and each class's reversed trigger, or STRIP's entropies)."""

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


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _unit(x: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    lo, hi = value_range
    return (np.asarray(x, np.float32) - lo) / (hi - lo)


def sanitize_section(result: Any) -> Section:
    c = result.config
    section = Section(f"Sanitization: {c.method}", list(result.summary_text()),
                      command=f"advinspect sanitize MODEL DATA --method {c.method}"
                              + (f" --layer {result.layer}" if c.layer else "") + " --out DIR")
    if result.layer_auc:
        section.tables.append(Table(["layer", "detection AUC"], [[k, v] for k, v in result.layer_auc.items()],
                                    "Detection AUC per layer (against the poison manifest)"))
    metrics = [(n, m) for n, m in (("as given", result.before), ("retrained on the cleaned set", result.after))
               if m is not None]
    if metrics:
        section.tables.append(Table(["model", "C-Acc", "ASR", "RA"], [[n, m.c_acc, m.asr, m.ra] for n, m in metrics]))
    if result.roc is not None:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(3.6, 3.4))
        ax.plot(result.roc[0], result.roc[1], label=f"AUC {result.auc:.3f}")
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls="--")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right")
        section.figures.append(figure_from_matplotlib(fig, f"ROC of {c.method} on layer {result.layer}"))
    if len(result.top):
        x = result.images.x[result.top]
        x = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
        spec_range = getattr(result, "value_range", (0.0, 1.0))
        section.figures.append(figure_from_array(image_grid(_unit(x, spec_range), columns=8),
                                                 "the most suspicious training images", scale=2))
    return section


def scan_section(result: Any) -> Section:
    section = Section(f"Backdoor scan: {result.config.method}", list(result.summary_text()),
                      command=f"advinspect scan MODEL IMAGES --method {result.config.method} --out DIR")
    if result.config.method == "neural-cleanse" and len(result.l1):
        rows = [[r["label"], r["mask_l1"], r["anomaly_index"], r["success"], "yes" if r["flagged"] else ""]
                for r in result.rows()]
        section.tables.append(Table(["class", "mask L1", "anomaly index", "success", "flagged"], rows))
        triggers = result.trigger_images()
        if triggers is not None:
            section.figures.append(figure_from_array(image_grid(triggers, columns=len(triggers)),
                                                     "reversed trigger (mask × pattern) of each class", scale=3))
    if result.clean_entropy is not None:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(4.5, 3))
        ax.hist(result.clean_entropy[np.isfinite(result.clean_entropy)], bins=30, alpha=0.6, label="clean")
        if result.check_entropy is not None:
            ax.hist(result.check_entropy[np.isfinite(result.check_entropy)], bins=30, alpha=0.6, label="checked")
        ax.axvline(result.entropy_threshold, color="k", ls="--", label="threshold")
        ax.set_xlabel("entropy (nats)")
        ax.legend()
        section.figures.append(figure_from_matplotlib(fig, "STRIP entropy"))
    return section
