"""STRIP (Gao et al. 2019): superimpose an input on random clean images and measure the entropy
of the predictions; a trigger dominates every blend, so triggered inputs have low entropy. The
threshold is the entropy quantile of clean inputs at the chosen false-rejection rate.

Superimposition adds the two images and saturates at the top of the value range, as the paper's
`addWeighted(x, 1, overlay, 1)` on 8-bit images does (a 50/50 average would halve a patch).
"""

from __future__ import annotations

import numpy as np
import torch

from advinspect.core.jobs import NEVER, CancelToken


def strip_entropy(clf: object, x: torch.Tensor, overlays: torch.Tensor, n: int = 32, seed: int = 0,
                  index: np.ndarray | None = None, cancel: CancelToken = NEVER) -> np.ndarray:
    """Mean prediction entropy (nats) of each input over `n` superimposed clean images. Each input
    draws its overlays from a generator seeded by (seed, its global index)."""
    lo, hi = clf.spec.value_range  # type: ignore[attr-defined]
    index = np.arange(len(x)) if index is None else np.asarray(index)
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        if cancel.cancelled:
            break
        rng = np.random.default_rng([seed, int(index[i])])
        picks = torch.as_tensor(rng.choice(len(overlays), size=n, replace=len(overlays) < n))
        blended = (x[i:i + 1] - lo + overlays[picks] - lo).clamp(0, hi - lo) + lo
        p = clf.probabilities(blended).double().cpu()  # type: ignore[attr-defined]
        out[i] = float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())
    return out


def threshold_at_frr(clean_entropy: np.ndarray, frr: float) -> float:
    """Entropy below which inputs are rejected, so that a fraction `frr` of clean inputs is."""
    values = clean_entropy[np.isfinite(clean_entropy)]
    return float(np.quantile(values, frr)) if len(values) else float("nan")
