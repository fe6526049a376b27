"""File → Export report…: the last attack becomes a report, built on the worker."""

from __future__ import annotations

from html.parser import HTMLParser

from advinspect.gui import export
from advinspect.gui.export import ExportChoice
from advinspect.gui.main_window import MainWindow
from tests.gui.conftest import ATTACK_TIMEOUT_MS, run_attack


class _Cards(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cards = 0

    def handle_starttag(self, tag, attrs):
        if "card" in (dict(attrs).get("class") or "").split():
            self.cards += 1


def _choose(monkeypatch, choice: ExportChoice) -> None:
    monkeypatch.setattr(export, "ask_export_choice", lambda parent, folder, has_selection: choice)


def test_export_report_of_the_last_attack(qtbot, window: MainWindow, tmp_path, monkeypatch, dialog_log) -> None:
    run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0, 1, 2, 3])
    choice = ExportChoice(tmp_path / "report", "all", ("html", "pdf"), None, 100, "a4", False)
    _choose(monkeypatch, choice)
    with qtbot.waitSignal(window.session.runner.job_finished, timeout=ATTACK_TIMEOUT_MS):
        assert export.export_report(window.session, window) is not None
    html = (tmp_path / "report" / "report.html").read_text()
    parser = _Cards()
    parser.feed(html)
    assert parser.cards == 4
    assert (tmp_path / "report" / "report.pdf").stat().st_size > 1000
    assert (tmp_path / "report" / "results.json").exists()
    assert "advinspect GUI" in html and not dialog_log.errors
    # the Log says what `advinspect report` prints
    assert any(f"wrote report.html, report.pdf (4 cards) in {tmp_path / 'report'}" in line
               for line in window.log_panel.lines)


def test_export_flipped_only_and_overwrite_asks(qtbot, window: MainWindow, tmp_path, monkeypatch, dialog_log) -> None:
    outcome = run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0, 1, 2, 3])
    flipped = outcome.statuses.count("flipped")
    choice = ExportChoice(tmp_path / "r", "flipped", ("html",), None, 100, "a4", False)
    _choose(monkeypatch, choice)
    with qtbot.waitSignal(window.session.runner.job_finished, timeout=ATTACK_TIMEOUT_MS):
        export.export_report(window.session, window)
    parser = _Cards()
    parser.feed((tmp_path / "r" / "report.html").read_text())
    assert parser.cards == flipped
    dialog_log.answer = False  # refuse the overwrite: nothing runs
    assert export.export_report(window.session, window) is None
    assert any("exists" in q for q in dialog_log.questions)


def test_export_without_an_attack_says_so(window: MainWindow, dialog_log) -> None:
    assert export.export_report(window.session, window) is None
    assert any("Run an attack first" in q for q in dialog_log.questions)


def test_export_is_in_the_file_menu_and_remembers_the_folder(qtbot, window: MainWindow, tmp_path, monkeypatch,
                                                              dialog_log) -> None:
    run_attack(qtbot, window, "fgsm", {"eps": "0.2"}, [0, 1])
    choice = ExportChoice(tmp_path / "menu", "all", ("html",), None, 100, "a4", False)
    _choose(monkeypatch, choice)
    assert window.export_action.shortcut().toString() == "Ctrl+E"
    with qtbot.waitSignal(window.session.runner.job_finished, timeout=ATTACK_TIMEOUT_MS):
        window.export_action.trigger()
    assert (tmp_path / "menu" / "report.html").exists()
    assert window.settings.value("export/folder") == str(tmp_path / "menu")
