"""Colours that follow the system's light or dark palette."""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette

# A qualitative palette (Tableau 10): distinct for neighbouring classes, readable on light and dark.
_CLASS_COLORS = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def class_color(i: int) -> QColor:
    return QColor(_CLASS_COLORS[i % len(_CLASS_COLORS)])


def muted_color(palette: QPalette | None = None) -> QColor:
    """Secondary text: between the text colour and the background."""
    palette = palette or QGuiApplication.palette()
    text = palette.color(QPalette.ColorRole.WindowText)
    base = palette.color(QPalette.ColorRole.Window)
    return QColor(
        (text.red() * 3 + base.red() * 2) // 5,
        (text.green() * 3 + base.green() * 2) // 5,
        (text.blue() * 3 + base.blue() * 2) // 5,
    )


def warning_color(palette: QPalette | None = None) -> QColor:
    return QColor("#f0a030") if is_dark(palette) else QColor("#b35c00")


def error_color(palette: QPalette | None = None) -> QColor:
    return QColor("#ff6b6b") if is_dark(palette) else QColor("#c0392b")
