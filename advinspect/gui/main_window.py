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
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMenu, QProgressBar, QWidget

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
from advinspect.gui.panels.saliency import SaliencyPanel
from advinspect.gui.panels.scan import ScanPanel
from advinspect.gui.panels.train import TrainPanel
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
        self.poison_panel = PoisonPanel(self.session, self)
        self.scan_panel = ScanPanel(self.session, self)
        for panel in (self.attack_panel, self.evaluate_panel, self.compare_panel):
            panel.visible_indices = self.images_panel.visible_indices
        self.panels = [self.model_panel, self.images_panel, self.attack_panel, self.confidence_panel,
                       self.log_panel, self.saliency_panel, self.evaluate_panel, self.robustness_panel,
                       self.histograms_panel, self.calibration_panel, self.defend_panel, self.detect_panel,
                       self.certify_panel, self.compare_panel, self.train_panel, self.poison_panel,
                       self.scan_panel]
        self._arrange_docks()
        self._make_actions()
        self._make_menus()
        self._make_status_bar()
        self.model_panel.add_actions(self.open_model_action, self.recent_models_menu)
        self._connect_session()
        self.default_state = self.saveState(STATE_VERSION)
        self.theme = "light"
        self._closed = False
        self._restore_settings()

    # --- layout ----------------------------------------------------------------------------
    def _arrange_docks(self) -> None:
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
                      self.train_panel, self.poison_panel, self.scan_panel):
            self.tabifyDockWidget(previous, panel)
            previous = panel
        self.tabifyDockWidget(self.model_panel, self.saliency_panel)
        self.tabifyDockWidget(self.log_panel, self.robustness_panel)
        self.tabifyDockWidget(self.robustness_panel, self.histograms_panel)
        self.tabifyDockWidget(self.histograms_panel, self.calibration_panel)
        for panel in (self.attack_panel, self.model_panel, self.log_panel):
            panel.raise_()
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        self.resize(1440, 900)
        self.resizeDocks([self.images_panel, self.attack_panel], [330, 400], Qt.Orientation.Horizontal)
        self.resizeDocks([self.images_panel, self.model_panel], [520, 340], Qt.Orientation.Vertical)
        self.resizeDocks([self.attack_panel, self.confidence_panel], [560, 300], Qt.Orientation.Vertical)
        self.resizeDocks([self.log_panel], [150], Qt.Orientation.Vertical)

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
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.run_action = self._action("&Run Attack", self.attack_panel.run, "Ctrl+R",
                                       "run the chosen attack on the selected images")
        self.cancel_action = self._action("&Cancel", self.session.cancel, Qt.Key.Key_Escape,
                                          "cancel the running job (stops within one step) and every queued one")
        self.reset_layout_action = self._action("&Reset Layout", self.reset_layout)
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
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        for panel in self.panels:
            view_menu.addAction(panel.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self.reset_layout_action)
        theme_menu = view_menu.addMenu("&Theme")
        theme_menu.addActions(list(self.theme_actions.values()))
        run_menu = bar.addMenu("&Run")
        run_menu.addActions([self.run_action, self.cancel_action])
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.shortcuts_action, self.plugins_action, self.about_action])

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

    def _connect_session(self) -> None:
        s = self.session
        s.error.connect(self._on_error)
        s.trust_needed.connect(self._ask_trust)
        s.busy_changed.connect(self._on_busy)
        s.job_changed.connect(lambda name: self.job_label.setText(f"running: {name}" if name else "ready"))
        s.model_changed.connect(self._on_model)
        s.images_changed.connect(self._on_images)
        s.attack_started.connect(lambda _name: (self.run_action.setEnabled(False), self._on_busy(True)))
        s.attack_finished.connect(lambda _outcome: self.run_action.setEnabled(True))

    # --- start-up and session events ---------------------------------------------------------
    def start(self, model: str | None = None, images: list[str] | None = None, demo: bool = False,
              trust_pickle: bool = False) -> None:
        """Begin loading (attack registry, model, images) in the worker; the window stays live."""
        self._on_busy(True)
        self.session.start(model, list(images or []), demo, trust_pickle)

    def _on_busy(self, busy: bool) -> None:
        # The attack dock has its own determinate bar; an animated one here would only cost paints.
        self.busy_bar.setVisible(busy and self.session.attack_job is None)

    def _on_model(self) -> None:
        s = self.session
        name = Path(s.model_path).name if s.model_path else "in-memory model"
        self.setWindowTitle(f"advinspect — {name}")
        self.model_label.setText(f"model: {name} ({s.info.get('format', '?')})")
        self.device_label.setText(f"device: {s.info.get('device', '?')}")
        if s.model_path:
            add_recent(self.settings, "models", s.model_path)

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
            self.restoreState(QByteArray(state), STATE_VERSION)
        self.set_theme(text(s, "theme", system_theme()))
        self.attack_panel.restore(get_json(s, "attack/last", {}))

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
