"""File → Export report…: the last attack's samples as a report (HTML, PDF, CSV, PNGs), built on
the worker thread by the same core function the CLI uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from advinspect.gui import dialogs

SALIENCY = ("none", "gradcam", "gradient", "smoothgrad", "integrated_gradients", "occlusion")


@dataclass(frozen=True)
class ExportChoice:
    out_dir: Path
    samples: str  # "all" | "flipped" | "selection"
    formats: tuple[str, ...]
    saliency: str | None
    max_cards: int
    paper: str
    open_when_done: bool


def export_job(clf: Any, images: Any, outcome: Any, choice: ExportChoice, selection: list[int], *,
               force: bool, progress: Any, cancel: Any) -> Any:
    """Worker side: results.json + adversarial PNGs, then the report, all into `choice.out_dir`."""
    import torch

    from advinspect.core.data.datasets import ImageItem
    from advinspect.core.report.results import attack_results, write_attack_outputs
    from advinspect.core.tasks import report
    from advinspect.core.tasks.attack import completed_only
    from advinspect.pdf import write_pdf

    outcome = completed_only(outcome)  # as the CLI writes a cancelled run: no row for an image never attacked
    result = outcome.attack
    indices = [int(i) for i in outcome.images.index]
    items = [ImageItem(Path(images.paths[i]), images.names[i], int(images.labels[i]) if images.labels[i] >= 0
                       else None) for i in indices]
    x = torch.as_tensor(images.x[indices])
    gui_parameters = {"attack": result.attack, "params": result.params, "seed": result.seed,
                      "images": len(indices), "source": "advinspect GUI"}
    results = attack_results(result, items, clf, x=x, gui_parameters=gui_parameters)
    out = choice.out_dir
    write_attack_outputs(out, result, items, clf, results=results, x=x, saliency=choice.saliency, seed=result.seed)
    chosen = ()
    if choice.samples == "selection":
        chosen = tuple(images.names[i] for i in selection if i in set(indices))
    config = report.Config(formats=choice.formats, flipped_only=choice.samples == "flipped",
                           max_cards=choice.max_cards, paper=choice.paper, force=force, select=chosen)
    return report.run(report.Inputs(results, out, base_dir=out, pdf_writer=write_pdf if "pdf" in choice.formats
                                    else None), config, progress=progress, cancel=cancel)


class ExportDialog(QDialog):
    """Which samples, which formats, where."""

    def __init__(self, parent: QWidget | None, default_dir: str, has_selection: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export report")
        form = QFormLayout(self)
        self.samples = QComboBox()
        self.samples.addItem("all attacked samples", "all")
        self.samples.addItem("flipped only", "flipped")
        if has_selection:
            self.samples.addItem("selected images", "selection")
        form.addRow("samples", self.samples)
        self.html = QCheckBox("HTML (one self-contained file)")
        self.html.setChecked(True)
        self.pdf = QCheckBox("PDF")
        self.pdf.setChecked(True)
        form.addRow("formats", self.html)
        form.addRow("", self.pdf)
        self.saliency = QComboBox()
        self.saliency.addItems(SALIENCY)
        self.saliency.setToolTip("saliency maps on each card (computed for the original and the adversarial)")
        form.addRow("saliency", self.saliency)
        self.max_cards = QSpinBox()
        self.max_cards.setRange(1, 100_000)
        self.max_cards.setValue(100)
        self.max_cards.setToolTip("at most this many cards; every sample is in samples.csv")
        form.addRow("max cards", self.max_cards)
        self.paper = QComboBox()
        self.paper.addItems(("a4", "letter"))
        form.addRow("PDF paper", self.paper)
        row = QHBoxLayout()
        self.folder = QLineEdit(default_dir)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("folder", row)
        self.open_when_done = QCheckBox("open the report when done")
        self.open_when_done.setChecked(True)
        form.addRow("", self.open_when_done)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Report folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def choice(self) -> ExportChoice:
        formats = tuple(f for f, box in (("html", self.html), ("pdf", self.pdf)) if box.isChecked())
        saliency = self.saliency.currentText()
        return ExportChoice(Path(self.folder.text()).expanduser(), self.samples.currentData(), formats or ("html",),
                            None if saliency == "none" else saliency, self.max_cards.value(),
                            self.paper.currentText(), self.open_when_done.isChecked())


def ask_export_choice(parent: QWidget | None, default_dir: str, has_selection: bool) -> ExportChoice | None:
    """The dialog; tests replace this function."""
    dialog = ExportDialog(parent, default_dir, has_selection)
    return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None


def export_report(session: Any, parent: QWidget | None, default_dir: str | None = None,
                  remember: Callable[[str], None] | None = None) -> Any:
    """Ask, then build the report on the worker; returns the job (None when there is nothing to do)."""
    outcome = getattr(session, "last_attack", None)
    if outcome is None or session.images is None:
        dialogs.inform(parent, "Export report", "Run an attack first: the report shows its samples.")
        return None
    folder = default_dir or str(Path.home() / "advinspect-report")
    selection = list(session.selection)
    choice = ask_export_choice(parent, folder, bool(set(selection) & set(outcome.images.index.tolist())))
    if choice is None:
        return None
    if remember is not None:
        remember(str(choice.out_dir))
    force = False
    existing = [choice.out_dir / f"report.{f}" for f in choice.formats if (choice.out_dir / f"report.{f}").exists()]
    if existing:
        if not dialogs.confirm(parent, "Export report", f"{existing[0]} exists. Overwrite the report?"):
            return None
        force = True
    clf, images = session.clf, session.images

    def job(progress, cancel):
        return export_job(clf, images, outcome, choice, selection, force=force, progress=progress, cancel=cancel)

    def done(result: Any) -> None:
        for line in result.summary_text():  # what `advinspect report` prints
            session.log("info", line)
        if choice.open_when_done and not dialogs.headless() and not result.cancelled:
            open_report(session, parent, result.out / ("report.html" if "html" in choice.formats else "report.pdf"))

    return session.run_job("Export report", job, done, error_title="Cannot write the report")


def open_report(session: Any, parent: QWidget | None, target: Path) -> bool:
    """Open a written report in the browser; where none opens it, say where it is."""
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(target))):
        return True
    session.log("warning", f"Could not open the report; it is at {target}")
    dialogs.inform(parent, "Report written", f"Could not open the report; it is at {target}")
    return False


def export_runs_report(session: Any, parent: QWidget | None, folder: str | Path, runs: list[Any], *,
                       open_when_done: bool = True) -> Any:
    """The report of `runs` (the Runs dock's selection, else every run) into `folder`/report.html,
    with runs.json beside it; built on the worker. Returns the job (None when there is no run)."""
    from advinspect.core.report.jsonio import write_json
    from advinspect.core.run_report import write_runs_report

    if not runs:
        dialogs.inform(parent, "Export runs report", "There is no run yet: attack, evaluate, defend … first.")
        return None
    folder = Path(folder)
    images = session.images
    names = list(images.names) if images is not None else []
    fingerprint = session.images_fingerprint()
    x = images.x if images is not None else None
    value_range, sources = session.value_range, list(session.sources)
    title = f"advinspect: {len(runs)} run(s) on {session.model_name()}"

    def job(progress, cancel) -> Path:
        progress(0, len(runs), "writing the report")
        same = [r for r in runs if r.images == fingerprint]  # only these index the images shown now
        path = write_runs_report(folder / "report.html", runs, names=names if len(same) == len(runs) else (),
                                 x=x if len(same) == len(runs) else None, value_range=value_range, sources=sources,
                                 title=title)
        write_json(folder / "runs.json", {"runs": [r.meta() for r in runs], "sources": sources})
        return path

    def done(path: Path) -> None:
        session.log("info", f"runs report written to {path}")
        if open_when_done and not dialogs.headless():
            open_report(session, parent, path)

    return session.run_job("Export runs report", job, done, error_title="Cannot write the runs report")
