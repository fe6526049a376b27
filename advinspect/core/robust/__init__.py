"""Robust models as tools: image synthesis with a robust classifier (Santurkar et al. 2019),
representation inversion, and the Wasserstein DRO certificate (Sinha et al. 2018)."""
