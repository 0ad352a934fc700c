"""The Templates menu: ready-made designs, the pre-trained ones saying whether their ImageNet weights
are on this computer (or which imported file stands in for them), and "Load weights from file…" for the design's pre-trained network."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMenu, QWidget

from cnnstudio.core.spec import TEMPLATES, template
from cnnstudio.core.spec.backbones import Backbone, weights_origin
from cnnstudio.gui.style import icon

PRETRAINED = ("resnet18", "mobilenet-v3-small", "efficientnet-b0")


def template_arch(name: str) -> str | None:
    """The Backbone architecture a template uses, if any."""
    for layer in template(name).layers:
        if isinstance(layer, Backbone):
            return layer.arch
    return None


def template_label(name: str) -> str:
    title = TEMPLATES[name][0]
    arch = template_arch(name)
    if arch is None:
        return title
    origin = weights_origin(arch)  # "pre-trained on ImageNet", "imported from FILE" or "random weights"
    return f"{title} — {'random weights (not downloaded)' if origin == 'random weights' else origin}"


class TemplatesMenu(QMenu):
    def __init__(
        self,
        on_template: Callable[[str], None],
        on_load_weights: Callable[[], None],
        has_backbone: Callable[[], bool],
        parent: QWidget | None = None,
        missing_weights: Callable[[], int | None] = lambda: None,
        on_get_weights: Callable[[], None] = lambda: None,
    ):
        super().__init__("Templates", parent)
        self.setToolTipsVisible(True)
        self._on_template = on_template
        self._on_load_weights = on_load_weights
        self._has_backbone = has_backbone
        self._missing_weights = missing_weights
        self._on_get_weights = on_get_weights
        self.aboutToShow.connect(self.fill)
        self.fill()

    def fill(self) -> None:
        """Rebuilt each time it opens: weights may have been copied in meanwhile."""
        self.clear()
        self.addSection("Start from")
        for name in TEMPLATES:
            if name in PRETRAINED:
                continue
            self._add(name)
        self.addSection("Transfer learning (pre-trained on ImageNet)")
        for name in PRETRAINED:
            if name in TEMPLATES:
                self._add(name)
        self.addSeparator()
        load = self.addAction(icon("layers/weights"), "Load weights from file…")
        load.setToolTip(
            "Use a .pth or .safetensors file of torchvision weights for the design's pre-trained network."
        )
        load.triggered.connect(lambda _checked=False: self._on_load_weights())
        self.load_weights_action = load
        get = self.addAction(icon("layers/weights"), "Get the pre-trained weights…")
        get.setToolTip(
            "Download torchvision's official ImageNet weights for the design's pre-trained network."
        )
        get.triggered.connect(lambda _checked=False: self._on_get_weights())
        self.get_weights_action = get
        self.update_state()

    def update_state(self) -> None:
        """Enable "Load weights from file…" only when the design has a pre-trained network."""
        self.load_weights_action.setEnabled(self._has_backbone())
        missing = self._missing_weights()
        self.get_weights_action.setEnabled(missing is not None)
        self.get_weights_action.setText(
            "Get the pre-trained weights…"
            if missing is None
            else f"Get the pre-trained weights ({missing} MB)…"
        )

    def _add(self, name: str) -> None:
        action = self.addAction(icon("layers/template"), template_label(name))
        action.setToolTip(TEMPLATES[name][1] + " Replaces the current design (Undo brings it back).")
        action.setData(name)
        action.triggered.connect(lambda _checked=False, name=name: self._on_template(name))
