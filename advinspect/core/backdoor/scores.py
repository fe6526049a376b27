"""Per-sample suspicion scores on a layer's features (higher = more suspicious), comparable
across classes so one ranking and one removal budget cover the whole training set.

activation-clustering  Chen et al. 2018: per class, PCA to 10 dims and 2-means. ART flags the
    smaller cluster of *every* class; here a sample's score is how far it sits on the smaller
    cluster's side, times the class's silhouette, so a class that does not split (a clean class)
    scores near zero.
spectral  Tran et al. 2018: per class, the squared projection of the centred features on the top
    singular vector, divided by the class's mean squared norm (a share of the class's energy).
outlier   the sphere defense (Koh et al.): distance to the class centroid over the class's median
    distance.
loss      per-sample cross-entropy of the model on the label as given (flipped labels stand out).
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("activation-clustering", "spectral", "outlier", "loss")
FEATURE_METHODS = METHODS[:3]


def scores(method: str, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per-sample scores of a feature method ('loss' is computed from the model: `loss_scores`)."""
    fn = {"activation-clustering": _ac_class, "spectral": _spectral_class, "outlier": _outlier_class}[method]
    out = np.zeros(len(labels), np.float64)
    features = np.asarray(features, np.float64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) >= 3:
            out[idx] = fn(features[idx], seed)
    return out


def _ac_class(f: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    centred = f - f.mean(0)
    dims = min(10, len(f) - 1, f.shape[1])
    if dims < 1 or not np.any(centred):
        return np.zeros(len(f))
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(centred)
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(reduced)
    sizes = np.bincount(km.labels_, minlength=2)
    if sizes.min() == 0:
        return np.zeros(len(f))
    small = int(np.argmin(sizes))
    silhouette = max(0.0, float(silhouette_score(reduced, km.labels_)))
    d = np.linalg.norm(reduced[:, None, :] - km.cluster_centers_[None], axis=2)
    scale = float(np.linalg.norm(km.cluster_centers_[0] - km.cluster_centers_[1])) or 1.0
    return silhouette * (d[:, 1 - small] - d[:, small]) / scale


def _spectral_class(f: np.ndarray, seed: int) -> np.ndarray:
    centred = f - f.mean(0)
    energy = float((centred ** 2).sum(1).mean())
    if energy <= 0:
        return np.zeros(len(f))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[0]) ** 2 / energy


def _outlier_class(f: np.ndarray, seed: int) -> np.ndarray:
    d = np.linalg.norm(f - f.mean(0), axis=1)
    median = float(np.median(d))
    return d / median if median > 0 else d


def loss_scores(clf: object, x: object, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each sample under `clf` on its given label."""
    import torch

    logits = clf.logits_batched(x).float().cpu()  # type: ignore[attr-defined]
    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels).long(), reduction="none").numpy()


def removal_budget(n: int, expected_ratio: float) -> int:
    """Tran et al.'s budget: 1.5 × the expected poison ratio (ART's default 1.5 × 0.33 ≈ half of
    every class)."""
    return min(n, int(math.ceil(1.5 * expected_ratio * n)))


def flag_top(values: np.ndarray, budget: int) -> np.ndarray:
    flags = np.zeros(len(values), bool)
    if budget > 0:
        flags[np.argsort(-values, kind="stable")[:budget]] = True
    return flags


def detection_auc(values: np.ndarray, poisoned: np.ndarray) -> float | None:
    """ROC AUC of the scores against the manifest (None when one side is empty)."""
    from sklearn.metrics import roc_auc_score

    if poisoned.all() or not poisoned.any():
        return None
    return float(roc_auc_score(poisoned, values))


def roc(values: np.ndarray, poisoned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(poisoned, values)
    return fpr, tpr
