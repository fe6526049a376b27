"""The words for what an attack did to one image, defined once for the GUI, the CLI and reports.

The engine counts an image that was already wrong as a "success" of an untargeted attack; calling
it flipped would overstate the attack, so it gets its own word.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLIPPED = "flipped"  # a right answer changed (untargeted) or the target was hit (targeted)
MISCLASSIFIED = "misclassified"  # wrong before any attack (untargeted, label known)
HELD = "held"  # the attack did not change the answer
NOT_ATTACKED = "not attacked"  # no attack ran on this image (or a cancel came first)

STATUSES = (FLIPPED, MISCLASSIFIED, HELD, NOT_ATTACKED)


def sample_status(*, success: bool, targeted: bool, clean_correct: bool, labels_known: bool = True,
                  attacked: bool = True) -> str:
    """The status of one image: the one rule every consumer applies."""
    if not attacked:
        return NOT_ATTACKED
    if not targeted and labels_known and not clean_correct:
        return MISCLASSIFIED
    return FLIPPED if success else HELD


def result_statuses(result: Any) -> list[str]:
    """Per-sample status words of an AttackResult (samples a cancel skipped: not attacked)."""
    completed = result.completed if result.completed is not None else np.ones(result.n, dtype=bool)
    correct = result.clean_pred == result.labels
    targeted = result.target is not None
    return [sample_status(success=bool(result.success[i]), targeted=targeted, clean_correct=bool(correct[i]),
                          labels_known=bool(result.labels_known), attacked=bool(completed[i]))
            for i in range(result.n)]


def row_status(row: dict[str, Any]) -> str:
    """The status of a results.json row (label, target, clean_pred, success as written there)."""
    if row.get("status") in STATUSES:
        return str(row["status"])
    label = row.get("label")
    return sample_status(success=bool(row.get("success")), targeted=row.get("target") is not None,
                         clean_correct=label is None or row.get("clean_pred") == label,
                         labels_known=label is not None, attacked=row.get("attacked", True) is not False)
