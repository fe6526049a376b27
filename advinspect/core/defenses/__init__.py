"""Defenses: input transforms (wrapping a Classifier), detection, randomized smoothing, training."""
