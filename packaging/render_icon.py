"""Render the application icon's SVG to the PNG that desktops and installers want (256x256).

    python packaging/render_icon.py   # writes resources/icons/app/cnnstudio.png

Run it after changing resources/icons/app/cnnstudio.svg; the PNG is committed so that neither the
build nor the app needs Qt's SVG support to show the icon in a launcher.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "app" / "cnnstudio.svg"
PNG = SVG.with_suffix(".png")
SIZE = 256


def render(svg: Path = SVG, png: Path = PNG, size: int = SIZE) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"cannot write {png}")
    return png


if __name__ == "__main__":
    print(f"wrote {render()}")
