"""Charts show all their data (issue 23 item 5): the legend sits outside the curves, the last
epoch's dots are whole, a compared run's name is not cut, and every chart shares one styling."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF

EPOCHS = 3


@pytest.fixture
def plots(qtbot):
    from cnnstudio.gui.train.plots import TrainingPlots

    widget = TrainingPlots()
    qtbot.addWidget(widget)
    widget.resize(640, 480)
    widget.show()
    widget.set_run_length(EPOCHS)
    flat = [  # flat curves where the legends used to be: loss top right, accuracy bottom right
        {"epoch": i, "loss": 1.0, "val_loss": 0.98, "accuracy": 0.12, "val_accuracy": 0.1, "lr": 1e-3}
        for i in range(EPOCHS)
    ]
    widget.set_epochs(flat)
    widget.refresh(force=True)
    qtbot.wait(50)
    return widget


def _vb_rect(plot):
    return plot.getPlotItem().getViewBox().sceneBoundingRect()


def test_the_legends_do_not_cover_the_curves(plots):
    for plot in (plots.loss_plot, plots.accuracy_plot):
        legend = plot.legend
        assert legend.isVisible() and legend.items, "the legend names the curves"
        assert not legend.sceneBoundingRect().intersects(_vb_rect(plot)), plot.getPlotItem().titleLabel.text


def test_the_last_epochs_dots_are_whole(plots):
    for plot, key in ((plots.loss_plot, "val_loss"), (plots.accuracy_plot, "val_accuracy")):
        x, y = plots.curves[key].getData()
        assert x[-1] == EPOCHS
        vb = plot.getPlotItem().getViewBox()
        dot = vb.mapViewToScene(QPointF(float(x[-1]), float(y[-1])))
        assert dot.x() + 3 <= _vb_rect(plot).right(), "the last dot (5 px) is cut at the right edge"


def test_a_compared_runs_legend_text_is_whole(plots, qtbot):
    name = "20261207-124459-resnet18-finetune"  # shown as "resnet18-finetune (12:44)"
    curves = {"x": [1, 2, 3], "loss": [1.2, 1.1, 1.0], "val_loss": [1.3, 1.2, 1.1]}
    curves |= {"accuracy": [0.5, 0.6, 0.7], "val_accuracy": [0.4, 0.5, 0.6]}
    plots.set_live_name("20261207-130000-seed")
    plots.set_overlays([(name, curves)])
    plots.refresh(force=True)
    qtbot.wait(50)
    for plot in (plots.loss_plot, plots.accuracy_plot):
        legend = plot.legend
        texts = [label.text for _sample, label in legend.items]
        assert any("resnet18-finetune (12:44)" in text for text in texts)  # the run, by its short name
        rect = legend.sceneBoundingRect()
        assert rect.left() >= 0 and rect.right() <= plot.width(), (rect, plot.width())
        for _sample, label in legend.items:  # each label as wide as its text
            shown = label.mapRectToScene(label.boundingRect())
            assert shown.left() >= 0 and shown.right() <= plot.width(), label.text
        assert not rect.intersects(_vb_rect(plot))


def test_every_chart_shares_one_styling(qtbot):
    """Train's charts are made by the same styling as Search's and Compare's (widgets/plot.py)."""
    from cnnstudio.gui.train import plots as training_plots
    from cnnstudio.gui.widgets.plot import themed_plot

    ours = training_plots.TrainingPlots()
    qtbot.addWidget(ours)
    shared = themed_plot("t", "epoch", "loss")
    qtbot.addWidget(shared)
    for plot in (ours.loss_plot, shared):
        item = plot.getPlotItem()
        assert not item.getAxis("left").autoSIPrefix and not item.menuEnabled()
    assert ours.loss_plot.backgroundBrush().color() == shared.backgroundBrush().color()


def test_the_reliability_chart_has_ticks_and_counts(qtbot):
    """Issue 23 item 11: axis ticks, and the number of pictures over each bar (1 picture is not a
    full bar's worth); the temperature is said in words, its number in the tooltip."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QFontMetricsF

    from cnnstudio.gui.evaluate.reliability import AFTER, AXIS_CAPTION, CalibrationPage

    page = CalibrationPage()
    qtbot.addWidget(page)
    page.resize(420, 360)
    page.show()
    bins = [
        {"lower": 0.6, "upper": 0.6 + 1 / 15, "count": 1, "accuracy": 1.0, "confidence": 0.62},
        {"lower": 14 / 15, "upper": 1.0, "count": 240, "accuracy": 0.97, "confidence": 0.98},
    ]
    calibration = {"calibrated": True, "bins": bins, "bins_before": bins, "ece_before": 0.08}
    calibration |= {
        "ece_after": 0.02,
        "temperature": 1.7,
        "status": "calibrated on 269 pictures (temperature 1.700)",
    }
    page.set_calibration(calibration)
    chart = page.chart
    assert chart.tick_labels() == ["0%", "25%", "50%", "75%", "100%"]
    assert [label for _bin, label in chart.count_labels()] == ["1", "240"]
    chart.resize(360, 300)
    image = chart.grab().toImage()  # it paints; each bar spans its own bin, not 1/len(bins) of the axis
    area = chart.plot_area(chart.axis_caption_box())
    assert area.width() == 360 - 44 - 12 and area.top() == 12 and area.bottom() > 240
    near_bottom = round(area.bottom()) - 5

    def colour_at(confidence: float):
        return image.pixelColor(round(area.left() + confidence * area.width()), near_bottom)

    assert colour_at(0.6 + 0.5 / 15) == AFTER and colour_at(14.5 / 15) == AFTER
    assert colour_at(0.6 + 1.5 / 15) != AFTER and colour_at(0.85) != AFTER
    # The caption under the confidence axis is never cut: one line under the plot when it fits, else
    # wrapped over the chart's whole width (a 1000x700 window leaves the chart its smallest width, 240).
    metrics = QFontMetricsF(chart.font())
    flags = int(Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap)
    for chart_width, lines in ((360, 1), (240, 2)):
        chart.resize(chart_width, 300)
        assert chart.width() == chart_width
        box = chart.axis_caption_box()
        needed = metrics.boundingRect(box, flags, AXIS_CAPTION)
        assert box.left() >= 0 and box.right() <= chart_width and box.bottom() <= 300
        assert needed.width() <= box.width() and needed.height() <= box.height() + 0.5
        assert round(needed.height() / metrics.lineSpacing()) == lines
    assert "temperature" not in page.numbers.text() and "over-confident" in page.numbers.text()
    assert "temperature 1.700" in page.numbers.toolTip()
    assert "rough guide" not in page.numbers.text()
    # Too few validation pictures, or a weak model: said in the text itself, not only in a tooltip.
    page.set_calibration(calibration | {"caveat": "Only 60 validation pictures back this calibration."})
    assert "Only 60 validation pictures" in page.numbers.text()
