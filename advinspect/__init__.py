"""advinspect: inspect the adversarial robustness of image classifiers."""

__version__ = "0.1.0"
