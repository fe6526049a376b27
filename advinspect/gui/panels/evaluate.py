"""Evaluate dock: `core.tasks.evaluate` on the labelled images (selection, shown or all): robustness
curves, calibration, histograms and sanity checks. The form is `evaluate.Config` (the attacks are
ticked in a list of the registry's eps-budget attacks); the result docks (evaluate_plots.py)
draw the Result the session keeps. A large folder (decoded on demand) is evaluated with
`evaluate.run_stream`, one batch of images in memory at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.errors import AdvInspectError
from advinspect.core.tasks import evaluate
from advinspect.gui.panels._task_panel import SCOPES, TaskPanel, chosen_images
from advinspect.gui.session import Session
from advinspect.gui.tasks import is_lazy
from advinspect.gui.widgets.param_form import ParamForm
from advinspect.gui.widgets.plots import label

WARNING_STYLE = ("background: #fff3cd; color: #7a4b00; border: 1px solid #e0b252; "
                 "border-radius: 3px; padding: 4px; font-weight: bold;")
NO_EVALUATION = "no evaluation yet (needs labelled images, e.g. the demo set)"
STREAM_BATCH = 64  # decoded images held at a time when a lazily decoded set is streamed


class EvaluatePanel(TaskPanel):
    object_name = "EvaluateDock"
    title = "Evaluate"
    verb = "evaluate"
    run_text = "Evaluate"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.visible_indices: Any = None  # callable giving the images shown (set by the window)
        self._evaluated: tuple[Any, Any] = (None, None)  # the model and images of the running evaluation
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("attacks (each gives a robustness curve)"))
        self.attack_list = QListWidget()
        self.attack_list.setObjectName("evaluate_attacks")
        self.attack_list.setMaximumHeight(120)
        self.attack_list.setToolTip("attacks with an eps budget from the registry; tick one or more")
        layout.addWidget(self.attack_list)
        self.form = ParamForm()
        self.form.set_params_type(evaluate.Config, exclude=("attacks",))
        layout.addWidget(self.form)
        scope = QFormLayout()
        self.scope = QComboBox()
        self.scope.setObjectName("evaluate_scope")
        self.scope.addItems(list(SCOPES))
        self.scope.setCurrentIndex(SCOPES.index("all shown"))
        self.scope.setToolTip("which images: those selected in the Images dock, those its filter shows, or all")
        scope.addRow("images", self.scope)
        layout.addLayout(scope)
        self.run_button.setToolTip("clean accuracy, robustness curves, calibration, confusion, sanity checks")
        layout.addLayout(self.buttons())
        layout.addWidget(self.progress)
        self.status.setText(NO_EVALUATION)
        layout.addWidget(self.status)
        self.warnings = label("evaluate_warnings")
        self.warnings.setStyleSheet(WARNING_STYLE)
        self.warnings.hide()
        layout.addWidget(self.warnings)
        layout.addStretch(1)
        scroll.setWidget(body)
        self.setWidget(scroll)
        session.attacks_changed.connect(self._fill_attacks)
        session.selection_changed.connect(lambda sel: self.scope.setItemText(0, f"selection ({max(1, len(sel))})"))
        session.evaluation_changed.connect(self._on_evaluation)

    def _fill_attacks(self) -> None:
        checked = set(self.checked_attacks()) or {"pgd"}
        self.attack_list.clear()
        for name, cls in sorted(self.session.attacks.items(), key=lambda kv: kv[1].title.lower()):
            if "eps" not in {f.name for f in dataclasses.fields(cls.params_type)}:
                continue  # a curve over eps needs an eps budget (DeepFool, CW minimise instead)
            item = QListWidgetItem(f"{cls.title}  ({name})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in checked else Qt.CheckState.Unchecked)
            self.attack_list.addItem(item)

    def checked_attacks(self) -> list[str]:
        return [self.attack_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.attack_list.count())
                if self.attack_list.item(i).checkState() == Qt.CheckState.Checked]

    def set_attacks(self, names: list[str]) -> None:
        for i in range(self.attack_list.count()):
            item = self.attack_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def set_scope(self, name: str) -> None:
        """'selection', 'all shown' or 'all' (the selection item's text carries a count)."""
        self.scope.setCurrentIndex(SCOPES.index(name))

    def prepare_and_start(self) -> None:
        s = self.session
        attacks = self.checked_attacks()
        if not attacks:
            raise AdvInspectError("tick at least one attack")
        config = self.form.config(attacks=tuple(attacks))
        images = chosen_images(self, SCOPES[max(0, self.scope.currentIndex())], "evaluate", minimum=2)
        self._evaluated = (s.clf, s.images)
        s.log("info", f"evaluate {', '.join(config.attacks)} on {len(images)} image(s), eps {list(config.eps)}, "
                      f"steps {config.steps}, seed {config.seed}")
        self.start(f"evaluate {len(images)} image(s)", self._job(s.clf, images, config))

    def _job(self, clf: Any, images: Any, config: evaluate.Config) -> Any:
        """The worker's job: a lazily decoded set (a large folder) is streamed batch by batch, so
        memory holds one batch of decoded images (`evaluate.run` would decode the whole set at
        once); a set in memory, or a configuration that cannot stream, runs `evaluate.run`."""
        if is_lazy(images):
            try:
                evaluate.check_streamable(config)
            except AdvInspectError as exc:
                self.session.log("warning", f"evaluate: this configuration cannot stream ({exc}); evaluating the "
                                            f"{len(images)} images in memory")
            else:
                from advinspect.core.data.stream import ArrayStream

                stream = ArrayStream(images.x, images.labels, images.names, images.index,
                                     batch_size=config.batch_size or STREAM_BATCH)
                self.session.log("info", f"evaluate: streaming {len(images)} images {stream.batch_size} at a time")

                def streamed(progress: Any, cancel: Any) -> evaluate.Streamed:
                    result = evaluate.run_stream(clf, stream, config, progress=progress, cancel=cancel)
                    result.plotted  # noqa: B018 - the plots' arrays built here, on the worker, not in the GUI thread
                    return result

                return streamed
        inputs = evaluate.Inputs(clf, images)
        return lambda progress, cancel: evaluate.run(inputs, config, progress=progress, cancel=cancel)

    def on_result(self, result: Any) -> None:
        s = self.session
        clf, images = self._evaluated
        if clf is not s.clf or images is not s.images:  # the model or the images changed meanwhile
            s.log("warning", "evaluate: the model or the images changed while it ran; its plots are not shown")
            return
        s.set_evaluation(result)

    def _on_evaluation(self) -> None:
        result = self.session.evaluation
        if result is None:
            self.status.setText(NO_EVALUATION)
            self.warnings.hide()
            return
        warnings = result.data.get("warnings") or []
        self.warnings.setVisible(bool(warnings))
        self.warnings.setText("⚠ Sanity checks:\n" + "\n".join(f"• {w}" for w in warnings))
