"""Saliency dock: where the model looks, for the clean image and its adversarial side by side.

Maps are computed on the worker (captum through `core.explain.saliency`) whenever the current
image, its attack result, the model or a control changes; requests are coalesced so a fast
scroll through the images computes only the last one. A model without gradients gets occlusion,
which needs only outputs, and the dock says why.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from advinspect.core.tasks import saliency
from advinspect.core.tasks.base import Images
from advinspect.gui.panels import Panel
from advinspect.gui.session import Session
from advinspect.gui.widgets.linked_views import linked_image_views

METHOD_TITLES = {
    "gradient": "Gradient (saliency)",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion (no gradients needed)",
}
COLORMAPS = ("inferno", "viridis", "magma", "gray")
AUTO_LAYER = "auto (last conv)"
DEBOUNCE_MS = 120


def heat_colors(heat: np.ndarray, name: str) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) RGB floats in [0, 1] with the chosen colormap."""
    heat = np.clip(np.asarray(heat, np.float32), 0, 1)
    if name == "gray":
        return np.repeat(heat[..., None], 3, axis=2)
    if name == "inferno":
        from advinspect.core.explain.overlay import colormap

        return colormap(heat)
    cmap = pg.colormap.get(name)
    return np.asarray(cmap.map(heat.ravel(), mode="float"), np.float32)[:, :3].reshape(*heat.shape, 3)


def blend(image: np.ndarray, heat: np.ndarray, value_range: tuple[float, float], opacity: float,
          cmap: str) -> np.ndarray:
    """(C, H, W) image + (H, W) map -> (H, W, 3) uint8: the map over a gray copy of the image.
    Like core `overlay`, the map's own strength scales its alpha, so weak evidence stays
    see-through; `overlay` itself is used for the default colormap."""
    if cmap == "inferno":
        from advinspect.core.explain.overlay import overlay

        rgb = overlay(image, heat, value_range, opacity).transpose(1, 2, 0)
    else:
        lo, hi = value_range
        unit = np.clip((np.asarray(image, np.float32) - lo) / (hi - lo), 0, 1)
        gray = unit[0] if unit.shape[0] == 1 else unit.mean(0)
        base = np.repeat(gray[..., None], 3, axis=2)
        alpha = opacity * np.clip(heat, 0, 1)[..., None]
        rgb = base * (1 - alpha) + heat_colors(heat, cmap) * alpha
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def gradcam_unavailable(clf: Any) -> str | None:
    """Why Grad-CAM cannot run on `clf` (None when it can): it hooks a layer of a PyTorch module,
    which a TorchScript archive does not expose to hooks."""
    import sys

    torch = sys.modules.get("torch")
    # only a module already there is looked at: an ONNX model's converted module is built lazily,
    # never here on the GUI thread (the core says why when Grad-CAM is chosen on one it cannot use)
    module = getattr(clf, "module", None)
    if clf is None or torch is None or module is None:
        return None
    if isinstance(module, torch.jit.ScriptModule):
        return "a TorchScript model's layers cannot be hooked; use gradient, SmoothGrad or Integrated Gradients"
    return None


class SaliencyPanel(Panel):
    object_name = "SaliencyDock"
    title = "Saliency"

    maps_ready = Signal()  # a new pair of maps is shown (tests wait on it)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.maps: Any = None  # core.tasks.saliency.Result of the current image (and its adversarial)
        self._job: Any = None
        self._dirty = False
        self._request: tuple | None = None  # what the shown maps were computed for
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.compute)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._controls())
        self.notice = QLabel("")
        self.notice.setObjectName("saliency_notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #b35c00;")
        self.notice.hide()
        layout.addWidget(self.notice)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(160)
        self.titles, self.views, self.items = linked_image_views(self.graphics, ("clean", "adversarial"),
                                                                  session.log)
        layout.addWidget(self.graphics, 1)
        self.status = QLabel("no image")
        self.status.setObjectName("saliency_status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.setWidget(body)
        self.visibilityChanged.connect(self._on_visibility)
        session.model_changed.connect(self._on_model)
        session.current_changed.connect(self.schedule)
        session.images_changed.connect(self.schedule)
        session.results_changed.connect(self._on_results)

    # --- construction ----------------------------------------------------------------------
    def _controls(self) -> QFormLayout:
        form = QFormLayout()
        self.method_box = QComboBox()
        self.method_box.setObjectName("saliency_method")
        self.method_box.setToolTip("attribution method (captum); occlusion needs only the model's outputs")
        self.method_box.currentIndexChanged.connect(self._on_method)
        form.addRow("method", self.method_box)
        self.class_box = QComboBox()
        self.class_box.setObjectName("saliency_class")
        self.class_box.setToolTip("explain the predicted class of each image, or one chosen class for both")
        self.class_box.addItem("predicted", None)
        self.class_box.currentIndexChanged.connect(self.schedule)
        form.addRow("class", self.class_box)
        self.layer_box = QComboBox()
        self.layer_box.setObjectName("saliency_layer")
        self.layer_box.setToolTip("convolution layer Grad-CAM hooks (auto: the last one)")
        self.layer_box.addItem(AUTO_LAYER, None)
        self.layer_box.currentIndexChanged.connect(self.schedule)
        form.addRow("Grad-CAM layer", self.layer_box)
        look = QHBoxLayout()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("saliency_opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.setToolTip("how strongly the map covers the image")
        self.opacity.valueChanged.connect(self.redraw)
        look.addWidget(self.opacity, 1)
        self.cmap_box = QComboBox()
        self.cmap_box.setObjectName("saliency_colormap")
        self.cmap_box.addItems(list(COLORMAPS))
        self.cmap_box.setToolTip("colormap of the heat map")
        self.cmap_box.currentIndexChanged.connect(self.redraw)
        look.addWidget(self.cmap_box)
        form.addRow("opacity", look)
        self._fill_methods(True)
        return form

    def _fill_methods(self, gradients: bool, cam_reason: str | None = None) -> None:
        """The methods this model supports; Grad-CAM stays listed but disabled with its reason
        where it cannot hook a layer (no modal error on every image change)."""
        current = self.method_box.currentData()
        self.method_box.blockSignals(True)
        self.method_box.clear()
        for name, title in METHOD_TITLES.items():
            if gradients or name == "occlusion":
                self.method_box.addItem(title, name)
                if name == "gradcam" and cam_reason:
                    row = self.method_box.count() - 1
                    self.method_box.model().item(row).setEnabled(False)
                    self.method_box.setItemData(row, f"Grad-CAM is off: {cam_reason}",
                                                Qt.ItemDataRole.ToolTipRole)
                    self.method_box.setItemText(row, f"{title} (not for this model)")
        if cam_reason and current == "gradcam":
            current = "gradient"
        index = self.method_box.findData(current if gradients else "occlusion")
        self.method_box.setCurrentIndex(max(0, index))
        self.method_box.blockSignals(False)
        self._on_method()

    # --- session events --------------------------------------------------------------------
    def _on_model(self) -> None:
        s = self.session
        clf = s.clf
        gradients = bool(clf is not None and clf.has_gradients)
        self._fill_methods(gradients, gradcam_unavailable(clf))
        if clf is not None and not gradients:
            why = s.info.get("gradients_unavailable_because") or "the back end gives only outputs"
            self.notice.setText(f"This model has no gradients ({why}): gradient, SmoothGrad, "
                                "Integrated Gradients and Grad-CAM need them, so only occlusion is offered.")
            self.notice.show()
        else:
            self.notice.hide()
        self.class_box.blockSignals(True)
        chosen = self.class_box.currentData()
        self.class_box.clear()
        self.class_box.addItem("predicted", None)
        if clf is not None:
            for i in range(clf.num_classes):
                self.class_box.addItem(f"class {s.label_name(i)}", i)
        self.class_box.setCurrentIndex(max(0, self.class_box.findData(chosen)))
        self.class_box.blockSignals(False)
        self._fill_layers()
        self.schedule()

    def _fill_layers(self) -> None:
        """Grad-CAM layers: inspecting the module's structure runs no forward pass."""
        names: list[str] = []
        clf = self.session.clf
        if clf is not None and clf.has_gradients:
            from advinspect.core.explain import conv_layers

            try:
                names = conv_layers(clf)
            except Exception:  # an exotic module: Grad-CAM reports the problem when chosen
                names = []
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItem(AUTO_LAYER, None)
        for name in names:
            self.layer_box.addItem(name, name)
        self.layer_box.blockSignals(False)

    def _on_visibility(self, visible: bool) -> None:
        if visible:
            self.schedule()

    def _on_results(self, indices: list[int]) -> None:
        if self.session.current in indices:
            self.schedule()

    def _on_method(self, *_: object) -> None:
        self.layer_box.setEnabled(self.method() == "gradcam")
        self.schedule()

    # --- computing -------------------------------------------------------------------------
    def method(self) -> str:
        return self.method_box.currentData() or "occlusion"

    def target(self) -> int | None:
        return self.class_box.currentData()

    def schedule(self, *_: object) -> None:
        """Recompute soon; bursts of changes (scrolling through images) coalesce into one job."""
        self._timer.start()

    def compute(self) -> None:
        """Submit the maps for the current state. Only while the dock is shown: a dock hidden
        behind a tab must not keep the worker busy (that would block the Run buttons)."""
        if not self.on_screen():
            return
        s = self.session
        index = s.current
        x = s.image(index)
        if s.clf is None or x is None:
            self._clear("no image")
            return
        if self._job is not None:  # one at a time: the newest request runs when this one ends
            self._dirty = True
            return
        result = s.results.get(index)
        x_adv = result.x_adv if result is not None else None
        method, target, layer = self.method(), self.target(), self.layer_box.currentData()
        clf = s.clf
        request = (id(clf), index, id(x_adv), method, target, layer)
        self.status.setText(f"computing {METHOD_TITLES[method]}…")

        config = saliency.Config(method=method, target="" if target is None else clf.spec.label_name(target),
                                 layer=(layer or "") if method == "gradcam" else "")
        inputs = saliency.Inputs(clf, Images(x[None], np.array([-1])), None if x_adv is None else x_adv[None])

        def job(progress, cancel) -> Any:
            return saliency.run(inputs, config, progress=progress, cancel=cancel)

        self._job = s.run_job(f"saliency ({method})", job, partial(self._on_maps, request),
                              error_title="Saliency failed", on_error=self._on_failed)

    def _on_maps(self, request: tuple, maps: Any) -> None:
        self._job = None
        s = self.session
        if request[0] != id(s.clf) or request[1] != s.current:  # stale: the model or image changed
            self._dirty = False
            self.schedule()
            return
        self.maps = maps
        self._request = request
        self.redraw()
        self.maps_ready.emit()
        if self._dirty:
            self._dirty = False
            self.schedule()

    def _on_failed(self, error: BaseException, _details: str) -> None:
        self._job = None
        self.status.setText(f"failed: {error}")
        if self._dirty:
            self._dirty = False
            self.schedule()

    def _clear(self, text: str) -> None:
        self.maps = None
        for item in self.items:
            item.clear()
        self.status.setText(text)

    def redraw(self, *_: object) -> None:
        s = self.session
        maps = self.maps
        x = s.image(s.current)
        if maps is None or x is None or self._request is None or self._request[1] != s.current:
            return
        opacity, cmap = self.opacity.value() / 100, self.cmap_box.currentText()
        self.items[0].setImage(blend(x, maps.maps[0], s.value_range, opacity, cmap), autoLevels=False,
                               levels=(0, 255))
        self.titles[0].setText(f"clean → {s.label_name(int(maps.targets[0]))}")
        result = s.results.get(s.current)
        if maps.adv_maps is not None and len(maps.adv_maps) and result is not None:
            self.items[1].setImage(blend(result.x_adv, maps.adv_maps[0], s.value_range, opacity, cmap),
                                   autoLevels=False, levels=(0, 255))
            self.titles[1].setText(f"adversarial ({result.attack}) → {s.label_name(int(maps.adv_targets[0]))}")
        else:
            self.items[1].clear()
            self.titles[1].setText("adversarial (not attacked)")
        self.views[0].autoRange(padding=0.02)
        layer = f", layer {maps.layer or 'last conv'}" if maps.method == "gradcam" else ""
        which = "predicted class" if self.target() is None else f"class {s.label_name(self.target())}"
        self.status.setText(f"{METHOD_TITLES[maps.method]}{layer}, explaining the {which}")
