"""The main window: menus, docks, status bar, settings; wires the panels to one Session."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QScrollArea,
    QWidget,
)

from advinspect import __version__
from advinspect.gui import dialogs
from advinspect.gui.dialogs import MODEL_FILTER, MODEL_SUFFIXES
from advinspect.gui.panels.attack import AttackPanel
from advinspect.gui.panels.certify import CertifyPanel
from advinspect.gui.panels.compare import ComparePanel
from advinspect.gui.panels.confidence import ConfidencePanel
from advinspect.gui.panels.defend import DefendPanel
from advinspect.gui.panels.detect import DetectPanel
from advinspect.gui.panels.evaluate import EvaluatePanel
from advinspect.gui.panels.evaluate_plots import CalibrationPanel, HistogramsPanel, RobustnessPanel
from advinspect.gui.panels.images import ImagesPanel
from advinspect.gui.panels.inspector import InspectorView
from advinspect.gui.panels.log import LogPanel
from advinspect.gui.panels.model import ModelPanel
from advinspect.gui.panels.poison import PoisonPanel
from advinspect.gui.panels.privacy import PrivacyPanel
from advinspect.gui.panels.runs import RunsPanel
from advinspect.gui.panels.saliency import SaliencyPanel
from advinspect.gui.panels.scan import ScanPanel
from advinspect.gui.panels.synthesize import SynthesizePanel
from advinspect.gui.panels.train import TrainPanel
from advinspect.gui.panels.train_generator import TrainGeneratorPanel
from advinspect.gui.session import Session
from advinspect.gui.settings import (
    add_recent,
    dropped_keys,
    get_bytes,
    get_json,
    make_settings,
    recent,
    set_bytes,
    set_json,
    text,
)
from advinspect.gui.theme import THEMES, apply_theme

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif);;All files (*)"
STATE_VERSION = 1
MAX_DOCK_MIN_HEIGHT = 220  # docks share a screen column: a taller form scrolls
MAX_DOCK_MIN_WIDTH = 320
LEFT_DOCK_MIN_WIDTH = 240
RIGHT_DOCK_MIN_WIDTH = 300

SHORTCUTS = """\
Ctrl+O        open a model
Ctrl+I        open images
Ctrl+Shift+I  open an image folder
Ctrl+D        open the demo (digits CNN and test images)
Ctrl+R        run the attack on the selected images
Esc           cancel the running job and every queued one
Ctrl+A        select all shown images (in the Images dock)
Ctrl+Q        quit
Mouse         wheel zooms, drag pans; the three views move together
"""


class MainWindow(QMainWindow):
    """One window per session. `confirm_close=False` skips the 'quit while running?' question."""

    screenshot_saved = Signal(str)
    closed = Signal()

    def __init__(self, settings: QSettings | None = None, *, device: str = "auto",
                 confirm_close: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setWindowTitle("advinspect")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else make_settings()
        self.confirm_close = confirm_close
        self.errors: list[tuple[str, str]] = []  # every error shown, for tests and the log
        self.session = Session(device, self)
        self.inspector = InspectorView(self.session)
        self.setCentralWidget(self.inspector)
        self.model_panel = ModelPanel(self.session, self)
        self.images_panel = ImagesPanel(self.session, self)
        self.attack_panel = AttackPanel(self.session, self)
        self.confidence_panel = ConfidencePanel(self.session, self)
        self.log_panel = LogPanel(self.session, self)
        self.saliency_panel = SaliencyPanel(self.session, self)
        self.evaluate_panel = EvaluatePanel(self.session, self)
        self.robustness_panel = RobustnessPanel(self.session, self)
        self.histograms_panel = HistogramsPanel(self.session, self)
        self.calibration_panel = CalibrationPanel(self.session, self)
        self.defend_panel = DefendPanel(self.session, self)
        self.detect_panel = DetectPanel(self.session, self)
        self.certify_panel = CertifyPanel(self.session, self)
        self.compare_panel = ComparePanel(self.session, self)
        self.train_panel = TrainPanel(self.session, self)
        self.train_generator_panel = TrainGeneratorPanel(self.session, self)
        self.train_generator_panel.use_for_purify.connect(self._offer_generator)
        self.synthesize_panel = SynthesizePanel(self.session, self)
        self.privacy_panel = PrivacyPanel(self.session, self)
        self.poison_panel = PoisonPanel(self.session, self)
        self.scan_panel = ScanPanel(self.session, self)
        self.runs_panel = RunsPanel(self.session, self)
        for panel in (self.attack_panel, self.evaluate_panel, self.compare_panel):
            panel.visible_indices = self.images_panel.visible_indices
        self.panels = [self.model_panel, self.images_panel, self.attack_panel, self.confidence_panel,
                       self.log_panel, self.saliency_panel, self.evaluate_panel, self.robustness_panel,
                       self.histograms_panel, self.calibration_panel, self.defend_panel, self.detect_panel,
                       self.certify_panel, self.compare_panel, self.train_panel, self.train_generator_panel,
                       self.synthesize_panel, self.privacy_panel, self.poison_panel, self.scan_panel, self.runs_panel]
        self._arrange_docks()
        self._make_actions()
        self._make_menus()
        self._make_status_bar()
        self.model_panel.add_actions(self.open_model_action, self.recent_models_menu)
        self._connect_session()
        self.default_state = self.saveState(STATE_VERSION)
        self._restored_state = False
        self.theme = "light"
        self._closed = False
        self._restore_settings()

    # --- layout ----------------------------------------------------------------------------
    def _fit_docks(self) -> None:
        """A dock whose form is taller or wider than a small screen scrolls instead of pushing the
        window past it (the first window must fit 1280×800 with the Run button on screen)."""
        for panel in self.panels:
            body = panel.widget()
            if body is None or isinstance(body, QScrollArea):
                continue
            hint = body.minimumSizeHint()
            if hint.height() > MAX_DOCK_MIN_HEIGHT or hint.width() > MAX_DOCK_MIN_WIDTH:
                scroll = QScrollArea()
                scroll.setObjectName(f"{panel.objectName()}_scroll")
                scroll.setWidgetResizable(True)
                scroll.setFrameShape(QScrollArea.Shape.NoFrame)
                panel.setWidget(scroll)
                scroll.setWidget(body)

    def _arrange_docks(self) -> None:
        self._fit_docks()
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self.addDockWidget(left, self.images_panel)
        self.addDockWidget(left, self.model_panel)
        self.splitDockWidget(self.images_panel, self.model_panel, Qt.Orientation.Vertical)
        self.addDockWidget(right, self.attack_panel)
        self.addDockWidget(right, self.confidence_panel)
        self.splitDockWidget(self.attack_panel, self.confidence_panel, Qt.Orientation.Vertical)
        self.addDockWidget(bottom, self.log_panel)
        # New docks share the areas as tabs: evaluation and defenses beside the attack, saliency
        # beside the model, result plots beside the log. (The confidence dock stays untabbed:
        # Qt's tabifyDockWidget cannot move a dock that already sits in a tab group.)
        self.tabifyDockWidget(self.attack_panel, self.evaluate_panel)
        previous = self.evaluate_panel
        for panel in (self.defend_panel, self.detect_panel, self.certify_panel, self.compare_panel,
                      self.train_panel, self.train_generator_panel, self.synthesize_panel, self.privacy_panel,
                      self.poison_panel, self.scan_panel):
            self.tabifyDockWidget(previous, panel)
            previous = panel
        self.tabifyDockWidget(self.model_panel, self.saliency_panel)
        self.tabifyDockWidget(self.log_panel, self.robustness_panel)
        self.tabifyDockWidget(self.robustness_panel, self.histograms_panel)
        self.tabifyDockWidget(self.histograms_panel, self.calibration_panel)
        self.tabifyDockWidget(self.calibration_panel, self.runs_panel)  # wide: list | details and curves
        for panel in (self.attack_panel, self.model_panel, self.log_panel):
            panel.raise_()
        QTimer.singleShot(0, self._readable_tabs)
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        width, height = first_size(self.screen().availableGeometry() if self.screen() is not None else None)
        self.resize(width, height)
        for panel in self.panels:  # forms scroll (_fit_docks); a floor keeps their labels readable
            area = self.dockWidgetArea(panel)
            if area in (left, right):
                panel.setMinimumWidth(RIGHT_DOCK_MIN_WIDTH if area == right else LEFT_DOCK_MIN_WIDTH)
        self._size_docks()
        self._sized_on_show = False

    def _offer_generator(self, defense: str) -> None:
        """A trained generator goes to the Defend dock's form (R and L are chosen there)."""
        self.defend_panel.set_defense(defense)
        self.defend_panel.show()
        self.defend_panel.raise_()

    def _size_docks(self) -> None:
        """Dock sizes for the window's size: a quarter of the width each side, the centre the rest."""
        width, height = self.width(), self.height()
        side = max(RIGHT_DOCK_MIN_WIDTH, min(440, width // 4))
        self.resizeDocks([self.images_panel, self.attack_panel], [side - 40, side], Qt.Orientation.Horizontal)
        self.resizeDocks([self.images_panel, self.model_panel], [height * 55 // 100, height * 35 // 100],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.attack_panel, self.confidence_panel], [height * 60 // 100, height * 30 // 100],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.log_panel], [max(160, height * 32 // 100)], Qt.Orientation.Vertical)

    def showEvent(self, event: Any) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._sized_on_show and not self._restored_state:
            self._sized_on_show = True  # docks get their sizes once the window has its real size
            QTimer.singleShot(0, self._size_docks)

    def _readable_tabs(self) -> None:
        """Dock tabs show their whole titles and scroll ("At…/Eval…/Defe…" said nothing)."""
        from PySide6.QtWidgets import QTabBar

        for bar in self.findChildren(QTabBar):
            bar.setElideMode(Qt.TextElideMode.ElideNone)
            bar.setUsesScrollButtons(True)

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(tip or text)
        action.setStatusTip(tip or text)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def export_report(self) -> None:
        from advinspect.gui.export import export_report

        last = text(self.settings, "export/folder") or None
        export_report(self.session, self, last,
                      remember=lambda folder: self.settings.setValue("export/folder", folder))

    def export_runs_report(self, folder: str | None = None, open_when_done: bool = True) -> Any:
        """The report of the runs selected in the Runs dock (all runs when none is selected)."""
        from advinspect.gui.export import export_runs_report

        runs = self.runs_panel.selected_runs() or list(self.session.runs)
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Write the runs report into folder",
                                                      text(self.settings, "export/folder") or self._last_dir())
            if not folder:
                return None
        return export_runs_report(self.session, self, folder, runs, open_when_done=open_when_done)

    def _make_actions(self) -> None:
        self.open_model_action = self._action("Open &Model…", self.ask_open_model, QKeySequence.StandardKey.Open,
                                              "open a PyTorch (.pt, .pt2, TorchScript) or ONNX model")
        self.open_images_action = self._action("Open &Images…", self.ask_open_images, "Ctrl+I",
                                               "open image files")
        self.open_folder_action = self._action("Open Image &Folder…", self.ask_open_folder, "Ctrl+Shift+I",
                                               "open a folder (subfolders named after classes give labels)")
        self.open_demo_action = self._action("Open &Demo", self.session.open_demo, "Ctrl+D",
                                             "the digits CNN and its labelled test images")
        self.export_action = self._action("&Export Report…", self.export_report, "Ctrl+E",
                                          "the last attack's samples as HTML/PDF report, CSV, JSON and PNGs")
        self.export_runs_action = self._action("Export R&uns Report…", lambda: self.export_runs_report(), "Ctrl+Shift+E",
                                               "the selected runs (all when none is selected) as one HTML report "
                                               "with a reproduce section")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.save_workspace_action = self._action("&Save Workspace…", self.ask_save_workspace, "Ctrl+S",
                                                  "save the model reference, images, every run and the layout")
        self.open_workspace_action = self._action("Open &Workspace…", self.ask_open_workspace, "Ctrl+Shift+O",
                                                  "reopen a saved workspace (the model's sha256 is checked)")
        self.reopen_workspace_action = self._action("Reopen &Last Workspace", self.reopen_last_workspace, None,
                                                    "the workspace saved or opened last")
        self.import_results_action = self._action("Import &Results…", self.ask_import_results, None,
                                                  "a results.json (attack) or evaluation.json from the CLI, as a run")
        self.save_model_action = self._action("Save Model &As…", self.ask_save_model, None,
                                              "save the model in use (e.g. a trained one) as TorchScript, .pt2 or ONNX")
        self.run_action = self._action("&Run Attack", self.attack_panel.run, "Ctrl+R",
                                       "run the chosen attack on the selected images")
        self.scan_action = self._action("&Scan Model for a Backdoor…", self.scan_panel.scan_loaded_model, None,
                                        "Neural Cleanse (STRIP on ONNX) on the loaded model and the session's images")
        self.cancel_action = self._action("&Cancel", self.session.cancel, Qt.Key.Key_Escape,
                                          "cancel the running job (stops within one step) and every queued one")
        self.reset_layout_action = self._action("&Reset Layout", self.reset_layout)
        self.fit_action = self._action("&Fit Images", self.inspector.fit, "Ctrl+0",
                                       "show the whole image in each inspector view")
        self.shortcuts_action = self._action("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.about_action = self._action("&About advinspect", self.show_about)
        self.plugins_action = self._action("&Plugins", self.show_plugins)
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for theme in THEMES:
            action = QAction(theme.capitalize(), self, checkable=True)
            action.triggered.connect(lambda _checked=False, t=theme: self.set_theme(t))
            self.theme_group.addAction(action)
            self.theme_actions[theme] = action

    def _make_menus(self) -> None:
        bar = self.menuBar()
        bar.installEventFilter(self)
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.open_model_action, self.open_images_action, self.open_folder_action,
                              self.open_demo_action])
        self.recent_models_menu = QMenu("Recent &Models", self)
        self.recent_models_menu.aboutToShow.connect(lambda: self._fill_recent(self.recent_models_menu, "models"))
        self.recent_images_menu = QMenu("Recent Ima&ges", self)
        self.recent_images_menu.aboutToShow.connect(lambda: self._fill_recent(self.recent_images_menu, "images"))
        file_menu.addMenu(self.recent_models_menu)
        file_menu.addMenu(self.recent_images_menu)
        file_menu.addSeparator()
        file_menu.addActions([self.save_model_action, self.open_workspace_action, self.reopen_workspace_action,
                              self.save_workspace_action, self.import_results_action])
        file_menu.addSeparator()
        file_menu.addActions([self.export_action, self.export_runs_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        for panel in self.panels:
            view_menu.addAction(panel.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addActions([self.fit_action, self.reset_layout_action])
        theme_menu = view_menu.addMenu("&Theme")
        theme_menu.addActions(list(self.theme_actions.values()))
        run_menu = bar.addMenu("&Run")
        run_menu.addActions([self.run_action, self.cancel_action])
        bar.addMenu("&Tools").addAction(self.scan_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.shortcuts_action, self.plugins_action, self.about_action])

    def eventFilter(self, watched: Any, event: Any) -> bool:  # noqa: N802
        """Esc cancels also while the menu bar holds the keyboard (after a menu was closed with
        Esc, the menu bar ate the next Esc and the job ran on)."""
        from PySide6.QtCore import QEvent

        if (watched is self.menuBar() and event.type() == QEvent.Type.KeyPress
                and event.key() == Qt.Key.Key_Escape):
            self.session.cancel()
        return super().eventFilter(watched, event)

    def _make_status_bar(self) -> None:
        status = self.statusBar()
        self.job_label = QLabel("")
        self.job_label.setObjectName("status_job")
        self.busy_bar = QProgressBar()
        self.busy_bar.setObjectName("status_busy")
        self.busy_bar.setRange(0, 0)  # indeterminate: a busy indicator
        self.busy_bar.setMaximumWidth(140)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.hide()
        self.model_label = QLabel("no model")
        self.model_label.setObjectName("status_model")
        self.device_label = QLabel("device –")
        self.device_label.setObjectName("status_device")
        status.addWidget(self.busy_bar)
        status.addWidget(self.job_label, 1)
        status.addPermanentWidget(self.model_label)
        status.addPermanentWidget(self.device_label)
        self.device_box = QComboBox()
        self.device_box.setObjectName("status_device_choice")
        self.device_box.setToolTip("where the model runs: auto (a GPU when there is one), cpu, or cuda:N; "
                                   "changing it reopens the model")
        self.device_box.addItems(["auto", "cpu"])
        self.device_box.setCurrentText(self.session.device if self.session.device in ("auto", "cpu") else "auto")
        self.device_box.textActivated.connect(self.set_device)
        status.addPermanentWidget(self.device_box)

    def _connect_session(self) -> None:
        s = self.session
        s.error.connect(self._on_error)
        s.trust_needed.connect(self._ask_trust)
        s.busy_changed.connect(self._on_busy)
        s.job_changed.connect(lambda name: self.job_label.setText(f"running: {name}" if name else "ready"))
        s.model_changed.connect(self._on_model)
        s.defense_changed.connect(self._on_model)
        s.model_needs_options.connect(self._ask_model_options)
        s.evaluation_changed.connect(self._give_results_room)
        s.images_changed.connect(self._on_images)
        s.attack_started.connect(lambda _name: (self.run_action.setEnabled(False), self._on_busy(True)))
        s.attack_finished.connect(lambda _outcome: self.run_action.setEnabled(True))

    # --- start-up and session events ---------------------------------------------------------
    def start(self, model: str | None = None, images: list[str] | None = None, demo: bool = False,
              trust_pickle: bool = False, options: dict | None = None) -> None:
        """Begin loading (attack registry, model, images) in the worker; the window stays live.
        `options`: the command line's model flags (open.Config fields)."""
        self._on_busy(True)
        self.session.start(model, list(images or []), demo, trust_pickle, options)

    def _on_busy(self, busy: bool) -> None:
        # The attack dock has its own determinate bar; an animated one here would only cost paints.
        self.busy_bar.setVisible(busy and self.session.attack_job is None)

    def _on_model(self) -> None:
        s = self.session
        name = Path(s.model_path).name if s.model_path else "in-memory model"
        defense = f" [defense: {s.defense['text']}{', adaptive' if s.defense.get('adaptive') else ''}]" \
            if s.defense else ""
        self.setWindowTitle(f"advinspect — {name}{defense}")
        self.model_label.setText(f"model: {name} ({s.info.get('format', '?')}){defense}")
        self.device_label.setText(f"device: {s.info.get('device', '?')}")
        self._fill_devices()
        if s.model_path:
            add_recent(self.settings, "models", s.model_path)
        from advinspect.core.save_model import saveable

        reason = saveable(s.clf)
        self.save_model_action.setEnabled(reason is None)
        self.save_model_action.setStatusTip(reason or "save the model in use as TorchScript, .pt2 or ONNX")
        set_json(self.settings, "model/options", s.model_options)

    def _give_results_room(self) -> None:
        """An evaluation arrived: its plots get half the window's height (a 200 px strip hid them)."""
        if self.session.evaluation is None or self.log_panel.isFloating():
            return
        if self.log_panel.height() < self.height() * 45 // 100:
            self.resizeDocks([self.log_panel], [self.height() // 2], Qt.Orientation.Vertical)

    def _fill_devices(self) -> None:
        """auto, cpu and one entry per CUDA device (torch is loaded once a model is open)."""
        import sys

        torch = sys.modules.get("torch")
        count = torch.cuda.device_count() if torch is not None and torch.cuda.is_available() else 0
        wanted = ["auto", "cpu", *(f"cuda:{i}" for i in range(count))]
        if [self.device_box.itemText(i) for i in range(self.device_box.count())] != wanted:
            self.device_box.blockSignals(True)
            self.device_box.clear()
            self.device_box.addItems(wanted)
            self.device_box.blockSignals(False)
        self.device_box.setCurrentText(self.session.device)

    def set_device(self, device: str) -> None:
        """Run the model on `device` from now on: the model file is reopened there."""
        s = self.session
        if device == s.device:
            return
        s.device = device
        s.log("info", f"device set to {device}")
        if s.model_path:
            s.open_model(s.model_path)

    def _ask_model_options(self, path: str, message: str, tried: dict) -> None:
        """A file that needs more than it says: the model dialog, then open it with what it gives."""
        from advinspect.gui import model_dialog

        options = model_dialog.ask_model_options(self, path, message, dict(tried))
        if options is None:
            self.session.log("info", f"{Path(path).name} not opened: {message}")
            return
        self.session.open_model(path, options=options)

    def _on_images(self) -> None:
        for source in self.session.sources:
            add_recent(self.settings, "images", source)

    def _on_error(self, title: str, message: str, details: str) -> None:
        self.errors.append((title, message))
        dialogs.show_error(self, title, message, details)

    def _ask_trust(self, path: str, findings: list[str] | None = None) -> None:
        found = "\n".join(f"  • {f}" for f in (findings or ["a pickled Python object"])[:12])
        question = (f"{Path(path).name} would run code of its own when it opens or runs:\n{found}\n\n"
                    "A model file is a program. Load it only if you trust where it came from. Load it?")
        if dialogs.confirm(self, "Trust this model file?", question):
            self.session.open_model(path, trust_pickle=True)

    # --- file actions ------------------------------------------------------------------------
    def ask_open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._last_dir(), MODEL_FILTER)
        if path:
            self._remember_dir(path)
            self.session.open_model(path)

    def ask_open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self._last_dir(), IMAGE_FILTER)
        if paths:
            self._remember_dir(paths[0])
            self.session.open_images(paths)

    def ask_open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self._last_dir())
        if path:
            self.settings.setValue("last_dir", path)
            self.session.open_images([path])

    def ask_save_model(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", self._last_dir(),
                                              "TorchScript (*.pt);;torch.export (*.pt2);;ONNX (*.onnx)")
        if path:
            self.save_model(path)

    def save_model(self, path: str) -> Any:
        """Save the model in use on the worker (export and a reload check take seconds)."""
        from advinspect.core.save_model import save_model

        clf = self.session.clf

        def job(progress, cancel) -> str:
            return str(save_model(clf, path))

        return self.session.run_job("save model", job, lambda saved: self.session.log("info", f"model saved to {saved}"),
                                    error_title="Cannot save the model")

    def ask_save_workspace(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save workspace into folder", self._last_dir())
        if path:
            self.save_workspace(path)

    def ask_open_workspace(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open workspace folder", self._last_dir())
        if path:
            self.open_workspace(path)

    def ask_import_results(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import results", self._last_dir(), "Results (*.json)")
        if path:
            self.session.import_run(path)

    def save_workspace(self, folder: str) -> Path | None:
        from advinspect.gui.workspace_io import save_workspace

        saved = save_workspace(self, folder)
        if saved is not None:
            self.settings.setValue("workspace/last", str(folder))
        return saved

    def open_workspace(self, folder: str) -> Any:
        from advinspect.gui.workspace_io import open_workspace

        opened = open_workspace(self, folder)
        if opened is not None:
            self.settings.setValue("workspace/last", str(folder))
        return opened

    def reopen_last_workspace(self) -> Any:
        """File → Reopen Last Workspace: the folder saved or opened last."""
        folder = text(self.settings, "workspace/last")
        if not folder:
            self.session.log("info", "no workspace saved or opened yet")
            return None
        return self.open_workspace(folder)

    def _last_dir(self) -> str:
        return text(self.settings, "last_dir", str(Path.home()))

    def _remember_dir(self, path: str) -> None:
        self.settings.setValue("last_dir", str(Path(path).parent))

    def _fill_recent(self, menu: QMenu, kind: str) -> None:
        menu.clear()
        items = recent(self.settings, kind)
        if not items:
            menu.addAction("(none)").setEnabled(False)
        for path in items:
            action = menu.addAction(path)
            if kind == "models":
                action.triggered.connect(lambda _c=False, p=path: self.session.open_model(p))
            else:
                action.triggered.connect(lambda _c=False, p=path: self.session.open_images([p]))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        self.open_paths(paths)
        event.acceptProposedAction()

    def open_paths(self, paths: list[str]) -> None:
        """Dropped files: a model file opens as the model (with any images dropped alongside)."""
        models = [p for p in paths if Path(p).suffix.lower() in MODEL_SUFFIXES and Path(p).is_file()]
        images = [p for p in paths if p not in models]
        if models:
            self.session.open_model(models[0], sources=images or None)
        elif images:
            self.session.open_images(images)

    # --- view --------------------------------------------------------------------------------
    def set_theme(self, theme: str) -> None:
        self.theme = apply_theme(theme, self)
        self.theme_actions[self.theme].setChecked(True)
        self.settings.setValue("theme", self.theme)

    def reset_layout(self) -> None:
        for panel in self.panels:
            panel.setFloating(False)
            panel.show()
        self.restoreState(self.default_state, STATE_VERSION)
        QTimer.singleShot(0, self.inspector.fit)  # the central area changed size: whole images again
        QTimer.singleShot(0, self._readable_tabs)

    def show_shortcuts(self) -> None:
        dialogs.inform(self, "Keyboard shortcuts", SHORTCUTS)

    def show_about(self) -> None:
        dialogs.inform(self, "About advinspect", f"<pre>{html.escape(about_text())}</pre>")

    def show_plugins(self) -> None:
        from advinspect.core.doctor import format_table, plugin_checks

        dialogs.inform(self, "Plugins", f"<pre>{html.escape(format_table(plugin_checks()))}</pre>")

    # --- settings ----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        for key in dropped_keys(s):
            self.session.log("warning", f"settings: ignored {key} (not plain text: a serialized value)")
        geometry = get_bytes(s, "window/geometry")
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        state = get_bytes(s, "window/state")
        if state:
            self._restored_state = bool(self.restoreState(QByteArray(state), STATE_VERSION))
        self.set_theme(text(s, "theme", system_theme()))
        options = get_json(s, "model/options", {})
        if isinstance(options, dict):
            self.session.model_options.update({str(k): dict(v) for k, v in options.items() if isinstance(v, dict)})
        self.attack_panel.restore(get_json(s, "attack/last", {}))
        QTimer.singleShot(0, self._readable_tabs)

    def save_settings(self) -> None:
        s = self.settings
        set_bytes(s, "window/geometry", self.saveGeometry().data())
        set_bytes(s, "window/state", self.saveState(STATE_VERSION).data())
        s.setValue("theme", self.theme)
        set_json(s, "attack/last", self.attack_panel.state())
        s.sync()

    # --- screenshot --------------------------------------------------------------------------
    def take_screenshot_after_attack(self, path: str, attack: str = "fgsm",
                                     values: dict[str, Any] | None = None) -> None:
        """Once the demo is ready, attack the first image, then save the window as a PNG."""

        def on_ready() -> None:
            self.session.ready.disconnect(on_ready)
            self.session.set_current(0)
            self.images_panel.select([0])
            if attack in self.session.attacks:
                self.attack_panel.select_attack(attack)
            if values:
                self.attack_panel.form.set_values(values)
            self.session.attack_finished.connect(on_done)
            self.attack_panel.run()

        def on_done(_outcome: Any) -> None:
            self.session.attack_finished.disconnect(on_done)
            QTimer.singleShot(300, save)

        def save() -> None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.grab().save(path, "PNG")
            self.screenshot_saved.emit(path)

        self.session.ready.connect(on_ready)

    # --- closing -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        if self.session.busy and self.confirm_close:
            job = self.session.runner.current.name if self.session.runner.current else "a job"
            if not dialogs.confirm(self, "Quit while running?", f"{job} is still running. Cancel it and quit?"):
                event.ignore()
                return
        self.save_settings()
        self.hide()  # nothing frozen on screen while the worker is told to stop
        # Cancels every job and waits briefly; a job that never reaches a cancel point goes on in
        # the background (its thread is never destroyed while it runs: that would abort the
        # process) and the program exits once it ends (app.run_gui, worker.wait_for_stragglers).
        self.session.shutdown()
        self._closed = True
        for item in self.inspector.items:  # pyqtgraph #466: release the arrays with the window
            item.clear()
        event.accept()
        self.closed.emit()


def first_size(available: Any) -> tuple[int, int]:
    """The first window size: 1440×900 where it fits, else the available screen area (a 1280×800
    laptop keeps the Run button on screen), never below a usable minimum."""
    if available is None:
        return 1280, 760
    # the frame (title bar, borders) comes on top of the size given to resize()
    return max(800, min(1440, available.width() - 16)), max(560, min(900, available.height() - 40))


def system_theme() -> str:
    """'dark' when the platform says so (Qt 6.5+), else 'light'."""
    from PySide6.QtGui import QGuiApplication

    try:
        scheme = QGuiApplication.styleHints().colorScheme()
    except AttributeError:
        return "light"
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def about_text() -> str:
    """The version, then the same table as `advinspect doctor` (plugins and their errors included)."""
    import pyqtgraph

    from advinspect.core.doctor import format_table, run_checks
    from advinspect.gui.platform_check import qt_checks

    lines = [
        f"advinspect {__version__}: inspect the adversarial robustness of image classifiers.",
        f"pyqtgraph {pyqtgraph.__version__}", "",
        format_table(run_checks(qt_checks())),
    ]
    return "\n".join(lines)
