"""Icons from resources/icons/*.svg, drawn in the palette's text colour so they suit light and dark."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

_SIZES = (16, 20, 24, 32, 48)


def resources_dir() -> Path:
    """resources/ next to the package (source tree), or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[3] / "resources"


@cache
def _svg_text(name: str) -> str | None:
    path = resources_dir() / "icons" / f"{name}.svg"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _default_color() -> QColor:
    app = QGuiApplication.instance()
    if app is None:
        return QColor("#444444")
    return QGuiApplication.palette().color(QPalette.ColorRole.WindowText)


_cache: dict[tuple[str, str], QIcon] = {}


def icon(name: str, color: QColor | str | None = None) -> QIcon:
    """The icon `name` (a file in resources/icons), in `color` or the palette's text colour.

    A missing file gives an empty icon, never an error: an icon is decoration.
    """
    qcolor = QColor(color) if color is not None else _default_color()
    key = (name, qcolor.name(QColor.NameFormat.HexArgb))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    text = _svg_text(name)
    result = QIcon()
    if text is not None:
        svg = text.replace("currentColor", qcolor.name())
        renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
        disabled = QColor(qcolor)
        disabled.setAlphaF(0.4)
        dis_renderer = QSvgRenderer(QByteArray(text.replace("currentColor", disabled.name()).encode()))
        for size in _SIZES:
            result.addPixmap(_render(renderer, size), QIcon.Mode.Normal)
            result.addPixmap(_render(dis_renderer, size, opacity=0.45), QIcon.Mode.Disabled)
    _cache[key] = result
    return result


def _render(renderer: QSvgRenderer, size: int, opacity: float = 1.0) -> QPixmap:
    ratio = QGuiApplication.instance().devicePixelRatio() if QGuiApplication.instance() else 1.0
    image = QImage(QSize(int(size * ratio), int(size * ratio)), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setOpacity(opacity)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def clear_icon_cache() -> None:
    """Forget drawn icons (after the palette changes between light and dark)."""
    _cache.clear()
