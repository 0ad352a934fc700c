"""What a person cannot read in a laid-out window: cut texts, elided tab titles, horizontal scrollbars.

`cut_texts(window)` walks every visible widget and names each one whose text is wider than the
widget (buttons, check boxes, labels, tab titles, combo boxes), that is pushed out of its visible
parent, a scroll area that shows a horizontal scrollbar, or a chart drawn wider than its widget.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QCheckBox,
    QComboBox,
    QLabel,
    QPushButton,
    QRadioButton,
    QStyle,
    QStyleOptionComboBox,
    QTabBar,
    QToolButton,
    QWidget,
)


def _name(widget: QWidget) -> str:
    text = ""
    for attr in ("text", "title", "currentText"):
        value = getattr(widget, attr, None)
        if callable(value):
            try:
                text = value()
            except TypeError:
                continue
            if isinstance(text, str) and text:
                break
    parents = []
    parent = widget.parentWidget()
    while parent is not None and len(parents) < 3:
        parents.append(type(parent).__name__)
        parent = parent.parentWidget()
    return f"{type(widget).__name__} {text!r} ({widget.width()}px, in {'/'.join(parents)})"


def _visible_width(widget: QWidget) -> int:
    """How much of `widget`'s width its ancestors show (a page taller than its scroll area is fine: a
    person scrolls down; a part pushed out sideways is not)."""
    top = widget.window()
    left = widget.mapTo(top, QPoint(0, 0)).x()
    right = left + widget.width()
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        p_left = parent.mapTo(top, QPoint(0, 0)).x()
        left, right = max(left, p_left), min(right, p_left + parent.width())
        parent = parent.parentWidget()
    return max(0, right - left)


def _text_width(widget: QWidget, text: str) -> int:
    return widget.fontMetrics().horizontalAdvance(text)


def cut_texts(window: QWidget) -> list[str]:
    problems: list[str] = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.width() <= 0:
            continue
        # A table's columns may scroll sideways (the user sizes them); a page or a panel may not.
        if (
            isinstance(widget, QAbstractScrollArea)
            and not isinstance(widget, QAbstractItemView)
            and widget.horizontalScrollBar().isVisible()
        ):
            problems.append(f"horizontal scrollbar: {_name(widget)}")
        plot_item = getattr(widget, "getPlotItem", None)  # a pyqtgraph chart: its scene is cut, not wrapped
        if callable(plot_item) and plot_item().size().width() > widget.width() + 1:
            title = plot_item().titleLabel.text
            problems.append(
                f"chart cut: {title!r} needs {plot_item().size().width():.0f}px, has {widget.width()}px"
            )
        if isinstance(widget, QTabBar):
            if any(arrow.isVisible() for arrow in widget.findChildren(QToolButton)):
                problems.append(f"tab titles scroll: {[widget.tabText(i) for i in range(widget.count())]}")
            for i in range(widget.count()):
                text = widget.tabText(i).replace("&", "")
                need, tab = _text_width(widget, text), widget.tabRect(i)
                if tab.width() < need or tab.right() > widget.width() or tab.left() < 0:
                    problems.append(
                        f"tab title cut: {text!r} (tab {tab.x()}..{tab.right()}px of a {widget.width()}px bar, text {need}px)"
                    )
            continue
        text = ""
        if isinstance(widget, (QPushButton, QToolButton, QCheckBox, QRadioButton)):
            text = widget.text().replace("&", "")
            if text and widget.width() < widget.sizeHint().width() - 1:
                problems.append(f"button cut: {_name(widget)} needs {widget.sizeHint().width()}px")
        elif isinstance(widget, QComboBox):
            text = widget.currentText()
            option = QStyleOptionComboBox()
            widget.initStyleOption(option)
            field = widget.style().subControlRect(
                QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, widget
            )
            need = _text_width(widget, text) + (widget.iconSize().width() + 4 if option.currentIcon else 0)
            if text and field.width() < need and not widget.isEditable():
                problems.append(f"choice cut: {_name(widget)}: {field.width()}px for a {need}px text")
        elif isinstance(widget, QLabel) and widget.text() and widget.pixmap().isNull():
            text = widget.text()
            if widget.wordWrap():
                need_h = widget.heightForWidth(widget.width())
                if need_h > widget.height() + 4:
                    problems.append(f"label cut (wrapped): {_name(widget)} needs {need_h}px high")
            elif widget.sizeHint().width() > widget.width() + 1:
                problems.append(f"label cut: {_name(widget)} needs {widget.sizeHint().width()}px")
        if text:
            shown = _visible_width(widget)
            if shown < widget.width() - 1:
                problems.append(f"pushed out of view: {_name(widget)}, {shown}px of it visible")
    return problems
