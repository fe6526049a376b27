"""`advinspect certify` end to end on real files."""

from __future__ import annotations

import json

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL


def test_certify(small_set, tmp_path):
    assert main(["certify", str(DEMO_MODEL), str(small_set), "--n0", "20", "--n", "100", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "certification.json").read_text())
    assert len(data["radii"]) == 20 and data["sigma"] == 0.25
    assert sum(r > 0 for r in data["radii"]) >= 10
