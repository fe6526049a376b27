"""Images dock: thumbnail grid with truth, prediction and an attacked badge; filter by outcome and
by class, search by file name; multi-select.

A virtual list: rows are indices, thumbnails are made when a row is first drawn and cached, and
a row is found by a dict, so 20,000 images open and refilter in well under a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractListModel, QItemSelectionModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QImage, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.status import FLIPPED, HELD, MISCLASSIFIED, NOT_ATTACKED
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.widgets.image_actions import copy_image, save_image
from advinspect.gui.widgets.imaging import thumbnail, to_qimage

FILTERS = ("all", "correct", "wrong", FLIPPED, MISCLASSIFIED, HELD, NOT_ATTACKED)
THUMB = 64
# the core status words (core.status): flipped red, misclassified before the attack grey, held green
BADGE_COLORS = {FLIPPED: QColor("#c0392b"), MISCLASSIFIED: QColor("#7f8c8d"), HELD: QColor("#2e8b57")}


def with_badge(pixmap: QPixmap, status: str) -> QPixmap:
    """The thumbnail with a coloured corner badge: red once flipped, green when it held."""
    badged = QPixmap(pixmap)
    painter = QPainter(badged)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    size = max(10, pixmap.width() // 4)
    painter.setPen(QPen(QColor("white"), 1.5))
    painter.setBrush(BADGE_COLORS[status])
    painter.drawEllipse(pixmap.width() - size - 2, 2, size, size)
    painter.end()
    return badged


def keep(session: Session, i: int, name: str) -> bool:
    """Whether image `i` passes the filter `name`."""
    if name == "all":
        return True
    if name in ("correct", "wrong"):
        truth = session.label(i)
        right = truth < 0 or session.prediction(i) == truth
        return right if name == "correct" else not right
    status = session.status(i)
    if name == NOT_ATTACKED:
        return status is None
    return status == name


class ImageListModel(QAbstractListModel):
    """Rows are the images passing the filter; thumbnails are made on demand and cached."""

    IndexRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.rows: list[int] = []
        self._row: dict[int, int] = {}  # image index -> row
        self.filter = "all"
        self.label_filter = -1  # a class index (truth), -1: every class
        self.search = ""  # part of the file name, case-insensitive
        self._thumbs: dict[int, QPixmap] = {}

    def rebuild(self, clear_cache: bool = False) -> None:
        self.beginResetModel()
        if clear_cache:
            self._thumbs.clear()
        s = self.session
        custom = s.custom_filter[1] if s.custom_filter is not None else None
        candidates = range(s.count)
        if self.label_filter >= 0 and s.images is not None:
            candidates = np.flatnonzero(s.images.labels == self.label_filter).tolist()
        needle = self.search.strip().lower()
        names = s.images.names if s.images is not None else []
        self.rows = [i for i in candidates if (not needle or needle in names[i].lower())
                     and (custom is None or i in custom) and keep(s, i, self.filter)]
        self._row = {i: r for r, i in enumerate(self.rows)}
        self.endResetModel()

    def row_of(self, image_index: int) -> int:
        return self._row.get(image_index, -1)

    def refresh_images(self, indices: list[int]) -> None:
        if len(indices) > 64 and self.rows:  # a run selected: one signal for the whole list
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1))
            return
        for i in indices:
            row = self.row_of(i)
            if row >= 0:
                self.dataChanged.emit(self.index(row), self.index(row))

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        i = self.rows[index.row()]
        s = self.session
        if role == Qt.ItemDataRole.DisplayRole:
            return self.caption(i)
        if role == Qt.ItemDataRole.DecorationRole:
            if i not in self._thumbs:
                self._thumbs[i] = thumbnail(s.images.x[i], s.value_range, THUMB)
            status = s.status(i)
            return with_badge(self._thumbs[i], status) if status else self._thumbs[i]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{s.images.names[i]}\n{self.caption(i).replace(chr(10), ' · ')}"
        if role == Qt.ItemDataRole.ForegroundRole:
            status = s.status(i)
            return QBrush(BADGE_COLORS[status]) if status else None
        if role == self.IndexRole:
            return i
        return None

    def caption(self, i: int) -> str:
        s = self.session
        truth = s.label(i)
        pred = s.prediction(i)
        text = f"{s.label_name(truth) if truth >= 0 else '?'} → {s.label_name(pred)}"
        status = s.status(i)
        if status is not None:
            adv = s.adversarial_prediction(i)
            text += f"\n{status}→{s.label_name(adv) if adv is not None else '?'}"
        else:
            text += "\n "  # uniform item sizes come from one item: always reserve two lines
        return text


class ImagesPanel(Panel):
    object_name = "ImagesDock"
    title = "Images"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("show"))
        self.filter_box = QComboBox()
        self.filter_box.setObjectName("image_filter")
        self.filter_box.addItems(list(FILTERS))
        self.filter_box.setToolTip("correct/wrong: clean prediction vs truth; flipped/held: after an attack")
        self.filter_box.currentTextChanged.connect(self.set_filter)
        top.addWidget(self.filter_box, 1)
        self.select_all = QPushButton("Select all")
        self.select_all.setToolTip("select every shown image to attack them as a batch")
        self.select_all.clicked.connect(self._select_all)
        top.addWidget(self.select_all)
        layout.addLayout(top)
        second = QHBoxLayout()
        self.class_box = QComboBox()
        self.class_box.setObjectName("image_class_filter")
        self.class_box.setToolTip("show only the images of one true class")
        self.class_box.addItem("every class", -1)
        self.class_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_box.setMinimumContentsLength(6)
        self.class_box.currentIndexChanged.connect(lambda _i: self.set_class(int(self.class_box.currentData())))
        second.addWidget(self.class_box, 1)
        self.search_box = QLineEdit()
        self.search_box.setObjectName("image_search")
        self.search_box.setPlaceholderText("search file name")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setMinimumWidth(60)
        self.search_box.textChanged.connect(self.set_search)
        second.addWidget(self.search_box, 2)
        layout.addLayout(second)
        layout.addWidget(self._custom_row())
        self.model = ImageListModel(session)
        self.view = QListView()
        self.view.setObjectName("image_grid")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 28, THUMB + 52))
        self.view.setWordWrap(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        copy = QAction("Copy Image", self.view)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(lambda: self.copy_image(self.session.current))
        self.view.addAction(copy)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        layout.addWidget(self.view, 1)
        self.count_label = QLabel("no images")
        layout.addWidget(self.count_label)
        self.setWidget(body)
        self._syncing = False
        session.images_changed.connect(lambda: self._rebuild(clear_cache=True))
        session.model_changed.connect(lambda: self._rebuild(clear_cache=True))
        session.model_changed.connect(self._fill_classes)
        session.images_changed.connect(self._fill_classes)
        session.results_changed.connect(self._on_results)
        session.current_changed.connect(self._show_current)
        session.custom_filter_changed.connect(self._on_custom_filter)

    def _custom_row(self) -> QWidget:
        """'showing: <bin or cell>' with a clear button, visible while a plot filters the images."""
        self.custom_row = QWidget()
        row = QHBoxLayout(self.custom_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.custom_label = QLabel("")
        self.custom_label.setObjectName("image_custom_filter")
        self.custom_label.setWordWrap(True)
        self.custom_label.setStyleSheet("font-weight: bold; color: #1f6fb2;")
        row.addWidget(self.custom_label, 1)
        self.clear_custom = QPushButton("Clear")
        self.clear_custom.setObjectName("image_custom_clear")
        self.clear_custom.setToolTip("show every image again (drop the plot's filter)")
        self.clear_custom.clicked.connect(self.session.clear_custom_filter)
        row.addWidget(self.clear_custom)
        self.custom_row.hide()
        return self.custom_row

    def _on_custom_filter(self) -> None:
        custom = self.session.custom_filter
        self.custom_row.setVisible(custom is not None)
        self.custom_label.setText("" if custom is None else f"showing: {custom[0]} ({len(custom[1])})")
        self._rebuild()
        if custom is not None and self.model.rows:
            self.select([self.model.rows[0]])

    def set_filter(self, name: str) -> None:
        if name != self.model.filter:
            self.model.filter = name
            index = self.filter_box.findText(name)
            if index != self.filter_box.currentIndex():
                self.filter_box.setCurrentIndex(index)
            self._rebuild()

    def image_at(self, index: int) -> QImage | None:
        """Image `index` at full size (its pixels as the model sees them)."""
        x = self.session.image(index)
        return None if x is None else to_qimage(x, self.session.value_range)

    def copy_image(self, index: int) -> bool:
        copied = copy_image(self.image_at(index))
        if copied:
            self.session.log("info", f"copied {self.session.images.names[index]}")
        return copied

    def _context_menu(self, pos: Any) -> None:
        model_index = self.view.indexAt(pos)
        if not model_index.isValid():
            return
        i = self.model.rows[model_index.row()]
        name = Path(self.session.images.names[i]).stem
        menu = QMenu(self.view)
        menu.addAction("Copy image", lambda: self.copy_image(i))
        menu.addAction("Save image…", lambda: save_image(self.image_at(i), self, f"{name}.png"))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def set_class(self, label: int) -> None:
        if label != self.model.label_filter:
            self.model.label_filter = label
            self._rebuild()

    def set_search(self, text: str) -> None:
        if text != self.model.search:
            self.model.search = text
            if self.search_box.text() != text:
                self.search_box.setText(text)
            self._rebuild()

    def _fill_classes(self) -> None:
        """The class filter offers the labels of the images loaded now (model labels as names)."""
        s = self.session
        present = sorted(set(s.images.labels.tolist()) - {-1}) if s.images is not None else []
        wanted = [(-1, "every class")] + [(int(c), s.label_name(int(c))) for c in present]
        current = [(int(self.class_box.itemData(k)), self.class_box.itemText(k)) for k in range(self.class_box.count())]
        if wanted == current:
            return
        keep_label = self.model.label_filter if self.model.label_filter in present else -1
        self.class_box.blockSignals(True)
        self.class_box.clear()
        for value, text in wanted:
            self.class_box.addItem(text, value)
        self.class_box.setCurrentIndex(max(0, self.class_box.findData(keep_label)))
        self.class_box.blockSignals(False)
        if keep_label != self.model.label_filter:
            self.set_class(keep_label)

    def visible_indices(self) -> list[int]:
        return list(self.model.rows)

    def select(self, indices: list[int]) -> None:
        """Select these images (those shown); the first becomes current."""
        selection = self.view.selectionModel()
        selection.clearSelection()
        rows = [r for r in (self.model.row_of(i) for i in indices) if r >= 0]
        for row in rows:
            selection.select(self.model.index(row), QItemSelectionModel.SelectionFlag.Select)
        if rows:
            selection.setCurrentIndex(self.model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)
            self.session.set_current(self.model.rows[rows[0]])
        self._on_selection()

    def _select_all(self) -> None:
        self.view.selectAll()

    def _rebuild(self, clear_cache: bool = False) -> None:
        self._syncing = True
        try:
            self.model.rebuild(clear_cache)
        finally:
            self._syncing = False
        self._update_count()
        self._show_current(self.session.current)

    def _update_count(self) -> None:
        s = self.session
        attacked = sum(1 for i in range(s.count) if i in s.results)
        flipped = sum(1 for r in s.results.values() if r.status == FLIPPED)
        text = f"{len(self.model.rows)} of {s.count} shown"
        if len(self.session.selection) > 1:
            text += f" · {len(self.session.selection)} selected"
        if attacked:
            text += f" · {flipped}/{attacked} flipped"
        self.count_label.setText(text)

    def _on_results(self, indices: list[int]) -> None:
        if self.model.filter in (FLIPPED, MISCLASSIFIED, HELD, NOT_ATTACKED):
            self._rebuild()
        else:
            self.model.refresh_images(indices)
            self._update_count()

    def _show_current(self, index: int) -> None:
        row = self.model.row_of(index)
        if row < 0:
            return
        self._syncing = True
        try:
            model_index = self.model.index(row)
            selection = self.view.selectionModel()
            if selection.currentIndex() != model_index:
                flag = QItemSelectionModel.SelectionFlag.NoUpdate
                if index not in self.session.selection or not selection.hasSelection():
                    flag = QItemSelectionModel.SelectionFlag.ClearAndSelect
                selection.setCurrentIndex(model_index, flag)
            self.view.scrollTo(model_index)
        finally:
            self._syncing = False

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._syncing and current.isValid():
            self.session.set_current(self.model.rows[current.row()])

    def _on_selection(self, *_: object) -> None:
        if self._syncing:
            return
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        self.session.set_selection([self.model.rows[r] for r in rows])
        self._update_count()
