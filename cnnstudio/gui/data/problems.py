"""The problems panel: every file that cannot be used and why, and groups of identical copies.

Unusable files arrive while the background check runs (the list fills as it goes). "Show in folder"
opens the file's folder in the system's file manager. "Keep one" leaves the other copies of a group
out of the project (undoable); no file is ever deleted.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.commands import ExcludeCommand
from cnnstudio.gui.folders import show_in_folder
from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.style import icon

OPEN_GROUPS = 20  # groups of copies shown open at first...
OPEN_FILES = 200  # ...while they hold this many files in all (the others list theirs when opened)


def keeper(group: list[str]) -> str:
    """The copy to keep: the shortest name ("cat.jpg" rather than "cat (1).jpg" or "copy of cat.jpg")."""
    # The name's length without os.path.basename: this runs for every copy when the copies arrive.
    return min(group, key=lambda p: (len(p) - 1 - max(p.rfind("/"), p.rfind("\\")), p))


class ProblemsModel(QAbstractTableModel):
    HEADERS = ("File", "Why it cannot be used", "Folder")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[tuple[str, str]] = []  # (path, reason)
        self._seen: set[str] = set()
        self.source: str = ""  # the image folder: folders are shown relative to it

    def folder_of(self, path: str) -> str:
        folder = os.path.dirname(path)
        if self.source and (folder + "/").startswith(self.source + "/"):
            return folder[len(self.source) + 1 :] + "/" if folder != self.source else "(the image folder)"
        return folder

    def reset(self, items: list[tuple[str, str]]) -> None:
        self.beginResetModel()
        self.items = []
        self._seen = set()
        for path, reason in items:
            if path not in self._seen:
                self._seen.add(path)
                self.items.append((path, reason))
        self.endResetModel()

    def add(self, items: list[tuple[str, str]]) -> None:
        new = [(p, r) for p, r in items if p not in self._seen]
        if not new:
            return
        self.beginInsertRows(QModelIndex(), len(self.items), len(self.items) + len(new) - 1)
        for path, reason in new:
            self._seen.add(path)
            self.items.append((path, reason))
        self.endInsertRows()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else 3

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        path, reason = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (os.path.basename(path), reason, self.folder_of(path))[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{path}\n{reason}"
        if role == Qt.ItemDataRole.DecorationRole and index.column() == 0:
            return icon("problem")
        return None

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None


class ProblemsPanel(QWidget):
    count_changed = Signal(int)  # unusable files + copies to look at (the tab's title shows it)

    def __init__(self, session: ProjectSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.model = ProblemsModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # the reason is what matters
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, 220)
        self.table.setColumnWidth(2, 160)
        self.table.doubleClicked.connect(lambda _i: self.show_selected())
        self.problems_label = QLabel(self)
        self.show_button = QPushButton(icon("folder-open"), "Show in folder", self)
        self.show_button.setToolTip("Open the folder of the selected file in the file manager.")
        self.show_button.clicked.connect(self.show_selected)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.problems_label, 1)
        row.addWidget(self.show_button)
        top_layout.addLayout(row)
        top_layout.addWidget(self.table, 1)

        self.copies = QTreeWidget(self)
        self.copies.setHeaderLabels(["Identical files", "Class", "Split"])
        self.copies.setColumnWidth(0, 520)
        self.copies.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.copies_label = QLabel(self)
        self.keep_button = QPushButton(icon("keep-one"), "Keep one", self)
        self.keep_button.setToolTip(
            "Leave the other copies of the selected group out of the project. The files stay on disk."
        )
        self.keep_button.clicked.connect(lambda: self.keep_one())
        self.keep_all_button = QPushButton("Keep one of each", self)
        self.keep_all_button.setToolTip("Leave out every extra copy, in every group (undoable).")
        self.keep_all_button.clicked.connect(lambda: self.keep_one(all_groups=True))
        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.copies_label, 1)
        row.addWidget(self.keep_button)
        row.addWidget(self.keep_all_button)
        bottom_layout.addLayout(row)
        bottom_layout.addWidget(self.copies, 1)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)

        self.groups: list[list[str]] = []
        self.copies.itemExpanded.connect(self._fill_group)
        session.index_changed.connect(self.reload)
        session.problems_found.connect(self._found)
        session.health_changed.connect(self._show_copies)
        session.check_finished.connect(self._update_labels)
        self.reload()

    # ---- content -----------------------------------------------------------------------------------
    def reload(self, *_args) -> None:
        index = self.session.index
        items = [(s.path, s.problem) for s in index.samples if s.problem is not None] if index else []
        project = self.session.project
        self.model.source = project.source.as_posix() if project is not None and project.source else ""
        self.model.reset(items)
        self._show_copies()

    def _found(self, samples) -> None:
        self.model.add([(s.path, s.problem) for s in samples if s.problem is not None])
        self._update_labels()

    def _show_copies(self, *_args) -> None:
        """One row per group of copies; a group's files are listed when it is opened. Creating a row
        for each of 30,000 copies when the health summary arrived stalled the GUI thread (scrolling
        the pictures, benchmarks/bench_browser.py) for a tab nobody was looking at."""
        health = self.session.health
        self.groups = [list(g) for g in (health.duplicate_groups if health is not None else [])]
        self.copies.clear()
        parents = []
        for i, group in enumerate(self.groups):
            parent = QTreeWidgetItem(
                [f"{len(group)} identical files: keeping {os.path.basename(keeper(group))}"]
            )
            parent.setData(0, Qt.ItemDataRole.UserRole, i)
            parent.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            parents.append(parent)
        self.copies.addTopLevelItems(parents)
        shown = 0
        for parent in parents[:OPEN_GROUPS]:  # the first groups open, while they stay short
            shown += len(self.groups[parent.data(0, Qt.ItemDataRole.UserRole)])
            if shown > OPEN_FILES:
                break
            self._fill_group(parent)
            parent.setExpanded(True)
        self._update_labels()

    def _fill_group(self, parent: QTreeWidgetItem) -> None:
        """The files of a group of copies, listed when the group is first opened."""
        if parent.parent() is not None or parent.childCount():
            return
        i = parent.data(0, Qt.ItemDataRole.UserRole)
        group = self.groups[i]
        labels = self.session.labels  # its own path -> sample map: no pass over every picture here
        keep = keeper(group)
        children = []
        for path in group:
            s = labels.sample(path) if labels is not None else None
            shown = self.model.folder_of(path) + os.path.basename(path)
            if path == keep:
                shown += "   (kept)"
            child = QTreeWidgetItem(
                [shown, (s.label or "unlabelled") if s else "", (s.split or "") if s else ""]
            )
            child.setData(0, Qt.ItemDataRole.UserRole, i)
            child.setToolTip(0, path)
            children.append(child)
        parent.addChildren(children)

    def _update_labels(self) -> None:
        n = self.model.rowCount()
        checking = not self.session.checked and self.session.index is not None
        status = " (still checking…)" if checking else ""
        self.problems_label.setText(
            f"<b>{n:,} unusable files</b>{status}" if n else f"<b>No unusable files</b>{status}"
        )
        health = self.session.health
        if health is None or not health.duplicates_checked:
            self.copies_label.setText("<b>Identical copies</b>: looked for once every image is checked.")
        else:
            copies = sum(len(g) - 1 for g in self.groups)
            self.copies_label.setText(
                f"<b>{copies:,} extra copies</b> in {len(self.groups):,} groups"
                if copies
                else "<b>No identical copies</b>"
            )
        self.show_button.setEnabled(n > 0)
        self.keep_button.setEnabled(bool(self.groups))
        self.keep_all_button.setEnabled(bool(self.groups))
        self.count_changed.emit(n + len(self.groups))

    # ---- actions -----------------------------------------------------------------------------------
    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.items[r][0] for r in rows]

    def show_selected(self) -> None:
        paths = self.selected_paths() or [item[0] for item in self.model.items[:1]]
        for path in paths[:1]:
            show_in_folder(path)

    def keep_one(self, group: int | None = None, all_groups: bool = False) -> None:
        """Keep one file of a group (the selected one, or every group); leave the rest out."""
        if all_groups:
            groups = self.groups
        else:
            if group is None:
                item = self.copies.currentItem()
                if item is None:
                    return
                group = item.data(0, Qt.ItemDataRole.UserRole)
            groups = [self.groups[group]]
        paths = [p for g in groups for p in g if p != keeper(g)]
        if not paths:
            return
        text = f"Leave out {len(paths)} identical cop" + ("y" if len(paths) == 1 else "ies")
        self.session.push(ExcludeCommand(self.session, paths, text))
