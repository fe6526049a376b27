"""`advinspect attack` end to end on real files."""

from __future__ import annotations

import json

import pytest

from advinspect.cli import main
from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES
from tests.cli.conftest import small_set_at


def test_attack_writes_results_and_pngs(tmp_path):
    images = tmp_path / "images"
    for label in ("3", "7"):
        (images / label).mkdir(parents=True)
        for png in sorted((DEMO_SAMPLES / label).glob("*.png"))[:3]:
            (images / label / png.name).write_bytes(png.read_bytes())
    out = tmp_path / "run"
    code = main(["attack", str(DEMO_MODEL), str(images), "--attack", "pgd", "--eps", "8/255", "--steps", "5",
                 "--seed", "3", "--out", str(out), "--device", "cpu"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    assert summary["n"] == 6 and summary["params"]["eps"] == pytest.approx(8 / 255) and summary["seed"] == 3
    for key in ("clean_accuracy", "robust_accuracy", "success_rate", "median_linf", "median_l2", "mean_queries",
                "seconds", "device", "n_clean_correct"):
        assert key in summary
    sample = results["samples"][0]
    for key in ("file", "label", "target", "clean_pred", "adv_pred", "clean_confidence", "adv_confidence",
                "success", "linf", "l2", "l0", "iterations", "queries", "success_after_quantization"):
        assert key in sample
    assert sample["linf"] <= 8 / 255 + 1e-5
    assert (out / "adversarial" / "3" / sample["file"].split("/")[1]).exists()
    assert len(list((out / "adversarial").rglob("*.png"))) == 6
    # refuses to overwrite without --force
    again = ["attack", str(DEMO_MODEL), str(images), "--attack", "fgsm", "--out", str(out)]
    assert main(again) == 1
    assert main([*again, "--force"]) == 0


def test_attack_targeted_by_name(tmp_path):
    out = tmp_path / "t"
    files = [str(p) for p in sorted((DEMO_SAMPLES / "1").glob("*.png"))[:4]]
    assert main(["attack", str(DEMO_MODEL), *files, "--attack", "bim", "--eps", "0.3", "--steps", "20",
                 "--target", "8", "--out", str(out)]) == 0
    samples = json.loads((out / "results.json").read_text())["samples"]
    assert all(s["target"] == "8" for s in samples)
    assert sum(s["adv_pred"] == "8" for s in samples) >= 3


@pytest.mark.parametrize("argv, message", [
    (["info", "/nonexistent/model.pt2"], "not found"),
    (["attack", str(DEMO_MODEL), str(DEMO_SAMPLES), "--attack", "nope", "--out", "x"], "unknown attack"),
    (["attack", str(DEMO_MODEL), str(DEMO_SAMPLES), "--attack", "pgd", "--eps", "abc", "--out", "x"], "not a number"),
    (["predict", str(DEMO_MODEL), "/nonexistent/dir"], "no such file"),
    (["info", str(DEMO_MODEL), "--input-shape", "3,32,32"], "does not accept input"),
])
def test_errors_are_one_readable_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("advinspect: error:") and message in err and "\n" not in err


def test_help_everywhere(capsys):
    for command in ([], ["info"], ["predict"], ["attack"], ["gui"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
    assert "--top-k" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_writes_the_completed_rows_marked_cancelled(tmp_path):
    """The first SIGINT cancels: the samples attacked so far are written, marked cancelled, exit 130."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    images = small_set_at(tmp_path / "set", 4)  # 40 images, 10 batches of 4
    out = tmp_path / "run"
    env = {**os.environ, "ADVINSPECT_PROGRESS": "lines"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "advinspect", "attack", str(DEMO_MODEL), str(images), "--attack", "pgd",
         "--eps", "0.002", "--steps", "100", "--batch-size", "4", "--device", "cpu", "--out", str(out)],
        stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()
    lines = []
    try:
        for line in proc.stderr:  # wait until two batches are done, then press Ctrl-C once
            lines.append(line)
            if line.startswith("pgd: "):
                done, total = (int(v) for v in line.split()[1].split("/"))
                if done >= total // 5:
                    proc.send_signal(signal.SIGINT)
                    break
        rest = proc.stderr.read()
        code = proc.wait()
    finally:
        watchdog.cancel()
    assert code == 130, "".join(lines) + rest
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["cancelled"] is True
    samples = results["samples"]
    assert 0 < len(samples) < 40
    assert len(samples) % 4 == 0  # whole batches only: no row for an image that was not attacked
    assert all(s["status"] in ("flipped", "held", "misclassified") for s in samples)
    assert len(list((out / "adversarial").rglob("*.png"))) == len(samples)
    assert "cancelling" in rest


def test_an_internal_error_exits_3_with_one_line(monkeypatch, capsys):
    from advinspect.core.tasks import open as open_task

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(open_task, "run", broken)
    assert main(["info", str(DEMO_MODEL)]) == 3
    err = capsys.readouterr().err
    assert err == "advinspect: internal error: ZeroDivisionError: a bug (run with --debug for the traceback)\n"
    assert main(["info", str(DEMO_MODEL), "--debug"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("ZeroDivisionError: a bug")


def test_flags_come_from_the_configs(capsys):
    """Every param() field of the verb's Config is a flag with its help text."""
    from advinspect.core.params import config_fields
    from advinspect.core.tasks import attack, open

    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for config in (attack.Config, open.Config):
        for f in config_fields(config):
            flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
            assert flag in text
            assert " ".join(f.metadata["help"].split())[:30] in text
