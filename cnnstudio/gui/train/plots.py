"""Live curves: loss and accuracy (training per batch, smoothed, and per epoch; validation per epoch),
the learning rate, and other runs overlaid for comparison.

New points go into `DecimatingSeries` as they arrive; `refresh()` copies at most a few thousand
points per curve into pyqtgraph, and does nothing while the plots are hidden. The panel calls it a
few times a second, so a run of 1,000 epochs x 1,000 batches draws as fast as a short one.

The axes' ranges are set here, not by pyqtgraph's auto-range: the x axis spans the whole run from
its start, and the loss axis moves only when the curves leave it or shrink well inside it. Measured
while training: auto-range repainted each plot twice per refresh and redrew its axes and grid each
time (the costly part), about 20 ms a plot on this machine's shared CPU; with fixed ranges most
refreshes repaint only the curves.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QWidget

from cnnstudio.gui.style import class_color
from cnnstudio.gui.train.feed import BatchPoint
from cnnstudio.gui.train.series import DecimatingSeries, Smoother
from cnnstudio.gui.widgets.plot import (
    fit_legend_columns,
    legend_below,
    short_run_name,
    style_plot,
    x_range_for,
)

TRAIN_COLOR = "#4e79a7"
VAL_COLOR = "#f28e2b"
LR_COLOR = "#59a14f"
SYMBOLS_UP_TO = 60  # epoch markers while there are this few epochs (more would clutter the line)


def _pen(color: str | QColor, width: float = 2.0, alpha: int = 255, dash: bool = False):
    c = QColor(color)
    c.setAlpha(alpha)
    pen = pg.mkPen(c, width=width)
    if dash:
        pen.setStyle(Qt.PenStyle.DashLine)
    return pen


class _Plot(pg.PlotWidget):
    def __init__(self, title: str, y_label: str, parent: QWidget | None = None):
        super().__init__(parent)
        style_plot(self, title, "epoch", y_label, min_height=150)  # the app's one chart styling
        item = self.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.12)
        for name in ("left", "bottom"):
            # Major ticks only: the grid is drawn per tick level, and minor levels tripled the cost
            # of every repaint (measured), for lines nobody reads while a run trains.
            item.getAxis(name).setStyle(maxTickLevel=0)
        self.legend = legend_below(self)  # under the chart: a flat curve is never hidden behind it

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if getattr(self, "legend", None) is not None:  # pyqtgraph resizes once before it exists
            fit_legend_columns(self, self.legend)

    def curve(self, pen, name: str | None = None, symbol: bool = False, color: str | None = None):
        kwargs: dict[str, Any] = {"pen": pen, "name": name, "connect": "finite"}
        if symbol:
            kwargs.update(symbol="o", symbolSize=5, symbolPen=None, symbolBrush=pg.mkBrush(color))
        item = self.plot([], [], **kwargs)
        item.setClipToView(True)
        return item


def _sticky_range(shown: tuple[float, float] | None, low: float, high: float) -> tuple[float, float]:
    """The loss axis: from 0 (a loss is never below) to a little above the highest value, unchanged
    while the curves stay inside it and reach above 40% of it."""
    bottom = min(0.0, low)
    if shown is not None:
        inside = shown[0] <= low and high <= shown[1]
        if inside and high - bottom >= 0.4 * (shown[1] - shown[0]):
            return shown
    return (bottom, bottom + max(high - bottom, 1e-6) * 1.08)


class TrainingPlots(QWidget):
    def __init__(self, parent: QWidget | None = None, max_points: int = 1500):
        super().__init__(parent)
        self.max_points = max_points
        # No y-axis words: the titles say them, and a narrow chart (1000 x 700) keeps its width for data.
        self.loss_plot = _Plot("Loss (lower is better)", "", self)
        self.accuracy_plot = _Plot("Accuracy (higher is better)", "", self)
        self.accuracy_plot.setYRange(0, 1, padding=0.02)
        self.lr_plot = _Plot("Learning rate", "learning rate", self)
        self.lr_plot.setLogMode(y=True)
        self.lr_plot.getPlotItem().setLabel("left", "")
        self.lr_plot.setMaximumHeight(170)
        self.lr_plot.setMinimumHeight(130)
        self.lr_plot.getPlotItem().layout.removeItem(self.lr_plot.legend)
        self.lr_plot.legend.hide()

        self.curves = {
            "batch_loss": self.loss_plot.curve(_pen(TRAIN_COLOR, 1, 90), "each batch (smoothed)"),
            "loss": self.loss_plot.curve(_pen(TRAIN_COLOR), "training", True, TRAIN_COLOR),
            "val_loss": self.loss_plot.curve(_pen(VAL_COLOR), "validation", True, VAL_COLOR),
            "batch_accuracy": self.accuracy_plot.curve(_pen(TRAIN_COLOR, 1, 90), "each batch (smoothed)"),
            "accuracy": self.accuracy_plot.curve(_pen(TRAIN_COLOR), "training", True, TRAIN_COLOR),
            "val_accuracy": self.accuracy_plot.curve(_pen(VAL_COLOR), "validation", True, VAL_COLOR),
            "lr": self.lr_plot.curve(_pen(LR_COLOR, 1.5)),
        }
        for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
            plot.getPlotItem().disableAutoRange()
        self._symbols = True
        self.run_epochs = 1  # the x axis spans at least this many epochs
        self._x_shown: float | None = None
        self._loss_shown: tuple[float, float] | None = None
        self._lr_shown: tuple[float, float] | None = None
        self.overlays: dict[str, list[tuple[_Plot, pg.PlotDataItem]]] = {}
        self.live_name: str | None = None  # the run the blue and orange curves belong to
        self._legend_names: dict[str, str] = {}

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.accuracy_plot, 0, 1)
        grid.addWidget(self.lr_plot, 1, 0, 1, 2)
        grid.setRowStretch(0, 1)
        self.clear()

    # ---- data ----------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget the live run's points (overlays stay)."""
        self.series = {k: DecimatingSeries(self.max_points) for k in ("batch_loss", "batch_accuracy", "lr")}
        self._smooth_loss = Smoother(0.9)
        self._smooth_accuracy = Smoother(0.9)
        self.epochs: dict[str, list[float]] = {
            k: [] for k in ("x", "loss", "accuracy", "val_loss", "val_accuracy")
        }
        self._dirty = True
        # The axes start again too: a new project's empty charts do not keep the last run's ranges.
        self._loss_shown = self._lr_shown = self._x_shown = None
        self.run_epochs = 1
        self.live_name = None
        self._label_live()
        self.refresh()

    def set_run_length(self, epochs: int) -> None:
        """The run's number of epochs: the x axis shows the whole run from its start."""
        self.run_epochs = max(1, int(epochs))
        self._dirty = True

    def add_batches(self, points: Iterable[BatchPoint]) -> None:
        loss, accuracy, lr = self.series["batch_loss"], self.series["batch_accuracy"], self.series["lr"]
        smooth_loss, smooth_accuracy = self._smooth_loss, self._smooth_accuracy
        for p in points:
            loss.append(p.x, smooth_loss(p.loss))
            accuracy.append(p.x, smooth_accuracy(p.accuracy))
            lr.append(p.x, p.lr)
            self._dirty = True

    def add_epochs(self, logs: Iterable[dict[str, Any]]) -> None:
        for e in logs:
            self.epochs["x"].append(e["epoch"] + 1)
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                value = e.get(key)
                self.epochs[key].append(math.nan if value is None else float(value))
            self._dirty = True

    def set_epochs(self, logs: Iterable[dict[str, Any]]) -> None:
        """Replace the epoch curves (a resumed run shows the epochs it had done before). The learning
        rate of those epochs is drawn at each one's end, so its chart starts where the run started,
        not where it resumed (its batches are not kept)."""
        logs = list(logs)
        self.epochs = {k: [] for k in self.epochs}
        self.add_epochs(logs)
        self.series["lr"] = lr = DecimatingSeries(self.max_points)
        for e in logs:
            if e.get("lr") is not None:
                lr.append(e["epoch"] + 1, float(e["lr"]))
        self._dirty = True

    # ---- drawing -------------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        if not (self._dirty or force) or (not self.isVisible() and not force):
            return
        self._dirty = False
        for key in ("batch_loss", "batch_accuracy", "lr"):
            x, y = self.series[key].data()
            if key == "lr":
                keep = y > 0  # a log axis cannot show 0
                x, y = x[keep], y[keep]
            self.curves[key].setData(x, y)
        x = np.asarray(self.epochs["x"], dtype=float)
        symbols = len(x) <= SYMBOLS_UP_TO
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            y = np.asarray(self.epochs[key], dtype=float)
            curve = self.curves[key]
            if symbols != self._symbols:
                curve.setSymbol("o" if symbols else None)
            curve.setData(x, y)
        self._symbols = symbols
        self._update_ranges()

    def _update_ranges(self) -> None:
        x_max = float(self.run_epochs)
        losses = []
        for key in ("batch_loss", "loss", "val_loss"):
            x, y = self.curves[key].getData()
            if x is not None and len(x):
                x_max = max(x_max, float(np.nanmax(x)))
                losses.append(y)
        for items in self.overlays.values():
            for plot, item in items:
                x, y = item.getData()
                if x is not None and len(x):
                    x_max = max(x_max, float(np.nanmax(x)))
                    if plot is self.loss_plot:
                        losses.append(y)
        if x_max != self._x_shown:
            self._x_shown = x_max
            for plot in (self.loss_plot, self.accuracy_plot, self.lr_plot):
                plot.setXRange(*x_range_for(x_max), padding=0)  # the last epoch's dots whole
        values = np.concatenate(losses) if losses else np.empty(0)
        values = values[np.isfinite(values)]
        if len(values):
            self._loss_shown = _sticky_range(self._loss_shown, float(values.min()), float(values.max()))
            self.loss_plot.setYRange(*self._loss_shown, padding=0)
        elif self._loss_shown is None:
            self.loss_plot.setYRange(0, 1, padding=0)  # empty: not the range of a run shown before
        _, lr = self.curves["lr"].getData()
        if (lr is None or not len(lr)) and self._lr_shown is None:
            # Before training: a fixed range labelled at powers of ten, not pyqtgraph's default
            # labels of an empty log axis drawn on top of each other.
            self._lr_shown = (-4, -2)
            self.lr_plot.setYRange(-4, -2, padding=0.05)
            self.lr_plot.getAxis("left").setTicks([[(v, f"{10.0**v:g}") for v in range(-4, -1)], []])
        elif lr is not None and len(lr):  # log10 values
            low, high = float(np.min(lr)), float(np.max(lr))
            if self._lr_shown is None or not (self._lr_shown[0] <= low and high <= self._lr_shown[1]):
                # Whole decades, at least two, labelled only at powers of ten: the plot is short,
                # and pyqtgraph's log axis would label every in-between value on top of each other.
                bottom, top = math.floor(low - 0.25), math.ceil(high + 0.25)
                if top - bottom < 2:
                    bottom, top = bottom - 1, top + (1 if top - bottom < 1 else 0)
                self._lr_shown = (bottom, top)
                self.lr_plot.setYRange(bottom, top, padding=0.05)
                ticks = [(v, f"{10.0**v:g}") for v in range(bottom, top + 1)]
                self.lr_plot.getAxis("left").setTicks([ticks, []])

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh(force=True)

    # ---- other runs ----------------------------------------------------------------------------
    def set_live_name(self, name: str | None) -> None:
        """Which run the live (blue and orange) curves show: named in the legend beside other runs."""
        self.live_name = name
        self._label_live()

    def _label_live(self) -> None:
        """The live curves' legend names: with other runs drawn, they say which run they are."""
        prefix = f"{short_run_name(self.live_name)}: " if self.live_name and self.overlays else ""
        names = {
            "batch_loss": "each batch (smoothed)",
            "loss": f"{prefix}training",
            "val_loss": f"{prefix}validation",
            "batch_accuracy": "each batch (smoothed)",
            "accuracy": f"{prefix}training",
            "val_accuracy": f"{prefix}validation",
        }
        if names == self._legend_names:
            return
        self._legend_names = names
        for key, name in names.items():
            curve = self.curves[key]
            plot = self.loss_plot if "loss" in key else self.accuracy_plot
            plot.legend.removeItem(curve)
            plot.legend.addItem(curve, name)

    def set_overlays(self, runs: list[tuple[str, dict[str, list]]]) -> None:
        """Draw these runs' epoch curves (name, read_curves(run)) next to the live one, one colour each
        (never the live run's blue or orange), under the live curves, named in the legend:
        dashed = training, solid = validation. The live run itself is not drawn twice."""
        for items in self.overlays.values():
            for plot, item in items:
                plot.legend.removeItem(item)
                plot.removeItem(item)
        self.overlays = {}
        runs = [(name, curves) for name, curves in runs if name != self.live_name]
        for i, (name, curves) in enumerate(runs):
            color = class_color(i + 2)  # 0 and 1 look like the live run's own colours
            x = np.asarray(curves["x"], dtype=float)
            items = []
            for plot, key in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy")):
                values = {
                    k: np.array([math.nan if v is None else v for v in curves[k]], dtype=float)
                    for k in (key, f"val_{key}")
                }
                dots = (
                    {"symbol": "o", "symbolSize": 5, "symbolPen": None, "symbolBrush": color}
                    if len(x) <= SYMBOLS_UP_TO
                    else {}
                )
                train = plot.plot(
                    x, values[key], pen=_pen(color, 1.5, 200, dash=True), connect="finite", **dots
                )
                val = plot.plot(x, values[f"val_{key}"], pen=_pen(color, 2), connect="finite", **dots)
                for item in (train, val):
                    item.setZValue(-1)  # under the live run's curves
                items += [(plot, train), (plot, val)]
                short = short_run_name(name)
                if not np.isnan(values[f"val_{key}"]).all():
                    plot.legend.addItem(val, f"{short}: validation")
                plot.legend.addItem(train, f"{short}: training")  # its sample is dashed
            self.overlays[name] = items
        self._label_live()
        for plot in (self.loss_plot, self.accuracy_plot):
            fit_legend_columns(plot, plot.legend)
        self._loss_shown = None
        self._update_ranges()

    def view_ranges(self) -> dict[str, list[list[float]]]:
        return {
            name: getattr(self, f"{name}_plot").getPlotItem().viewRange()
            for name in ("loss", "accuracy", "lr")
        }

    def point_counts(self) -> dict[str, int]:
        """How many points each live curve draws now (tests and the benchmark read it)."""
        counts = {}
        for key, curve in self.curves.items():
            x, _ = curve.getData()
            counts[key] = 0 if x is None else len(x)
        return counts
