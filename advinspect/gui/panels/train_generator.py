"""Generator dock: train the small generator (a VAE's decoder, `core.tasks.train_generator`) that
Defense-GAN style purification projects inputs onto, on the worker with progress and cancel, save
it as TorchScript with its sidecar (as `advinspect train-generator` does), and offer it for
`purify:GENERATOR`. The dock does not touch the Defend dock: "Use for purify" emits
`use_for_purify(defense_text)` and the window fills the Defend form with it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QStandardPaths, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import train_generator
from advinspect.gui import dialogs
from advinspect.gui.panels._task_panel import TaskPanel
from advinspect.gui.session import Session
from advinspect.gui.widgets.param_form import ParamForm

DATA = ("demo training digits", "session images")
DEMO_SHAPE = (1, 32, 32)


@dataclass
class Trained:
    """train_generator's Result, where its decoder was saved (None: cancelled, not saved) and a
    few samples G(z) to show."""

    result: train_generator.Result
    path: Path | None
    samples: np.ndarray

    @property
    def cancelled(self) -> bool:
        return self.result.cancelled


def default_path() -> Path:
    """A new file under the application's data folder: a finished run never overwrites another."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".advinspect") / "generators" / f"generator-{time.strftime('%Y%m%d-%H%M%S')}.pt"


def train_and_save(inputs: train_generator.Inputs, config: train_generator.Config, path: Path, progress: Any,
                   cancel: Any) -> Trained:
    """The worker's job: train, then save unless cancelled (a half-trained generator is a poor
    projection; the partial Result is still kept as a run)."""
    from advinspect.core.defenses.purify import save_generator

    result = train_generator.run(inputs, config, progress=progress, cancel=cancel)
    saved = None if result.cancelled else save_generator(result.generator.decoder, result.generator.latent_dim, path)
    return Trained(result, saved, result.samples(16))


class TrainGeneratorPanel(TaskPanel):
    object_name = "TrainGeneratorDock"
    title = "Generator"
    verb = "train_generator"
    run_text = "Train generator"

    use_for_purify = Signal(str)  # the defense text, "purify:PATH"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.trained: Trained | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.form = ParamForm()
        self.form.set_params_type(train_generator.Config)
        layout.addWidget(self.form)
        rows = QFormLayout()
        self.data = QComboBox(objectName="train_generator_data")
        self.data.addItems(list(DATA))
        self.data.setToolTip("the images the generator learns to draw; they must have the model's input shape")
        rows.addRow("data", self.data)
        self.path = QLineEdit(str(default_path()), objectName="train_generator_path")
        self.path.setToolTip("where the generator is saved (TorchScript, with <file>.generator.json beside it)")
        rows.addRow("save as", self.path)
        layout.addLayout(rows)
        self.run_button.setToolTip("train a small VAE on the images; its decoder is the generator purification "
                                   "projects inputs onto (Defense-GAN style)")
        row = self.buttons()
        self.use_button = QPushButton("Use for purify", objectName="train_generator_use")
        self.use_button.setToolTip("put purify:GENERATOR in the Defend dock (choose R and L there, then Apply)")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self.offer)
        row.addWidget(self.use_button)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumHeight(120)
        box = self.view.addViewBox(lockAspect=True, invertY=True)
        self.image = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.image)
        layout.addWidget(self.view, 1)
        self.setWidget(body)

    def prepare_and_start(self) -> None:
        s = self.session
        if s.clf is None:
            raise AdvInspectError("open a model first: the generator is trained at its input shape")
        shape = tuple(s.clf.spec.input_shape)
        if self.data.currentIndex() == 1:
            if s.images is None or len(s.images) < 2:
                raise AdvInspectError("training a generator on the session's images needs at least 2 images")
            inputs = train_generator.Inputs(s.images.x, tuple(s.value_range))
        elif shape != DEMO_SHAPE:
            raise AdvInspectError(f"the demo digits are {DEMO_SHAPE} but the model takes {shape}: train on the "
                                  "session's images")
        else:
            inputs = train_generator.Inputs()
        path = Path(self.path.text().strip()).expanduser()
        if not path.name or path.is_dir():
            raise AdvInspectError("give a file to save the generator to")
        if path.exists() and not dialogs.confirm(self, "Overwrite?", f"{path} exists. Overwrite it?"):
            return
        config = self.form.config()
        self.use_button.setEnabled(False)
        self.image.clear()
        s.log("info", f"train generator: {config}, saved to {path}")
        self.start("train generator", lambda progress, cancel: train_and_save(inputs, config, path, progress, cancel))

    def summary_lines(self, trained: Trained) -> list[str]:
        lines = trained.result.summary_text()
        if trained.path is not None:
            lines.append(f"saved {trained.path}; use it as --defense purify:{trained.path}")
        return lines

    def run_result(self, trained: Trained) -> Any:
        return trained.result

    def on_result(self, trained: Trained) -> None:
        from advinspect.core.report.sections import image_grid

        self.trained = trained
        grid = image_grid(trained.samples, 8)
        self.image.setImage(grid[..., 0] if grid.shape[-1] == 1 else grid, levels=(0.0, 1.0))
        self.use_button.setEnabled(trained.path is not None)
        if trained.path is not None:
            self.path.setText(str(default_path()))  # the next run gets a new file

    def on_cleared(self) -> None:
        self.image.clear()

    def offer(self) -> None:
        if self.trained is not None and self.trained.path is not None:
            self.use_for_purify.emit(f"purify:{self.trained.path}")
