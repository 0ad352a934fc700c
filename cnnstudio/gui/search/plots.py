"""Two plots of a search: the metric against one setting (chosen in a list), and the metric over
the trials with the best so far as a step line.

Finished trials are filled dots; pruned trials are hollow grey dots at the value they had when they
stopped; the best trial is a larger dot. A setting searched on a log scale (the learning rate) gets
a log axis; a choice of words (the optimizer) gets one column per word.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cnnstudio.core.search.records import TrialRecord
from cnnstudio.core.search.settings import METRICS, Metric
from cnnstudio.core.search.space import PARAMS
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.widgets.plot import themed_plot

DONE_COLOR = "#4e79a7"
BEST_COLOR = "#f28e2b"


class SearchPlots(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.metric: Metric = METRICS["val_accuracy"]
        self.params: list[str] = []
        self.log_params: set[str] = set()
        self.records: list[TrialRecord] = []
        self.param_choice = QComboBox()
        self.param_choice.currentIndexChanged.connect(self._draw_param)
        self.param_plot = themed_plot("Metric against a setting", "", "")
        self.time_plot = themed_plot("Over the trials", "trial", "")
        self.empty = QLabel("The plots fill as trials finish.")
        self.empty.setStyleSheet(f"color: {muted_color().name()};")
        muted = muted_color().name()
        self.key = QLabel(
            f"<span style='color:{DONE_COLOR}'>●</span> finished &nbsp; "
            f"<span style='color:{muted}'>○</span> stopped early &nbsp; "
            f"<span style='color:{BEST_COLOR}'>●</span> best &nbsp; "
            f"<span style='color:{BEST_COLOR}'>—</span> best so far"
        )
        self.key.setToolTip("A trial stopped early is drawn at the value it had when it stopped.")
        # The key wraps and the note sits above the plots: the two plots fit side by side at 1000 x 700.
        self.key.setWordWrap(True)
        self.empty.setWordWrap(True)
        self.param_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.param_choice.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        choose = QHBoxLayout()
        choose.addWidget(QLabel("Setting:"))
        choose.addWidget(self.param_choice)
        choose.addStretch(1)
        left = QVBoxLayout()
        left.addLayout(choose)
        left.addWidget(self.param_plot, 1)
        right = QVBoxLayout()
        right.addWidget(self.key)
        right.addWidget(self.time_plot, 1)
        row = QHBoxLayout()
        row.addLayout(left, 1)
        row.addLayout(right, 1)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.empty)
        column.addLayout(row, 1)

    def set_study(self, metric: str, params: list[str], log_params: set[str]) -> None:
        self.metric = METRICS[metric]
        self.params = list(params)
        self.log_params = set(log_params)
        self.param_choice.blockSignals(True)
        self.param_choice.clear()
        for name in self.params:
            self.param_choice.addItem(PARAMS[name].label, name)
        self.param_choice.blockSignals(False)
        self.time_plot.getPlotItem().setLabel("left", self.metric.label.lower())
        self.param_plot.getPlotItem().setLabel(
            "left", ""
        )  # its title names the metric: the width goes to data
        self.set_records([])

    def set_records(self, records: list[TrialRecord]) -> None:
        self.records = list(records)
        self.empty.setVisible(not any(r.last_value is not None for r in self.records))
        self._draw_param()
        self._draw_time()

    # ---- drawing ---------------------------------------------------------------------------------
    def _groups(self) -> tuple[list[TrialRecord], list[TrialRecord], TrialRecord | None]:
        done = [
            r
            for r in self.records
            if r.state == "complete" and r.value is not None and math.isfinite(r.value)
        ]
        stopped = [
            r
            for r in self.records
            if r.state == "pruned" and r.last_value is not None and math.isfinite(r.last_value)
        ]
        best = None
        if done:
            best = (max if self.metric.higher_is_better else min)(done, key=lambda r: r.value)
        return done, stopped, best

    def _scatter(self, plot, xs, ys, *, hollow=False, size=8, color=DONE_COLOR, name=None) -> None:
        if not len(xs):
            return
        if hollow:
            muted = muted_color()
            kwargs = {"pen": pg.mkPen(muted, width=1.2), "brush": pg.mkBrush(QColor(0, 0, 0, 0))}
        else:
            kwargs = {"pen": None, "brush": pg.mkBrush(color)}
        plot.addItem(
            pg.ScatterPlotItem(np.asarray(xs, float), np.asarray(ys, float), size=size, name=name, **kwargs)
        )

    def _draw_param(self, *_args) -> None:
        plot = self.param_plot
        plot.clear()
        name = self.param_choice.currentData()
        item = plot.getPlotItem()
        if name is None:
            return
        label = PARAMS[name].label
        # The setting is the bottom axis's label: a title naming both was wider than a narrow chart.
        item.setTitle(self.metric.label, color=self._text_color(), size="10pt")
        item.setLabel("bottom", label.lower())
        done, stopped, best = self._groups()
        values = [r.params.get(name) for r in self.records if name in r.params]
        words = sorted({v for v in values if isinstance(v, str)})
        axis = item.getAxis("bottom")
        log = name in self.log_params and not words

        def x_of(r: TrialRecord) -> float:
            v = r.params.get(name)
            if words:
                return float(words.index(v)) if v in words else math.nan
            return math.log10(v) if log and v and v > 0 else float(v) if v is not None else math.nan

        if words:
            axis.setTicks([[(i, w) for i, w in enumerate(words)]])
        else:
            axis.setTicks(None)
        item.setLogMode(x=False)
        self._scatter(plot, [x_of(r) for r in stopped], [r.last_value for r in stopped], hollow=True)
        self._scatter(plot, [x_of(r) for r in done], [r.value for r in done])
        if best is not None:
            self._scatter(plot, [x_of(best)], [best.value], size=13, color=BEST_COLOR)
        if log:
            # Values are drawn at log10(x): label the ticks with the real values.
            xs = [x_of(r) for r in self.records if not math.isnan(x_of(r))]
            if xs:
                lo, hi = math.floor(min(xs)), math.ceil(max(xs))
                axis.setTicks([[(p, f"{10.0**p:g}") for p in range(lo, hi + 1)]])

    def _draw_time(self) -> None:
        plot = self.time_plot
        plot.clear()
        done, stopped, best = self._groups()
        self._scatter(plot, [r.number for r in stopped], [r.last_value for r in stopped], hollow=True)
        self._scatter(plot, [r.number for r in done], [r.value for r in done])
        if best is not None:
            self._scatter(plot, [best.number], [best.value], size=13, color=BEST_COLOR)
        if done:
            # The best so far as steps: flat until a trial beats it, then up (or down) at that trial.
            xs: list[float] = []
            ys: list[float] = []
            for r in sorted(done, key=lambda r: r.number):
                if ys and not self.metric.better(r.value, ys[-1]):
                    continue
                if ys:
                    xs.append(r.number)
                    ys.append(ys[-1])
                xs.append(r.number)
                ys.append(r.value)
            xs.append(max(r.number for r in self.records))
            ys.append(ys[-1])
            plot.plot(xs, ys, pen=pg.mkPen(BEST_COLOR, width=2))

    def _text_color(self) -> str:
        return QGuiApplication.palette().color(QPalette.ColorRole.Text).name()
