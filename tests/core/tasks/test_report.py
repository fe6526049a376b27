"""core.tasks.report: a cancelled report writes nothing and says so."""

from __future__ import annotations

import json

from advinspect.core.jobs import CancelToken
from advinspect.core.tasks import report
from advinspect.core.tasks.base import make_config


def _results(tmp_path):
    return {"kind": "attack", "summary": {"attack": "fgsm", "n": 0, "params": {}}, "samples": [],
            "provenance": {}}


def test_html_report_and_cancel(tmp_path):
    out = tmp_path / "rep"
    config = make_config(report.Config, {"formats": "html"})
    result = report.run(report.Inputs(_results(tmp_path), out), config)
    assert not result.cancelled and (out / "report.html").is_file()
    assert json.loads((out / "results.json").read_text())["summary"]["attack"] == "fgsm"
    assert result.summary_text()[0].startswith("wrote report.html (0 cards)")
    token = CancelToken()
    token.cancel()
    again = report.run(report.Inputs(_results(tmp_path), tmp_path / "other"), config, cancel=token)
    assert again.cancelled and again.report is None and not (tmp_path / "other" / "report.html").exists()
    assert again.summary_text() == ["report cancelled; nothing was written"]


def test_formats_are_checked_by_the_config():
    import pytest

    from advinspect.core.errors import AdvInspectError

    with pytest.raises(AdvInspectError, match="formats must be one of html, pdf"):
        make_config(report.Config, {"formats": "html,docx"})
