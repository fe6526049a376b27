"""core.status: the one rule for flipped / misclassified / held / not attacked."""

from __future__ import annotations

import pytest

from advinspect.core.status import row_status, sample_status


@pytest.mark.parametrize("success, targeted, correct, known, attacked, expected", [
    (True, False, True, True, True, "flipped"),
    (True, False, False, True, True, "misclassified"),  # wrong before the attack: not the attack's doing
    (False, False, False, True, True, "misclassified"),
    (False, False, True, True, True, "held"),
    (True, True, False, True, True, "flipped"),  # a target hit counts whatever the clean answer was
    (True, False, False, False, True, "flipped"),  # labels unknown: success means the answer changed
    (True, False, True, True, False, "not attacked"),
])
def test_sample_status(success, targeted, correct, known, attacked, expected):
    assert sample_status(success=success, targeted=targeted, clean_correct=correct, labels_known=known,
                         attacked=attacked) == expected


def test_row_status_matches_and_prefers_a_written_status():
    row = {"label": "8", "clean_pred": "8", "target": None, "success": True}
    assert row_status(row) == "flipped"
    assert row_status({**row, "clean_pred": "3"}) == "misclassified"
    assert row_status({**row, "label": None, "clean_pred": "3"}) == "flipped"
    assert row_status({**row, "status": "held"}) == "held"
    assert row_status({**row, "status": "bogus"}) == "flipped"  # an unknown word is recomputed, not trusted
