"""`advinspect membership` end to end on the demo model: its training digits against its test digits."""

from __future__ import annotations

import json
import shutil

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL
from tests.cli.privacy_sets import digit_folders
from tests.core.privacy import fixtures

one_thread = fixtures.one_thread
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digit_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("mia")
    return digit_folders(root / "members", "train", 10), digit_folders(root / "non", "test", 10)


def test_membership_writes_json_and_report(digit_sets, tmp_path, capsys):
    members, non = digit_sets
    code = main(["membership", str(DEMO_MODEL), "--members", str(members), "--non-members", str(non),
                 "--attack", "all", "--reference-models", "2", "--reference-arch", "mlp", "--epochs", "3",
                 "--bootstrap", "20", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    assert code == 0
    data = json.loads((tmp_path / "out" / "membership.json").read_text())
    assert set(data["attacks"]) == {"threshold", "lira", "rmia", "shadow"}
    for metrics in data["attacks"].values():
        assert 0.0 <= metrics["auc"] <= 1.0 and 0.0 <= metrics["tpr_at_0.1%_fpr"] <= metrics["tpr_at_1%_fpr"]
    assert data["summary"]["n_members"] == data["summary"]["n_non_members"] == 100
    assert "members are the positive class" in data["summary"]["convention"]
    assert data["provenance"]["command"].startswith("advinspect membership")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Membership inference" in html and "data:image/png;base64" in html
    out = capsys.readouterr().out
    assert "members positive" in out and "lira: AUC" in out


def test_overlap_is_one_line_naming_the_files(digit_sets, tmp_path, capsys):
    members, non = digit_sets
    leaky = tmp_path / "leaky"
    shutil.copytree(non, leaky)
    one = sorted((members / "3").glob("*.png"))[0]
    shutil.copy(one, leaky / "3" / "copied.png")
    code = main(["membership", str(DEMO_MODEL), "--members", str(members), "--non-members", str(leaky),
                 "--attack", "threshold", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert f"{one}" in err[0] and "copied.png" in err[0]
    assert not (tmp_path / "out" / "membership.json").exists()


def test_help_of_the_privacy_commands(capsys):
    for command, flag in (("membership", "--reference-models"), ("extract", "--labels-only"), ("invert", "--tv-weight")):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0 and flag in capsys.readouterr().out


@pytest.mark.slow
def test_the_demo_trains_its_own_target_on_a_known_half(tmp_path, capsys):
    code = main(["membership", "demo", "--target-epochs", "1", "--attack", "threshold", "--bootstrap", "10",
                 "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "membership.json").read_text())
    assert data["summary"]["n_members"] == data["summary"]["n_non_members"] == 898
    members = {r["index"] for r in data["rows"] if r["member"]}
    assert len(members) == 898 and not members & {r["index"] for r in data["rows"] if not r["member"]}


def test_members_and_non_members_are_required_for_a_model_file(tmp_path, capsys):
    assert main(["membership", str(DEMO_MODEL), "--out", str(tmp_path)]) == 1
    assert "membership needs --members DIR and --non-members DIR" in capsys.readouterr().err
