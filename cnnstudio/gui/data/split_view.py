"""The split per class (training / validation / test) with re-split by seed, and the health warnings."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.style.theme import warning_color

_SPLITS = (("train", "Training"), ("val", "Validation"), ("test", "Test"))


class SplitPanel(QWidget):
    def __init__(self, session: ProjectSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels([name for _, name in _SPLITS])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.seed = QSpinBox(self, minimum=0, maximum=999_999)
        self.seed.setToolTip("The same seed always draws the same split.")
        self.resplit_button = QPushButton("Re-split", self)
        self.resplit_button.setToolTip(
            "Draw a new training / validation / test split with this seed (undoable)."
        )
        self.resplit_button.clicked.connect(lambda: self.resplit(self.seed.value()))
        self.note = QLabel(self, wordWrap=True)
        self.note.setEnabled(False)

        row = QHBoxLayout()
        row.addWidget(QLabel("Seed"))
        row.addWidget(self.seed)
        row.addWidget(self.resplit_button)
        row.addStretch(1)
        self.health = QLabel(self, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.health.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.health.setAlignment(Qt.AlignmentFlag.AlignTop)

        split_box = QVBoxLayout()
        split_box.addWidget(QLabel("<b>Training, validation and test images per class</b>"))
        split_box.addWidget(self.table)
        split_box.addLayout(row)
        split_box.addWidget(self.note)
        split_box.addStretch(1)
        health_box = QVBoxLayout()
        health_box.addWidget(QLabel("<b>Dataset health</b>"))
        health_box.addWidget(self.health)
        health_box.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(24)
        layout.addLayout(split_box, 3)
        layout.addLayout(health_box, 2)

        self._timer = QTimer(self, singleShot=True, interval=100)
        self._timer.timeout.connect(self.refresh)
        for signal in (
            session.index_changed,
            session.labels_changed,
            session.health_changed,
            session.splits_changed,
        ):
            signal.connect(self._soon)
        self.refresh()

    def _soon(self, *_args) -> None:
        self._timer.start()

    def resplit(self, seed: int) -> None:
        from cnnstudio.gui.commands import ResplitCommand

        if self.session.index is not None:
            self.session.push(ResplitCommand(self.session, seed))

    def refresh(self) -> None:
        session = self.session
        index, project = session.index, session.project
        if index is None or project is None:
            self.table.setRowCount(0)
            self.health.setText("")
            return
        counts: dict[str, dict[str, int]] = {}
        for s in index.samples:
            if s.problem is None and s.label is not None and s.split is not None:
                per = counts.setdefault(s.label, {})
                per[s.split] = per.get(s.split, 0) + 1
        classes = session.classes()
        self.table.setRowCount(len(classes) + 1)
        self.table.setVerticalHeaderLabels([*classes, "All"])
        totals = dict.fromkeys((k for k, _ in _SPLITS), 0)
        for r, name in enumerate(classes):
            for c, (split, _) in enumerate(_SPLITS):
                n = counts.get(name, {}).get(split, 0)
                totals[split] += n
                self._set(r, c, n)
        for c, (split, _) in enumerate(_SPLITS):
            self._set(len(classes), c, totals[split], bold=True)
        # As tall as its rows: the panel scrolls as a whole, rather than a table scrolling inside it.
        rows_height = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(rows_height + self.table.horizontalHeader().height() + 4)
        self.seed.blockSignals(True)
        self.seed.setValue(project.split_seed)
        self.seed.blockSignals(False)
        given = index.layout == "split_folders"
        ratios = " / ".join(f"{r:.0%}" for r in project.split_ratios)
        carved = given_split_words(index) if given else None
        self.resplit_button.setEnabled(not given or bool(carved and carved[1]))
        self.seed.setEnabled(not given or bool(carved and carved[1]))
        self.note.setText(
            carved[0]
            if carved is not None
            else f"Each class is split {ratios}, the same way every time for the same seed."
        )
        self._show_health()

    def _set(self, row: int, col: int, value: int, bold: bool = False) -> None:
        item = QTableWidgetItem(f"{value:,}")
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if bold:
            font = item.font()
            font.setBold(True)
            item.setFont(font)
        self.table.setItem(row, col, item)

    def _show_health(self) -> None:
        health = self.session.health
        if health is None:
            self.health.setText("<i>Looking at the dataset…</i>")
            return
        lines = list(health.warnings)
        if not self.session.checked:
            lines.append("Still checking every image; problems and copies show up as they are found.")
        if not lines:
            self.health.setText("No problems found: the classes are balanced and large enough.")
            return
        color = warning_color(self.palette()).name()
        self.health.setText(
            "".join(
                f'<p style="margin:0 0 6px 0"><span style="color:{color}">⚠</span> {html.escape(w)}</p>'
                for w in lines
            )
        )


def given_split_words(index) -> tuple[str, bool]:
    """What the split folders give, in words, and whether some split was taken out of train/.

    With train/ and test/ but no val/, the validation pictures are taken from train/ (class by class,
    by the seed): the note says so and how many, rather than "the folders give the split"."""
    from cnnstudio.core.dataset.scan import folder_split

    folders: set[str] = set()
    carved: dict[str, int] = {}
    for s in index.samples:
        folder = folder_split(index, s)
        if folder is not None:
            folders.add(folder)
        if s.problem is None and s.label is not None and folder == "train" and s.split in ("val", "test"):
            carved[s.split] = carved.get(s.split, 0) + 1
    names = [f"{name}/" for name in ("train", "val", "test") if name in folders]
    text = f"The folders give the split ({', '.join(names)})."
    words = {"val": "validation", "test": "test"}
    for split, n in carved.items():
        text += (
            f" There is no {split}/ folder: {n:,} {words[split]} "
            f"{'pictures are' if n != 1 else 'picture is'} taken from train/, class by class "
            "(the seed chooses which)."
        )
    return text, bool(carved)
