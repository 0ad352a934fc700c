"""A live preview of augmentation: a few training pictures, each shown as it is and as training may
see it, redrawn as the sliders move.

The pictures are decoded once at the model's input size and kept; each redraw runs `augment_batch`
(the trainer's own code, so the preview shows exactly what training does) on those few pictures in a
quiet background task, debounced, so dragging a slider never stalls the window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cnnstudio.gui.style import muted_color
from cnnstudio.gui.workers import TaskRunner

ROWS = 2
VARIANTS = 3  # augmented copies shown next to each original
CELL = 64  # pixels
DEBOUNCE_MS = 120


def pick_samples(index, count: int = ROWS) -> list[str]:
    """Paths of `count` usable training pictures, from different classes where possible."""
    if index is None:
        return []
    by_class: dict[str, list[str]] = {}
    for s in index.samples:
        if s.problem is None and s.label is not None and s.split in ("train", None):
            by_class.setdefault(s.label, []).append(s.path)
    picked: list[str] = []
    classes = sorted(by_class)
    depth = 0
    while len(picked) < count and classes:
        added = False
        for name in classes:
            paths = by_class[name]
            if depth < len(paths):
                picked.append(paths[(depth * 7) % len(paths)] if depth else paths[0])
                added = True
                if len(picked) == count:
                    break
        if not added:
            break
        depth += 1
    return picked


def _augment(images: np.ndarray, config, seed: int) -> np.ndarray:
    """(rows, C, H, W) uint8 -> (rows, VARIANTS, C, H, W) uint8, in a worker."""
    import torch

    from cnnstudio.core.train.augment import augment_batch

    x = torch.from_numpy(np.repeat(images, VARIANTS, axis=0)).float() / 255.0
    generator = torch.Generator().manual_seed(seed)
    out = augment_batch(x, config, generator, value_range=1.0)
    out = (out.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return out.reshape(images.shape[0], VARIANTS, *images.shape[1:])


def to_pixmap(image: np.ndarray, size: int = CELL) -> QPixmap:
    """A (C, H, W) uint8 picture (C = 1 or 3) as a pixmap `size` pixels wide."""
    c, h, w = image.shape
    if c == 1:
        data = np.ascontiguousarray(image[0])
        qimage = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        data = np.ascontiguousarray(image.transpose(1, 2, 0))
        qimage = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    pixmap = QPixmap.fromImage(qimage.copy())  # copy: the numpy buffer goes away
    return pixmap.scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


class AugmentPreview(QWidget):
    def __init__(self, tasks: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.tasks = tasks
        self.images: np.ndarray | None = None  # (rows, C, H, W) uint8
        self.config = None
        self.seed = 0
        self._busy = False
        self._again = False
        self._key: tuple | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._redraw)

        self.cells: list[list[QLabel]] = []
        grid = QGridLayout()
        grid.setSpacing(3)
        for col, text in enumerate(["original"] + ["as training may see it"] + [""] * (VARIANTS - 1)):
            if text:
                label = QLabel(text)
                label.setStyleSheet(f"color: {muted_color().name()}; font-size: 10px;")
                grid.addWidget(label, 0, col, 1, 1 if col == 0 else VARIANTS)
        for row in range(ROWS):
            cells = []
            for col in range(VARIANTS + 1):
                cell = QLabel()
                cell.setFixedSize(CELL, CELL)
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                cell.setStyleSheet("background: palette(base); border-radius: 3px;")
                grid.addWidget(cell, row + 1, col)
                cells.append(cell)
            self.cells.append(cells)
        self.message = QLabel("The preview shows training pictures once the dataset is listed.")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {muted_color().name()}; font-size: 11px;")
        self.again_button = QPushButton("Other random changes")
        self.again_button.clicked.connect(self.shuffle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        row.addLayout(grid)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.again_button, 0, Qt.AlignmentFlag.AlignLeft)

    # ---- inputs --------------------------------------------------------------------------------
    def set_samples(self, paths: list[str], preprocessing) -> None:
        """Decode these pictures at the model's input size (in a worker), then draw."""
        key = (
            tuple(paths),
            preprocessing.height,
            preprocessing.width,
            preprocessing.channels,
            preprocessing.fit,
        )
        if key == self._key:
            return
        self._key = key
        if not paths:
            self.images = None
            self._show(None)
            return
        channels = 1 if preprocessing.channels == "L" else 3

        def decode(_ctx) -> np.ndarray:
            from cnnstudio.core.dataset import decode_image

            return np.stack(
                [
                    decode_image(p, preprocessing.height, preprocessing.width, channels, preprocessing.fit)
                    for p in paths
                ]
            )

        self.tasks.start(
            "Loading preview pictures",
            lambda ctx: (key, decode(ctx)),
            on_success=self._decoded,  # a method: Qt drops the call when this widget is gone
            quiet=True,
            background=True,
        )

    def _decoded(self, result: tuple[Any, np.ndarray]) -> None:
        key, images = result
        if key == self._key:
            self.images = images
            self._redraw()

    def set_config(self, config) -> None:
        self.config = config
        self._timer.start()

    def shuffle(self) -> None:
        self.seed += 1
        self._redraw()

    # ---- drawing -------------------------------------------------------------------------------
    def _redraw(self) -> None:
        if self.images is None or self.config is None:
            return
        if self._busy:  # one at a time; the newest settings win
            self._again = True
            return
        self._busy = True
        images, config, seed = self.images, self.config, self.seed
        task = self.tasks.start(
            "Drawing the augmentation preview",
            lambda _ctx: (images, _augment(images, config, seed)),
            on_success=self._drawn,  # methods: Qt drops the calls when this widget is gone
            quiet=True,
            background=True,
        )
        task.done.connect(self._drawing_ended)

    def _drawn(self, result: tuple[np.ndarray, np.ndarray]) -> None:
        self._show(*result)

    def _drawing_ended(self) -> None:
        self._busy = False
        if self._again:
            self._again = False
            self._redraw()

    def _show(self, images: np.ndarray | None, augmented: np.ndarray | None = None) -> None:
        self.message.setVisible(images is None)
        for row, cells in enumerate(self.cells):
            for col, cell in enumerate(cells):
                if images is None or row >= len(images):
                    cell.clear()
                    continue
                picture = (
                    images[row]
                    if col == 0
                    else (augmented[row, col - 1] if augmented is not None else images[row])
                )
                cell.setPixmap(to_pixmap(picture))

    def shown_count(self) -> int:
        """How many cells show a picture (tests)."""
        return sum(
            1 for cells in self.cells for c in cells if c.pixmap() is not None and not c.pixmap().isNull()
        )
