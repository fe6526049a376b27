"""Membership inference attacks; each returns one float64 score per challenge image, members
positive, higher = more likely a member (see `scores.CONVENTION`).

- threshold (Yeom et al. 2018): the target's own logit-scaled confidence.
- offline LiRA (Carlini et al. 2022): per image, a Gaussian fitted to the scores of the reference
  models that did *not* train on it; the score is how far above that OUT distribution the target's
  score lies, (s − μ_out) / σ, with one global σ (the paper's fixed variance, stable at small k).
- offline RMIA (Zarifzadeh et al. 2024): the target's probability of the label over its
  population prior estimated from the OUT reference models (see `rmia_offline`).
- shadow (Shokri et al. 2017, as ART's black-box attack): the reference models double as shadow
  models with known in/out halves; a classifier learns member vs non-member from their outputs
  and is applied to the target's outputs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np

from advinspect.core.errors import AdvInspectError
from advinspect.core.privacy.scores import logit_confidence

MIN_PER_CLASS = 10


def check_sets(members: Any, non_members: Any) -> None:
    """One line for each kind of bad input, before any work: unlabelled sets, a members set that
    overlaps the non-members (same file or same pixels; the files are named), fewer than
    MIN_PER_CLASS images of a class in either set."""
    for name, images in (("members", members), ("non-members", non_members)):
        if not len(images):
            raise AdvInspectError(f"membership: the {name} set is empty")
        if not images.has_labels:
            raise AdvInspectError(f"membership: the {name} set needs labels (a folder of class folders)")
    seen = {}
    for i in range(len(non_members)):
        seen[_fingerprint(non_members, i)] = non_members.names[i]
        if non_members.paths:
            seen[("path", non_members.paths[i])] = non_members.names[i]
    overlap = []
    for i in range(len(members)):
        keys = [_fingerprint(members, i)] + ([("path", members.paths[i])] if members.paths else [])
        hit = next((seen[k] for k in keys if k in seen), None)
        if hit is not None:
            overlap.append(f"{_where(members, i)} = {hit}")
    if overlap:
        more = f" and {len(overlap) - 5} more" if len(overlap) > 5 else ""
        raise AdvInspectError(f"membership: {len(overlap)} member image(s) are also in the non-members set: "
                              f"{'; '.join(overlap[:5])}{more}")
    for name, images in (("members", members), ("non-members", non_members)):
        few = sorted((int(c), n) for c, n in Counter(images.labels.tolist()).items() if n < MIN_PER_CLASS)
        if few:
            text = ", ".join(f"class {c}: {n}" for c, n in few)
            raise AdvInspectError(f"membership: the {name} set has fewer than {MIN_PER_CLASS} images of a class "
                                  f"({text})")


def _fingerprint(images: Any, i: int) -> tuple[str, str]:
    x = images.x[i]
    pixels = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return ("pixels", hashlib.sha1(np.ascontiguousarray(pixels, dtype=np.float32).tobytes()).hexdigest())


def _where(images: Any, i: int) -> str:
    return images.paths[i] if images.paths else images.names[i]


def balanced(members: Any, non_members: Any, seed: int) -> tuple[Any, Any]:
    """Both sets cut to the smaller one's size by a seeded random choice (order kept)."""
    n = min(len(members), len(non_members))
    rng = np.random.default_rng(seed)

    def cut(images: Any) -> Any:
        return images if len(images) == n else images.subset(np.sort(rng.choice(len(images), n, replace=False)))

    return cut(members), cut(non_members)


def lira_offline(target_scores: np.ndarray, reference_scores: np.ndarray, out_mask: np.ndarray) -> np.ndarray:
    """(s − μ_out) / σ per image. reference_scores, out_mask: (k, n); an image with no OUT model
    takes the mean over all OUT scores."""
    out = np.where(out_mask, reference_scores, np.nan)
    counts = out_mask.sum(0)
    overall = np.nanmean(out) if out_mask.any() else 0.0
    mu = np.where(counts > 0, np.nanmean(np.where(counts > 0, out, 0.0), axis=0), overall)
    residual = np.where(out_mask, reference_scores - mu, np.nan)
    sigma = float(np.nanstd(residual)) if out_mask.sum() > 1 else 1.0
    return (np.asarray(target_scores, dtype=np.float64) - mu) / max(sigma, 1e-12)


RMIA_A = 0.3  # offline RMIA: Pr_IN(x) ~ a·Pr_OUT(x) + (1 − a), the paper's linear approximation


def rmia_offline(target_p: np.ndarray, reference_p: np.ndarray, out_mask: np.ndarray) -> np.ndarray:
    """Offline RMIA (Zarifzadeh et al. 2024): log of Pr(x|θ) / Pr(x), Pr(x) = ½((1 + a)·Pr_OUT(x) + (1 − a))
    with Pr_OUT the mean probability of the true label over the reference models that did not train
    on x. RMIA's score is the fraction of population samples z with this ratio above z's (times γ):
    an increasing function of the ratio for a fixed population, so the ROC, AUC and TPRs are those
    of the ratio, which is returned (its log, for plots)."""
    counts = out_mask.sum(0)
    overall = reference_p[out_mask].mean() if out_mask.any() else 0.5
    mean_out = np.where(counts > 0, np.where(out_mask, reference_p, 0.0).sum(0) / np.maximum(counts, 1), overall)
    prior = 0.5 * ((1 + RMIA_A) * mean_out + (1 - RMIA_A))
    return np.log(np.maximum(target_p, 1e-300)) - np.log(prior)


def shadow_features(logits: Any, labels: np.ndarray, classes: int) -> np.ndarray:
    """What the attack model sees of one output: the score, log p_y, the top-3 log-probabilities,
    the entropy, and the label one-hot (ART feeds probabilities and labels)."""
    z = np.asarray(logits.detach().cpu().double().numpy() if hasattr(logits, "detach") else logits, np.float64)
    log_p = z - z.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    rows = np.arange(len(z))
    top = -np.sort(-log_p, axis=1)[:, :3]
    entropy = -(np.exp(log_p) * log_p).sum(1)
    onehot = np.eye(classes)[labels]
    return np.column_stack([logit_confidence(z, labels), log_p[rows, labels], np.maximum(top, -50), entropy, onehot])


def shadow_attack(shadow_features_in: np.ndarray, shadow_features_out: np.ndarray, target_features: np.ndarray,
                  seed: int) -> np.ndarray:
    """Train member-vs-not on the shadows' (balanced) in/out features; P(member) of each target row."""
    from sklearn.ensemble import GradientBoostingClassifier  # single-threaded: no OpenMP contention

    n = min(len(shadow_features_in), len(shadow_features_out))
    if n < 2:
        raise AdvInspectError("the shadow attack needs shadow models with both in and out images")
    rng = np.random.default_rng(seed)
    features_in = shadow_features_in[rng.choice(len(shadow_features_in), n, replace=False)]
    features_out = shadow_features_out[rng.choice(len(shadow_features_out), n, replace=False)]
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, subsample=0.8, random_state=seed)
    model.fit(np.vstack([features_in, features_out]), np.r_[np.ones(n), np.zeros(n)])
    return model.predict_proba(target_features)[:, 1].astype(np.float64)
