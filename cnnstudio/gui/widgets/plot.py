"""The one styling every chart of the app shares (Train, Search, Compare, Evaluate...).

plot = themed_plot("Loss", "epoch", "loss", min_height=170)   # a pyqtgraph PlotWidget
style_plot(widget, "Loss", "epoch", "loss")                     # the same look on a PlotWidget subclass
legend = legend_below(widget)                                   # a legend under the chart, never on it

A legend drawn inside the chart hides the curves under it (a flat curve disappears behind it, and a
long run name is cut at the chart's edge); `legend_below` lays it out under the bottom axis, its
entries in as many columns as the width allows.
"""

from __future__ import annotations

import re

import pyqtgraph as pg
from PySide6.QtGui import QGuiApplication, QPalette

X_MARGIN = 0.04  # of the x span past the last epoch (6 px of a 150 px chart): its dot is whole


def style_plot(widget: pg.PlotWidget, title: str, x_label: str, y_label: str, min_height: int = 160) -> None:
    """The palette's colours (light or dark), a light grid, no menu or buttons, no SI prefixes."""
    palette = QGuiApplication.palette()
    widget.setBackground(palette.color(QPalette.ColorRole.Base))
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


def themed_plot(title: str, x_label: str, y_label: str, min_height: int = 160) -> pg.PlotWidget:
    """A pyqtgraph plot in the app's shared styling."""
    widget = pg.PlotWidget()
    style_plot(widget, title, x_label, y_label, min_height)
    return widget


def legend_below(widget: pg.PlotWidget, columns: int = 2) -> pg.LegendItem:
    """A legend laid out under the chart's bottom axis (outside the data), `columns` entries a row."""
    palette = QGuiApplication.palette()
    item = widget.getPlotItem()
    legend = pg.LegendItem(
        labelTextColor=palette.color(QPalette.ColorRole.Text),
        labelTextSize="8pt",
        colCount=columns,
        verSpacing=-6,
        horSpacing=12,
    )
    legend.layout.setContentsMargins(2, 0, 2, 0)
    item.layout.addItem(legend, 4, 0, 1, 3)  # the chart's whole width, left axis included
    item.legend = legend  # PlotItem.plot(name=...) adds its curves here
    return legend


def fit_legend_columns(widget: pg.PlotWidget, legend: pg.LegendItem, most: int = 2) -> None:
    """As many columns (up to `most`) as fit the chart's width, so no entry is pushed out of view."""
    widest = max(
        (sample.boundingRect().width() + label.boundingRect().width() + 20 for sample, label in legend.items),
        default=0,
    )
    columns = max(1, min(most, int(widget.width() // max(widest, 1.0))))
    if columns != legend.columnCount:
        legend.setColumnCount(columns)


def short_run_name(name: str) -> str:
    """A run's name for a legend: "20261207-124459-resnet18" -> "resnet18 (12:44)"."""
    match = re.fullmatch(r"\d{8}-(\d{2})(\d{2})\d{2}-(.+)", name)
    return f"{match.group(3)} ({match.group(1)}:{match.group(2)})" if match else name


def x_range_for(last: float) -> tuple[float, float]:
    """From 0 to a little past the last epoch, so the last epoch's dot is not cut at the edge."""
    last = max(float(last), 1.0)
    return 0.0, last * (1 + X_MARGIN)
