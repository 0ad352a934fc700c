"""Likely label errors: one row per picture, with Relabel, Accept and Exclude a click away.

The list only asks; the Evaluate section does each action through the session (undoable) and calls
`refresh()`, which shows each row's state now: relabelled, excluded or accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.evaluate.gallery import fit_rect
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.thumbnails import ThumbnailLoader

ROW_THUMB = 64
MAX_ROWS = 300  # the most doubtful first; more than this nobody works through in one sitting


@dataclass(frozen=True)
class Issue:
    index: int  # row in the EvaluationReport
    path: str
    label: str
    suggested: str
    self_confidence: float  # probability of the given label
    suggested_confidence: float


@dataclass(frozen=True)
class RowState:
    label: str | None  # the picture's label in the project now (None: unlabelled or unknown)
    excluded: bool
    accepted: bool
    editable: bool  # part of the open project (a picture from another folder cannot be relabelled)
    reason: str = ""  # why it is not editable, in plain words


class IssueRow(QWidget):
    def __init__(self, issue: Issue, parent=None):
        super().__init__(parent)
        self.issue = issue
        self.thumb = QLabel(self)
        self.thumb.setFixedSize(ROW_THUMB, ROW_THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        name = issue.path.rsplit("/", 1)[-1]
        self.title = QLabel(f"<b>{name}</b>", self)
        self.title.setToolTip(issue.path)
        self.detail = QLabel(
            f"Labelled <b>{issue.label}</b> ({issue.self_confidence:.0%}); "
            f"the model says <b>{issue.suggested}</b> ({issue.suggested_confidence:.0%})",
            self,
        )
        self.status = QLabel(self)
        self.status.setStyleSheet(f"color: {muted_color().name()}")
        self.relabel = QPushButton(f"Relabel as {issue.suggested}", self)
        self.relabel.setToolTip(f'Give this picture the label "{issue.suggested}" (Ctrl+Z undoes it).')
        self.accept = QPushButton("Accept", self)
        self.accept.setToolTip("The label is right: take the picture off this list (for this run).")
        self.exclude = QPushButton("Exclude", self)
        self.exclude.setToolTip(
            "Leave this picture out of the project (the file stays where it is; Ctrl+Z undoes it)."
        )
        self.detail.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for button in (self.relabel, self.accept, self.exclude):
            buttons.addWidget(button)
        buttons.addWidget(self.status, 1)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.detail)
        text.addLayout(buttons)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        row.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)

    def set_thumbnail(self, image: QImage | None) -> None:
        if image is None or image.isNull():
            return
        box = fit_rect(image.width(), image.height(), self.thumb.rect())
        mode = (
            Qt.TransformationMode.FastTransformation
            if box.width() > image.width()
            else Qt.TransformationMode.SmoothTransformation
        )
        self.thumb.setPixmap(
            QPixmap.fromImage(image.scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio, mode))
        )

    def set_state(self, state: RowState) -> None:
        issue = self.issue
        if not state.editable:
            self.status.setText(state.reason)
        elif state.excluded:
            self.status.setText("Left out of the project.")
        elif state.label is not None and state.label != issue.label:
            self.status.setText(f"Now labelled {state.label}.")
        elif state.accepted:
            self.status.setText("Accepted: the label is right.")
        else:
            self.status.setText("")
        self.status.setVisible(bool(self.status.text()))
        active = state.editable and not state.excluded
        self.relabel.setEnabled(active and state.label != issue.suggested)
        self.accept.setEnabled(state.editable and not state.accepted and not state.excluded)
        self.exclude.setEnabled(active)


class IssuesList(QWidget):
    picture_chosen = Signal(int)  # report index
    relabel_requested = Signal(str, str)  # path, label
    accept_requested = Signal(str)
    exclude_requested = Signal(str)

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.issues: list[Issue] = []
        self.rows: dict[str, IssueRow] = {}
        self._state: Callable[[str], RowState] | None = None
        self.summary = QLabel(self, wordWrap=True)
        self.show_accepted = QCheckBox("Show accepted", self)
        self.show_accepted.toggled.connect(lambda _on: self.refresh())
        self.list = QListWidget(self)
        self.list.setUniformItemSizes(False)
        # Rows are as wide as the list: the buttons must never scroll out of sight.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        self.list.currentRowChanged.connect(self._current_changed)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.show_accepted)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        loader.loaded.connect(self._loaded)
        self.set_issues([], None)

    def set_issues(self, issues: list[Issue], state: Callable[[str], RowState] | None) -> None:
        self.issues = list(issues)[:MAX_ROWS]
        self._total = len(issues)
        self._state = state
        self.list.clear()
        self.rows = {}
        for issue in self.issues:
            item = QListWidgetItem(self.list)
            row = IssueRow(issue)
            row.relabel.clicked.connect(
                lambda _c=False, i=issue: self.relabel_requested.emit(i.path, i.suggested)
            )
            row.accept.clicked.connect(lambda _c=False, i=issue: self.accept_requested.emit(i.path))
            row.exclude.clicked.connect(lambda _c=False, i=issue: self.exclude_requested.emit(i.path))
            item.setSizeHint(QSize(0, max(row.sizeHint().height(), ROW_THUMB + 8)))
            self.list.setItemWidget(item, row)
            self.rows[issue.path] = row
            row.set_thumbnail(self.loader.get(issue.path))
        self.refresh()

    def refresh(self) -> None:
        """Show each row's state now (after a relabel, an exclusion, an accept, or their undo)."""
        accepted = 0
        for i, issue in enumerate(self.issues):
            row = self.rows[issue.path]
            state = self._state(issue.path) if self._state else RowState(None, False, False, False)
            row.set_state(state)
            accepted += state.accepted
            self.list.item(i).setHidden(state.accepted and not self.show_accepted.isChecked())
        self._update_summary(accepted)

    def _update_summary(self, accepted: int) -> None:
        if self._state is None:
            self.summary.setText("Evaluate a run to find pictures whose label may be wrong.")
            return
        if not self._total:
            self.summary.setText(
                "No likely label errors: the model does not strongly disagree with any picture's label."
            )
            return
        text = (
            f"{self._total} picture{'s' if self._total != 1 else ''} whose label the model doubts, "
            "most doubtful first."
        )
        if self._total > len(self.issues):
            text += f" The first {len(self.issues)} are shown."
        if accepted:
            text += f" {accepted} accepted as right" + (
                "." if self.show_accepted.isChecked() else " are hidden."
            )
        self.summary.setText(text)
        self.show_accepted.setVisible(accepted > 0)

    def visible_paths(self) -> list[str]:
        return [issue.path for i, issue in enumerate(self.issues) if not self.list.item(i).isHidden()]

    def _current_changed(self, row: int) -> None:
        if 0 <= row < len(self.issues):
            self.picture_chosen.emit(self.issues[row].index)

    def _loaded(self, paths: list[str]) -> None:
        for path in paths:
            row = self.rows.get(path)
            if row is not None:
                row.set_thumbnail(self.loader.get(path))
