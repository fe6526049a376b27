"""Per-sample suspicion scores on a layer's features (higher = more suspicious), comparable
across classes so one ranking and one removal budget cover the whole training set.

activation-clustering  Chen et al. 2018: per class, PCA to 10 dims and 2-means. ART flags the
    smaller cluster of *every* class; at a 10 % all-to-one poison the target class is half
    poison, so "smaller" is a coin flip there. Here the suspect cluster is the smaller one unless
    the split is balanced, then the more heterogeneous one (`suspect_side`), and a sample's score
    is how far it sits on that cluster's side times the class's silhouette (a class that does
    not split scores near zero).
spectral  Tran et al. 2018: per class, the projection of the centred features on the top singular
    vector, squared and over the class's mean squared norm. Unsigned, both halves of a half-poison
    class score alike; the sign is taken toward the suspect side (as above).
outlier   the sphere defense (Koh et al.) with a reference: distance to the own class centroid over
    the distance to the nearest other class centroid. A poisoned sample still looks like its
    source class at the early layers; plain distance to the own centroid cannot tell a poisoned
    sample from a clean class's natural spread.
loss      per-sample cross-entropy of the model on the label as given (flipped labels stand out).
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("activation-clustering", "spectral", "outlier", "loss")
FEATURE_METHODS = METHODS[:3]


def scores(method: str, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per-sample scores of a feature method ('loss' is computed from the model: `loss_scores`)."""
    features = np.asarray(features, np.float64)
    if method == "outlier":
        return _outlier(features, labels)
    fn = {"activation-clustering": _ac_class, "spectral": _spectral_class}[method]
    out = np.zeros(len(labels), np.float64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) >= 3:
            out[idx] = fn(features[idx], seed)
    return out


def _spread(f: np.ndarray, v: np.ndarray | None = None) -> float:
    """Mean squared distance to the group's mean (orthogonal to `v` when given)."""
    if len(f) < 2:
        return 0.0
    r = f - f.mean(0)
    if v is not None:
        r = r - np.outer(r @ v, v)
    return float((r ** 2).sum(1).mean())


BALANCED = 0.4  # a split whose smaller side holds at least this share is "balanced"


def suspect_side(a: np.ndarray, b: np.ndarray, v: np.ndarray | None = None) -> int:
    """Which of two groups looks like the poison: 0 for `a`, 1 for `b`. The smaller one (poison
    is a minority of its class), unless the split is balanced (a 10 % all-to-one poison makes
    the target class about half poison): then the more heterogeneous one, since the poison comes
    from many source classes."""
    share = min(len(a), len(b)) / max(1, len(a) + len(b))
    if share < BALANCED:
        return 0 if len(a) < len(b) else 1
    return 0 if _spread(a, v) > _spread(b, v) else 1


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
    if np.bincount(km.labels_, minlength=2).min() < 2:
        return np.zeros(len(f))
    suspect = suspect_side(reduced[km.labels_ == 0], reduced[km.labels_ == 1])
    silhouette = max(0.0, float(silhouette_score(reduced, km.labels_)))
    d = np.linalg.norm(reduced[:, None, :] - km.cluster_centers_[None], axis=2)
    scale = float(np.linalg.norm(km.cluster_centers_[0] - km.cluster_centers_[1])) or 1.0
    return silhouette * (d[:, 1 - suspect] - d[:, suspect]) / scale


def _spectral_class(f: np.ndarray, seed: int) -> np.ndarray:
    centred = f - f.mean(0)
    energy = float((centred ** 2).sum(1).mean())
    if energy <= 0:
        return np.zeros(len(f))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projection = centred @ vt[0]
    if suspect_side(centred[projection <= 0], centred[projection > 0], vt[0]) == 0:
        projection = -projection
    return projection * np.abs(projection) / energy


def _outlier(f: np.ndarray, labels: np.ndarray) -> np.ndarray:
    classes = np.unique(labels)
    if len(classes) < 2:
        return np.zeros(len(labels))
    centroids = np.stack([f[labels == c].mean(0) for c in classes])
    position = np.searchsorted(classes, labels)
    distance = np.stack([np.linalg.norm(f - c, axis=1) for c in centroids], 1)
    own = distance[np.arange(len(f)), position].copy()
    distance[np.arange(len(f)), position] = np.inf
    return own / np.maximum(distance.min(1), 1e-12)


def loss_scores(clf: object, x: object, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each sample under `clf` on its given label."""
    import torch

    logits = clf.logits_batched(x).float().cpu()  # type: ignore[attr-defined]
    return torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels).long(), reduction="none").numpy()


def removal_budget(n: int, expected_ratio: float) -> int:
    """Tran et al.'s budget: 1.5 × the expected poison ratio (ART's default 1.5 × 0.33 ≈ half of
    every class)."""
    return min(n, int(math.ceil(round(1.5 * expected_ratio * n, 9))))


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
