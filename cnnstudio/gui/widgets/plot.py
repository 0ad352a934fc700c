"""The themed plot every section draws its curves on (search, compare, ...).

plot = themed_plot("Loss", "epoch", "loss", min_height=170)   # a pyqtgraph PlotWidget
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QGuiApplication, QPalette


def themed_plot(title: str, x_label: str, y_label: str, min_height: int = 160) -> pg.PlotWidget:
    """A pyqtgraph plot in the palette's colours (light or dark), without its menu and buttons."""
    palette = QGuiApplication.palette()
    widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
    text = palette.color(QPalette.ColorRole.Text)
    item = widget.getPlotItem()
    item.setTitle(title, color=text.name(), size="10pt")
    item.showGrid(x=True, y=True, alpha=0.15)
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        axis.enableAutoSIPrefix(False)  # "accuracy (x0.001)" with ticks at 500 reads as nonsense
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.setMenuEnabled(False)
    item.hideButtons()
    widget.setMinimumHeight(min_height)
    return widget
