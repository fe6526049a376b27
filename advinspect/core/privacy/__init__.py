"""Exploratory (privacy) attacks: what a model gives away about its training data and itself.

- `scores`: the membership score (logit-scaled confidence, float64) and ROC metrics at low FPR
  with bootstrap confidence intervals. Convention, everywhere: members are the positive class
  and a higher score means "more likely a member".
- `nets`: small thief / reference architectures, and building a fresh copy of a target's own.
- `reference`: reference (shadow) models trained on random halves of a population, cached.
- `membership`: threshold (Yeom et al. 2018), offline LiRA (Carlini et al. 2022), shadow-model
  attack (Shokri et al. 2017).
- `extraction`: querying a victim (random or Knockoff-style adaptive), training a thief,
  fidelity per budget, transfer attack.
- `inversion`: MIFace (Fredrikson et al. 2015) with a stopping rule that stops.
"""
