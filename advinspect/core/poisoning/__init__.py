"""Data poisoning and backdoors: triggers, poisoned training sets, the C-Acc / ASR / RA metrics,
and the poisoned set on disk with its manifest.

Everything is channels-first (N, C, H, W) in the model's pixel space, as the rest of core.
"""
