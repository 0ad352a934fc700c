"""Start the app: the QApplication, its look, the main window, and what to open first.

The window shows before torch is imported: nothing on this path imports it; sections that train
import it when they first need it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

ORGANIZATION = "CNNStudio"
APPLICATION = "CNN Studio"


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (the existing one if there is one), named for QSettings, following the system's
    light or dark palette."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setDesktopFileName("cnnstudio")  # matches resources/cnnstudio.desktop (Wayland, task bars)
    from cnnstudio.gui.style.icons import resources_dir

    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "app" / "cnnstudio.png")))
    if sys.platform.startswith("linux") and app.style().name().lower() not in ("fusion", "breeze", "kvantum"):
        app.setStyle("Fusion")  # the platform's palette, light or dark, with a style that draws it well
    _follow_color_scheme(app)
    return app


def _follow_color_scheme(_app: QApplication) -> None:
    """Icons are drawn in the palette's text colour: redraw them when the system switches light/dark."""
    from cnnstudio.gui.style.icons import clear_icon_cache

    hints = QGuiApplication.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(lambda _scheme: clear_icon_cache())


def run(project: str | Path | None = None, demo: bool = False) -> int:
    """Open the main window: on `project`, on the demo, or on the last project (else the welcome page)."""
    app = create_app(sys.argv[:1])
    from cnnstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if demo:
        window.open_demo()
    elif project is not None:
        window.open_path(project)
    else:
        window.restore_last_project()
    return app.exec()
