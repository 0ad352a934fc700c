"""The Data section: classes on the left, the thumbnail grid (and the problems) on the right.

The Data section's widget (section.py mounts it); preview it alone with `python -m cnnstudio.gui.data`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSlider,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.gui.commands import ExcludeCommand
from cnnstudio.gui.data.class_list import ClassRow
from cnnstudio.gui.data.class_panel import ClassPanel
from cnnstudio.gui.data.controller import DataController
from cnnstudio.gui.data.keys import class_keys, keys_text, unlabel_key
from cnnstudio.gui.data.problems import ProblemsPanel
from cnnstudio.gui.data.split_view import SplitPanel
from cnnstudio.gui.data.thumbnail_model import (
    ALL,
    CLASS,
    ISSUES,
    PROBLEMS,
    UNLABELLED,
    ImageFilter,
    ThumbnailModel,
)
from cnnstudio.gui.data.thumbnail_view import ThumbnailView
from cnnstudio.gui.folders import show_in_folder
from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.style import class_color, icon
from cnnstudio.gui.thumbnails import ThumbnailLoader

_SPLIT_CHOICES = (("Any split", None), ("Training", "train"), ("Validation", "val"), ("Test", "test"))


class DatasetBrowser(QWidget):
    """Browse, filter and label the session's images."""

    viewer_opened = Signal(object)  # ImageViewer, for tests

    def __init__(self, session: ProjectSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.jobs = DataController(self)  # writing to folders, suggesting labels, checking labels
        self.viewer = None
        self.loader = ThumbnailLoader(parent=self)
        self.model = ThumbnailModel(self.loader, self)
        self.grid = ThumbnailView(self)
        self.grid.setModel(self.model)
        self.grid.label_key.connect(self.label_by_key)
        self.grid.open_requested.connect(self.open_viewer)
        self.grid.customContextMenuRequested.connect(self._grid_menu)
        self.grid.selectionModel().selectionChanged.connect(lambda *_: self._update_status())
        self.model.filtered.connect(self._update_status)
        self.model.rowsRemoved.connect(lambda *_: self._update_status())

        self.class_panel = ClassPanel(session, self)
        self.class_panel.row_selected.connect(self._class_row_selected)
        self.split_panel = SplitPanel(session, self)
        split_scroll = QScrollArea(self)
        split_scroll.setWidget(self.split_panel)
        split_scroll.setWidgetResizable(True)
        split_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left = self.class_panel

        self.search = QLineEdit(self, placeholderText="Search file names", clearButtonEnabled=True)
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.split_combo = QComboBox(self)
        for text, value in _SPLIT_CHOICES:
            self.split_combo.addItem(text, value)
        self.split_combo.currentIndexChanged.connect(lambda _i: self._apply_filter())
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self, minimum=64, maximum=192, value=112)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self.grid.set_cell_size)
        self.grid.set_cell_size(self.size_slider.value())
        self.write_button = QToolButton(self, text="Write labels to folders…", icon=icon("write-folders"))
        self.write_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.write_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.write_button.clicked.connect(lambda: self.write_labels())
        write_menu = QMenu(self.write_button)
        self.undo_write_action = write_menu.addAction("Undo last write to folders", self.undo_last_write)
        self.write_button.setMenu(write_menu)
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 6, 8, 0)
        bar.addWidget(self.search, 2)
        bar.addWidget(self.split_combo)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Size"))
        bar.addWidget(self.size_slider)
        bar.addStretch(1)
        bar.addWidget(self.write_button)

        self.status = QLabel(self)
        self.status.setContentsMargins(8, 2, 8, 4)
        images = QWidget(self)
        images_layout = QVBoxLayout(images)
        images_layout.setContentsMargins(0, 0, 0, 0)
        images_layout.setSpacing(0)
        from cnnstudio.gui.data.suggestions import SuggestionBar

        self.suggestions = SuggestionBar(self, images)
        images_layout.addWidget(self.suggestions)
        images_layout.addWidget(self.grid, 1)
        images_layout.addWidget(self.status)
        self.problems = ProblemsPanel(session, self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(images, icon("image"), "Images")
        self.tabs.addTab(split_scroll, icon("split"), "Split and health")
        self.tabs.addTab(self.problems, icon("warning"), "Problems")
        self.problems.count_changed.connect(self._problems_count)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(bar)
        right_layout.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([270, 900])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._class_filter = ImageFilter()
        session.project_changed.connect(self._project_changed)
        session.index_changed.connect(self._index_changed)
        session.labels_changed.connect(self._labels_changed)
        session.problems_found.connect(self._problems_found)
        session.splits_changed.connect(self._splits_changed)
        self._project_changed(session.project)
        self._index_changed(session.index)

    # ---- session -----------------------------------------------------------------------------------
    def _project_changed(self, project) -> None:
        self.loader.set_cache_dir(project.cache_dir / "thumbs" if project is not None else None)
        # Another project starts on all its pictures: no filter, search or split left from the last.
        self.search.clear()
        self.split_combo.setCurrentIndex(0)
        self.show_filter(ALL)

    def _index_changed(self, index) -> None:
        self.model.set_samples(index.samples if index is not None else [])
        self._update_colors()
        self._update_status()

    def _labels_changed(self, paths: list[str]) -> None:
        self._update_colors()
        self.model.samples_changed(paths)
        self._update_status()

    def _problems_found(self, samples) -> None:
        if self.model.filter.kind == PROBLEMS:
            self.model.set_samples(self.session.index.samples)
        else:
            self.model.samples_changed([s.path for s in samples] or [""])

    def _splits_changed(self) -> None:
        if self.model.filter.split is not None:
            self.model.set_samples(self.session.index.samples if self.session.index else [])
        else:
            self.grid.viewport().update()

    def _update_colors(self) -> None:
        self.grid.delegate.set_class_colors(
            {name: class_color(i) for i, name in enumerate(self.session.classes())}
        )

    # ---- filters -----------------------------------------------------------------------------------
    def _class_row_selected(self, row: ClassRow) -> None:
        self._class_filter = ImageFilter(kind=row.kind, label=row.name if row.kind == CLASS else None)
        self._apply_filter()
        if row.kind == UNLABELLED and self.model.rowCount():
            self.grid.select_row(0)  # the queue: the first image is ready for a number key

    def _apply_filter(self) -> None:
        self.model.set_filter(
            self._class_filter.with_(split=self.split_combo.currentData(), text=self.search.text().strip())
        )

    def show_filter(self, kind: str = ALL, label: str | None = None) -> None:
        """Select the class list's row for this filter (and so filter the grid)."""
        row = self.class_panel.model.row_of(kind, label)
        if row >= 0:
            self.class_panel.view.select(row)

    # ---- labelling ---------------------------------------------------------------------------------
    def label_by_key(self, key: int) -> None:
        """A number key (dataset.keys: the class's name when classes are digits, else 1-9 the n-th
        class and 0 no label), then on to the next image. The label given is said and flashed."""
        classes = self.session.classes()
        keys = class_keys(classes)
        if key in keys:
            label: str | None = keys[key]
        elif key == unlabel_key(classes):
            label = None
        else:
            self.say(
                f"There is no class {key}: no class has the key {key} (this project has {len(classes)}). "
                "Add one with the + button, or drop the picture on a class."
            )
            return
        if not self.grid.selected_rows():
            return
        n = len(self.grid.selected_rows())
        self.label_selected(label)
        what = f"“{label}”" if label is not None else "no label"
        self.say(f"Key {key}: gave {what} to {n} picture{'s' if n != 1 else ''}.")
        self.grid.flash(
            label if label is not None else "No label",
            class_color(classes.index(label)) if label in classes else None,
        )

    def label_selected(self, label: str | None, advance: bool = True) -> None:
        rows = self.grid.selected_rows()
        if not rows or self.session.labels is None:
            return
        paths = [self.model.sample(r).path for r in rows]
        current = self.grid.currentIndex().row()
        self.assign(paths, label)
        if advance and len(rows) == 1:
            self._advance(current, paths[0])

    def assign(self, paths: list[str], label: str | None) -> None:
        try:
            edit = self.session.labels.assign(paths, label)
        except UserError as exc:
            QMessageBox.warning(self, "Label", str(exc))
            return
        self.session.apply_edit(edit)

    def _advance(self, row: int, path: str) -> None:
        """After labelling one image, select the next: the same row when the image left the view
        (the unlabelled queue moves up), the row after it otherwise."""
        if self.model.rowCount() == 0:
            return
        still_here = row < self.model.rowCount() and self.model.sample(row).path == path
        self.grid.select_row(row + 1 if still_here else row)

    # ---- large view --------------------------------------------------------------------------------
    def open_viewer(self, row: int):
        from cnnstudio.gui.data.viewer import ImageViewer

        if self.viewer is None:
            self.viewer = ImageViewer(self.model, row, self)
            self.viewer.row_changed.connect(self.grid.select_row)
            self.viewer.label_key.connect(self._viewer_label)
            self.viewer.finished.connect(self._viewer_closed)
        else:
            self.viewer.show_row(row)
        self.viewer.show()
        self.viewer.raise_()
        self.viewer.activateWindow()
        self.viewer_opened.emit(self.viewer)
        return self.viewer

    def _viewer_closed(self) -> None:
        self.viewer.deleteLater()
        self.viewer = None
        self.grid.setFocus()

    def _viewer_label(self, key: int) -> None:
        viewer = self.viewer
        if viewer is None or self.model.rowCount() == 0:
            return
        row = viewer.row
        path = self.model.sample(row).path
        self.grid.select_row(row)
        self.label_by_key(key)
        still_here = row < self.model.rowCount() and self.model.sample(row).path == path
        viewer.show_row(row + 1 if still_here else row)

    # ---- grid menu ---------------------------------------------------------------------------------
    def _grid_menu(self, pos: QPoint) -> None:
        row = self.grid.row_at(pos)
        if row < 0:
            return
        if row not in self.grid.selected_rows():
            self.grid.select_row(row)
        menu = self.build_grid_menu()
        menu.exec(self.grid.viewport().mapToGlobal(pos))

    def build_grid_menu(self) -> QMenu:
        rows = self.grid.selected_rows()
        n = len(rows)
        menu = QMenu(self)
        label_menu = menu.addMenu(f"Label {n} image" + ("" if n == 1 else "s") + " as")
        classes = self.session.classes()
        keys = {name: key for key, name in class_keys(classes).items()}
        for i, name in enumerate(classes):
            action = label_menu.addAction(
                icon("data", class_color(i)), name, lambda name=name: self.label_selected(name)
            )
            if name in keys:
                action.setShortcut(QKeySequence(str(keys[name])))
        label_menu.addSeparator()
        label_menu.addAction(icon("add"), "New class…", self._label_new_class)
        remove = menu.addAction("Remove the label", lambda: self.label_selected(None))
        if unlabel_key(classes) is not None:
            remove.setShortcut(QKeySequence("0"))
        menu.addSeparator()
        if rows:
            menu.addAction(icon("image"), "Open large view", lambda: self.open_viewer(rows[0]))
            path = self.model.sample(rows[0]).path
            menu.addAction(icon("folder-open"), "Show in folder", lambda: show_in_folder(path))
            menu.addSeparator()
            menu.addAction(icon("close"), "Leave out of the project…", self.exclude_selected)
        return menu

    def _label_new_class(self) -> None:
        name = self.class_panel.new_class()
        if name:
            self.label_selected(name.strip(), advance=False)

    def exclude_selected(self, confirm: bool = True) -> None:
        paths = self.model.paths(self.grid.selectionModel().selectedIndexes())
        if not paths:
            return
        if confirm:
            answer = QMessageBox.question(
                self,
                "Leave out",
                f"Leave {len(paths)} images out of the project? The files stay where they are; Undo brings them back.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.session.push(ExcludeCommand(self.session, paths, f"Leave out {len(paths)} images"))

    # ---- write to folders --------------------------------------------------------------------------
    def write_labels(self, mode: str | None = None, destination: str | Path | None = None):
        """Ask (a dialog with the plan and a confirm button), then write in a worker. With `mode`
        given (tests), no dialog: the plan is carried out as given."""
        from cnnstudio.core.labels.folders import plan_write

        session = self.session
        if session.index is None:
            return None
        if session.tasks.busy() and not session.checked:
            self.say("Wait until every image is checked, then write the labels to folders.")
            return None
        if mode is None:
            from cnnstudio.gui.data.write_dialog import WriteLabelsDialog

            dialog = WriteLabelsDialog(session, self)
            if not dialog.exec() or dialog.plan is None:
                return None
            plan = dialog.plan
        else:
            try:
                plan = plan_write(session.project, session.index, mode, destination)
            except UserError as exc:
                QMessageBox.warning(self, "Write labels to folders", str(exc))
                return None
        return self.jobs.write_labels(plan)

    def undo_last_write(self):
        return self.jobs.undo_last_write()

    def after_write(self, text: str, mode: str) -> None:
        session = self.session
        if mode == "move":
            # Files have new paths: old undo steps name the old ones, so they cannot be replayed.
            session.undo_stack.clear()
            session.set_index(session.index, checked=session.checked)
        self.say(text)

    # ---- status ------------------------------------------------------------------------------------
    def _problems_count(self, n: int) -> None:
        self.tabs.setTabText(2, f"Problems ({n:,})" if n else "Problems")

    def _update_status(self) -> None:
        index = self.session.index
        if index is None:
            self.status.setText("")
            return
        shown, total = self.model.rowCount(), len(index.samples)
        selected = len(self.grid.selectionModel().selectedIndexes())
        parts = [f"Showing {shown:,} of {total:,} images" if shown != total else f"{total:,} images"]
        if selected:
            parts.append(f"{selected:,} selected")
            if self.session.classes():
                badges = self.model.suggestions and self.model.filter.kind in (UNLABELLED, ISSUES)
                keys = keys_text(self.session.classes())
                parts.append(
                    f"Enter accepts the suggestion, {keys} another class"
                    if badges
                    else f"press {keys} to label, Enter for a large view"
                )
        self.status.setText(" · ".join(parts))

    def say(self, text: str) -> None:
        self.session.message.emit(text)
        self.status.setText(text)

    def actions_for_menu(self) -> list[QAction]:
        """Actions the main window puts in its Data menu."""
        write = QAction(icon("write-folders"), "Write labels to folders…", self)
        write.triggered.connect(lambda: self.write_labels())
        undo = QAction("Undo last write to folders", self)
        undo.triggered.connect(self.undo_last_write)
        new_class = QAction(icon("add"), "New class…", self)
        new_class.triggered.connect(lambda: self.class_panel.new_class())
        return [new_class, write, undo]
