"""Membership scores and the metrics that matter at low false-positive rates.

Convention (stated in every output, because flipped conventions are this field's most reported
bug): members are the positive class (label 1), and a higher score means "more likely a member".
The score of a model on (x, y) is the logit-scaled confidence log p_y − log Σ_{y'≠y} p_y', in
float64, as the reference LiRA code computes it: from the logits z it is z_y − logsumexp(z_{y'≠y}),
which never rounds to ±inf where p_y is 0 or 1 in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CONVENTION = ("members are the positive class (label 1); higher score = more likely a member; "
              "score = log p_y - log sum_{y'!=y} p_y' in float64; sets balanced to equal size")
LOW_FPRS = (0.001, 0.01)


def logit_confidence(logits: Any, labels: Any) -> np.ndarray:
    """(N,) float64 logit-scaled confidence of each row's label."""
    z = np.asarray(logits.detach().cpu().double().numpy() if hasattr(logits, "detach") else logits,
                   dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(z))
    correct = z[rows, y]
    others = z.copy()
    others[rows, y] = -np.inf
    top = others.max(1, keepdims=True)
    rest = top[:, 0] + np.log(np.exp(others - top).sum(1))
    return correct - rest


def model_scores(clf: Any, x: Any, labels: Any, batch_size: int = 256) -> np.ndarray:
    """The score of a Classifier on every (x, y): its logits, batched, without gradients."""
    return logit_confidence(clf.logits_batched(x, batch_size), labels)


def roc(member: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(fpr, tpr, auc) with members positive."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(member.astype(int), score)
    return fpr, tpr, float(roc_auc_score(member.astype(int), score))


def tpr_at(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """The highest TPR at a false-positive rate no higher than `target`."""
    ok = fpr <= target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


@dataclass
class RocMetrics:
    """AUC, TPR at 0.1 % and 1 % FPR, each with a bootstrap 95 % interval (None without one)."""

    auc: float
    tpr_at_0_1: float
    tpr_at_1: float
    fpr: np.ndarray
    tpr: np.ndarray
    ci: dict[str, tuple[float, float]] | None

    def to_dict(self) -> dict[str, Any]:
        curve_fpr, curve_tpr = thin_curve(self.fpr, self.tpr)
        return {"auc": self.auc, "tpr_at_0.1%_fpr": self.tpr_at_0_1, "tpr_at_1%_fpr": self.tpr_at_1,
                "ci95": {k: list(v) for k, v in (self.ci or {}).items()},
                "roc": {"fpr": curve_fpr.tolist(), "tpr": curve_tpr.tolist()}}


def roc_metrics(member: np.ndarray, score: np.ndarray, bootstrap: int = 200, seed: int = 0) -> RocMetrics:
    """Metrics of one attack; the interval resamples members and non-members separately
    (percentile bootstrap), so every resample stays balanced."""
    member = np.asarray(member, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    fpr, tpr, auc = roc(member, score)
    ci = None
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        pos, neg = np.flatnonzero(member), np.flatnonzero(~member)
        samples = np.empty((bootstrap, 3))
        for b in range(bootstrap):
            idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
            f, t, a = roc(member[idx], score[idx])
            samples[b] = (a, tpr_at(f, t, LOW_FPRS[0]), tpr_at(f, t, LOW_FPRS[1]))
        lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
        ci = {"auc": (float(lo[0]), float(hi[0])), "tpr_at_0.1%_fpr": (float(lo[1]), float(hi[1])),
              "tpr_at_1%_fpr": (float(lo[2]), float(hi[2]))}
    return RocMetrics(auc, tpr_at(fpr, tpr, LOW_FPRS[0]), tpr_at(fpr, tpr, LOW_FPRS[1]), fpr, tpr, ci)


def thin_curve(fpr: np.ndarray, tpr: np.ndarray, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` ROC points, log-spaced in FPR so the low-FPR end keeps its detail."""
    if len(fpr) <= points:
        return fpr, tpr
    grid = np.unique(np.concatenate([[0.0], np.logspace(-5, 0, points - 1)]))
    idx = np.minimum(np.searchsorted(fpr, grid, side="right") - 1, len(fpr) - 1)
    return fpr[idx], tpr[idx]
