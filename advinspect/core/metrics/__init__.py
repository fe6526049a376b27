"""Metrics: perturbation norms and image quality, calibration, robustness curves."""
