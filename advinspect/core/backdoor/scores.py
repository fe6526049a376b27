"""Per-sample suspicion scores on a layer's features (higher = more suspicious), comparable
across classes so one ranking and one removal budget cover the whole training set.

activation-clustering  Chen et al. 2018: per class, L2-normalised activations, PCA to 10 dims,
    2-means. ART flags the smaller cluster of *every* class. Here the clusters go through Chen
    et al.'s exclusionary reclassification, with a k-nearest-neighbour vote in the layer's
    feature space standing in for the retrained network (`neighbour_disagreement`): the suspect
    cluster is the one whose members' neighbours carry *other* labels (a poisoned 7 labelled 0
    sits among 7s), and the class is flagged when most of that cluster's neighbours do (the
    paper's "classified as another label" rule). A sample's score is how far it sits on the
    suspect cluster's side times how much more the suspect cluster is reclassified than the
    other one: a clean class whose two clusters are both its own scores near zero.
spectral  Tran et al. 2018: per class, the projection of the centred, L2-normalised features on
    the top singular vector, squared and over the class's mean squared norm; the side of the
    vector that is reclassified more is the suspect one (signed), weighted as above.
outlier   the sphere defense (Koh et al.) with a reference: distance to the own class centroid over
    the distance to the nearest other class centroid.
loss      per-sample cross-entropy of the model on the label as given (flipped labels stand out).

Why the vote: on the demo digits the poisoned part of the target class separates perfectly
inside its class at every convolutional layer (AUC 1.0 there), but the clean digits split into
two styles just as clearly, so a ranking over the whole set mixed the clean classes' second
style in (global AUC 0.87 / 0.81). What the clean styles lack is neighbours of other labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

METHODS = ("activation-clustering", "spectral", "outlier", "loss")
FEATURE_METHODS = METHODS[:3]
NEIGHBOURS = 10  # the k of the vote
VOTE_DIMS = 64  # the vote runs on this many principal components of the normalised features
MAJORITY = 0.5  # a class is flagged when more of its suspect side's neighbours carry other labels


@dataclass
class Suspicion:
    """Scores and what may be removed: `candidates` marks the suspect side of flagged classes
    (None: any sample may be, by rank); `flagged_classes` the classes the vote flagged."""

    values: np.ndarray
    candidates: np.ndarray | None = None
    flagged_classes: tuple[int, ...] = ()


def scores(method: str, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per-sample scores of a feature method ('loss' is computed from the model: `loss_scores`)."""
    return suspicion(method, features, labels, seed).values


def suspicion(method: str, features: np.ndarray, labels: np.ndarray, seed: int = 0) -> Suspicion:
    features = np.asarray(features, np.float64)
    if method == "outlier":
        return Suspicion(_outlier(features, labels))
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    disagree = neighbour_disagreement(unit, labels, seed)
    split = {"activation-clustering": _ac_split, "spectral": _spectral_split}[method]
    out = np.zeros(len(labels), np.float64)
    candidates = np.zeros(len(labels), bool)
    flagged = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 3:
            continue
        side = split(unit[idx], seed)  # signed: > 0 on one side, < 0 on the other
        if side is None:
            continue
        pos, neg = side > 0, side <= 0
        vote_pos = float(disagree[idx[pos]].mean()) if pos.any() else 0.0
        vote_neg = float(disagree[idx[neg]].mean()) if neg.any() else 0.0
        if vote_neg > vote_pos:
            side, pos, vote_pos, vote_neg = -side, ~pos, vote_neg, vote_pos
        out[idx] = (vote_pos - vote_neg) * side
        if vote_pos > MAJORITY:
            flagged.append(int(c))
            candidates[idx[pos]] = True
    return Suspicion(out, candidates, tuple(flagged))


def neighbour_disagreement(unit: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each sample, the share of its `NEIGHBOURS` nearest others (on the top principal
    components of the normalised features) whose label differs from its own."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    n = len(labels)
    k = min(NEIGHBOURS, n - 1)
    if k < 1:
        return np.zeros(n)
    dims = min(VOTE_DIMS, n, unit.shape[1])
    reduced = PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit_transform(unit) \
        if dims < unit.shape[1] else unit
    _, index = NearestNeighbors(n_neighbors=k + 1).fit(reduced).kneighbors(reduced)
    neighbours = index[:, 1:]  # the first is the sample itself (or a duplicate of it)
    return (labels[neighbours] != labels[:, None]).mean(1)


def _ac_split(f: np.ndarray, seed: int) -> np.ndarray | None:
    """Signed position between the two 2-means clusters, in units of their distance (> 0:
    nearer cluster 1)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    centred = f - f.mean(0)
    dims = min(10, len(f) - 1, f.shape[1])
    if dims < 1 or not np.any(centred):
        return None
    reduced = PCA(n_components=dims, random_state=seed).fit_transform(centred)
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(reduced)
    if np.bincount(km.labels_, minlength=2).min() < 2:
        return None
    d = np.linalg.norm(reduced[:, None, :] - km.cluster_centers_[None], axis=2)
    scale = float(np.linalg.norm(km.cluster_centers_[0] - km.cluster_centers_[1])) or 1.0
    return (d[:, 0] - d[:, 1]) / scale


def _spectral_split(f: np.ndarray, seed: int) -> np.ndarray | None:
    """Tran et al.'s signed score: the projection on the top singular vector, squared (sign kept)
    over the class's mean squared norm."""
    centred = f - f.mean(0)
    energy = float((centred ** 2).sum(1).mean())
    if energy <= 0:
        return None
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projection = centred @ vt[0]
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
