"""The names the poisoning settings offer, apart from the code so that forms and flags are built
without importing torch."""

ATTACKS = ("badnets", "blend", "clean-label", "label-flip")
TRIGGERED = frozenset({"badnets", "blend", "clean-label"})
POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left", "center")
PATTERNS = ("solid", "checker", "noise")
