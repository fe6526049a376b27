"""Reusable widgets: the parameter form generated from a dataclass, image helpers."""
