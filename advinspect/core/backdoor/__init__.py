"""Backdoor detection: per-sample suspicion scores on a layer's features (activation clustering,
spectral signatures, outlier distances, training loss), detection AUC per layer, and model scans
that need no training data (Neural Cleanse, STRIP)."""
