"""The left side of the Data section: the class list with its actions, and the health warnings."""

from __future__ import annotations

import html

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.gui.data.class_list import ClassListModel, ClassListView, ClassRow, build_rows
from cnnstudio.gui.data.keys import keys_text
from cnnstudio.gui.data.thumbnail_model import ALL, CLASS
from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.style import icon, warning_color


class ClassPanel(QWidget):
    row_selected = Signal(object)  # ClassRow: the grid shows what it names

    def __init__(self, session: ProjectSession, parent=None):
        super().__init__(parent)
        self.session = session
        self.model = ClassListModel(self)
        self.model.images_dropped.connect(self._dropped)
        self.view = ClassListView(self)
        self.view.setModel(self.model)
        self.view.row_selected.connect(self.row_selected)
        self.view.customContextMenuRequested.connect(self._context_menu)

        title = QLabel("<b>Classes</b>")
        self.add_button = QToolButton(self, icon=icon("add"), toolTip="New class…", autoRaise=True)
        self.add_button.clicked.connect(lambda: self.new_class())
        self.menu_button = QToolButton(
            self, text="⋯", toolTip="Rename, merge or delete the selected class", autoRaise=True
        )
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.menu_button.setMenu(QMenu(self.menu_button))
        self.menu_button.menu().aboutToShow.connect(self._fill_class_menu)
        head = QHBoxLayout()
        head.setContentsMargins(8, 4, 4, 0)
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.add_button)
        head.addWidget(self.menu_button)

        self.hint = QLabel(
            "Select images and press <b>1</b>–<b>9</b>, or drag them onto a class.", wordWrap=True
        )
        self.hint.setContentsMargins(8, 0, 8, 4)
        self.hint.setEnabled(False)  # drawn in the muted colour

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(head)
        self.health = QLabel(self, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.health.setContentsMargins(8, 0, 8, 4)
        self.health.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.health)
        layout.addWidget(self.hint)

        self._refresh_timer = QTimer(self, singleShot=True, interval=60)
        self._refresh_timer.timeout.connect(self.refresh)
        # Bound methods, not lambdas: Qt drops them when this panel is destroyed before the session.
        session.index_changed.connect(self._index_changed)
        session.labels_changed.connect(self._soon)
        session.problems_found.connect(self._soon)
        session.health_changed.connect(self._soon)
        self.refresh()

    def _index_changed(self, _index) -> None:
        self.refresh()

    def _soon(self, *_args) -> None:
        self._refresh_timer.start()

    # ---- content -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        session = self.session
        current = self.view.current_row()
        if session.index is None or session.labels is None:
            self.model.set_rows([])
            return
        total = unlabelled = problems = 0
        for s in session.index.samples:
            total += 1
            if s.problem is not None:
                problems += 1
            elif s.label is None:
                unlabelled += 1
        warnings = _class_warnings(session)
        low, _, high = keys_text(session.classes()).partition("–")
        keys = f"<b>{low}</b>–<b>{high}</b>" if high else f"<b>{low}</b>"
        self.hint.setText(f"Select images and press {keys}, or drag them onto a class.")  # the real keys
        self._show_health()
        self.model.set_rows(build_rows(session.labels.counts(), total, unlabelled, problems, warnings))
        if current is not None:
            row = self.model.row_of(current.kind, current.name)
            if row < 0:
                row = self.model.row_of(ALL)
            if self.view.currentIndex().row() != row:
                self.view.select(row)
        elif self.model.rowCount():
            self.view.select(0)

    def classes(self) -> list[str]:
        return self.session.classes()

    def _show_health(self) -> None:
        """The health summary's warnings, short: the "Split and health" tab has them in full."""
        health = self.session.health
        lines = list(health.warnings) if health is not None else []
        if not lines:
            self.health.hide()
            return
        color = warning_color(self.palette()).name()
        shown = lines[:3]
        more = f"<br><i>{len(lines) - 3} more in Split and health</i>" if len(lines) > 3 else ""
        self.health.setText(
            "".join(
                f'<p style="margin:0 0 4px 0"><span style="color:{color}">⚠</span> {html.escape(w)}</p>'
                for w in shown
            )
            + more
        )
        self.health.show()

    # ---- actions (each asks when no name is given; tests pass names) ------------------------------------
    def new_class(self, name: str | None = None) -> str | None:
        if self.session.labels is None:
            return None
        if name is None:
            name, ok = QInputDialog.getText(self, "New class", "Name of the new class:")
            if not ok:
                return None
        return name if self._apply(lambda: self.session.labels.create_class(name)) else None

    def rename_class(self, old: str, new: str | None = None) -> None:
        if new is None:
            new, ok = QInputDialog.getText(self, "Rename class", f'New name for "{old}":', text=old)
            if not ok:
                return
        self._apply(lambda: self.session.labels.rename_class(old, new))

    def merge_class(self, source: str, target: str | None = None) -> None:
        if target is None:
            others = [c for c in self.classes() if c != source]
            if not others:
                return
            target, ok = QInputDialog.getItem(
                self, "Merge classes", f'Put every image of "{source}" into:', others, 0, False
            )
            if not ok:
                return
        self._apply(lambda: self.session.labels.merge_classes([source], target))

    def delete_class(self, name: str, confirm: bool = True) -> None:
        count = self.session.counts().get(name, 0)
        if confirm and count:
            answer = QMessageBox.question(
                self,
                "Delete class",
                f'Delete the class "{name}"? Its {count:,} images stay in the project, unlabelled. '
                "The files are not touched, and Edit ▸ Undo brings the class back.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._apply(lambda: self.session.labels.delete_class(name))

    def _apply(self, build) -> bool:
        try:
            edit = build()
        except UserError as exc:
            QMessageBox.warning(self, "Classes", str(exc))
            return False
        self.session.apply_edit(edit)
        return True

    def _dropped(self, paths: list[str], label: str | None) -> None:
        if self.session.labels is not None:
            self._apply(lambda: self.session.labels.assign(paths, label))

    # ---- menus -------------------------------------------------------------------------------------
    def _class_actions(self, menu: QMenu, row: ClassRow | None) -> None:
        menu.addAction(icon("add"), "New class…", lambda: self.new_class())
        if row is None or row.kind != CLASS:
            return
        name = row.name
        menu.addSeparator()
        menu.addAction(icon("rename"), f'Rename "{name}"…', lambda: self.rename_class(name))
        merge = menu.addMenu(icon("merge"), f'Merge "{name}" into')
        others = [c for c in self.classes() if c != name]
        for other in others:
            merge.addAction(other, lambda other=other: self.merge_class(name, other))
        merge.setEnabled(bool(others))
        menu.addAction(icon("delete"), f'Delete "{name}"…', lambda: self.delete_class(name))

    def _fill_class_menu(self) -> None:
        menu = self.menu_button.menu()
        menu.clear()
        self._class_actions(menu, self.view.current_row())

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        menu = QMenu(self)
        self._class_actions(menu, index.data(Qt.ItemDataRole.UserRole + 10) if index.isValid() else None)
        menu.exec(self.view.viewport().mapToGlobal(pos))


def _class_warnings(session: ProjectSession) -> dict[str, str]:
    """A warning per class from the health summary: too few images, or far fewer than the largest."""
    health = session.health
    if health is None:
        return {}
    out: dict[str, str] = {}
    for name, n in health.small_classes.items():
        out[name] = f"Only {n} images: at least {health.min_class_images} are needed for a useful split."
    if health.imbalance_ratio is not None and health.imbalance_ratio >= 5 and health.classes:
        biggest = max(health.classes.values())
        for name, n in health.classes.items():
            if n and biggest / n >= 5 and name not in out:
                out[name] = (
                    f"{biggest / n:.0f} times fewer images than the largest class; the model may neglect it."
                )
    return out
