"""`advinspect scan` end to end on the poisoned tiny model (`poisoned_out`, conftest.py): each
class's anomaly index and reversed trigger image."""

from __future__ import annotations

import json

from advinspect.cli import main


def test_scan_writes_anomaly_indices_and_triggers(poisoned_out, tmp_path):
    out, test = poisoned_out
    code = main(["scan", str(out / "poisoned_model.pt2"), str(test), "--steps", "10", "--max-images", "12",
                 "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "scan.json").read_text())
    assert len(data["summary"]["anomaly_index"]) == 3 and isinstance(data["summary"]["flagged"], list)
    assert [f for f in data["trigger_files"]] == [f"triggers/class_{k:03d}.png" for k in range(3)]
    assert all((tmp_path / f).is_file() for f in data["trigger_files"])
