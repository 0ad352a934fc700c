"""The main window: a welcome page until a project is open, then a sidebar of sections.

Menus: File (New project from folder, Open, Recent, Save, Save as, Close, Quit), Edit (Undo, Redo),
Data (the browser's actions), Help (User guide, Guide to this section (F1; also the "?" under the
sidebar), Keyboard shortcuts, Open demo project, About). Long work shows in the status bar
with its progress and a Cancel button. A folder dropped anywhere on the window is opened.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.gui.project_flow import project_for_folder
from cnnstudio.gui.sections import SECTIONS, Section
from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.sidebar import Sidebar
from cnnstudio.gui.style import icon
from cnnstudio.gui.task_indicator import TaskIndicator
from cnnstudio.gui.welcome import WelcomePage

APP_TITLE = "CNN Studio"
MAX_RECENT = 8


class MainWindow(QMainWindow):
    def __init__(
        self,
        session: ProjectSession | None = None,
        settings: QSettings | None = None,
        sections: list[Section] | None = None,
    ):
        super().__init__()
        self.session = session or ProjectSession(self)
        self.settings = settings or QSettings()
        self.sections = list(sections or SECTIONS)
        self.pages: dict[int, QWidget] = {}
        self._shown_folder: Path | None = None
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        screen = QGuiApplication.primaryScreen()  # a small screen gets a window that fits it
        size = QSize(1360, 860)
        self.resize(size.boundedTo(screen.availableGeometry().size()) if screen is not None else size)

        self.welcome = WelcomePage(self)
        self.welcome.open_folder.connect(lambda: self.new_project_from_folder())
        self.welcome.open_project.connect(self.open_project_dialog)
        self.welcome.try_demo.connect(self.open_demo)
        self.welcome.open_recent.connect(self.open_path)

        self.sidebar = Sidebar([(section.title, section.icon) for section in self.sections], self)
        self.section_stack = QStackedWidget(self)
        for _ in self.sections:
            self.section_stack.addWidget(QWidget())  # replaced by the real page when first shown
        self.sidebar.current_changed.connect(self.show_section)
        self.sidebar.help_button.clicked.connect(lambda: self.open_section_guide())
        self.guide = None  # the user guide's window, made when first opened
        workspace = QWidget(self)
        row = QHBoxLayout(workspace)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.sidebar)
        row.addWidget(self.section_stack, 1)
        self.workspace = workspace

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(workspace)
        self.setCentralWidget(self.stack)

        self.task_indicator = TaskIndicator(self.session.tasks, self)
        self.counts_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.counts_label)
        self.statusBar().addPermanentWidget(self.task_indicator)
        self._build_menus()

        self.session.project_changed.connect(self._project_changed)
        self.session.index_changed.connect(self._update_counts)
        self.session.labels_changed.connect(self._update_counts)
        self.session.message.connect(self._show_message)
        self.session.error.connect(self.show_error)
        self.welcome.set_recent(self.recent_projects())
        self._restore_geometry()

    # ---- menus -------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.new_action = self._action(
            file,
            "New project from folder…",
            self.new_project_from_folder,
            QKeySequence.StandardKey.New,
            "folder-open",
        )
        self.open_action = self._action(
            file, "Open project…", self.open_project_dialog, QKeySequence.StandardKey.Open, "folder"
        )
        self.recent_menu = file.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        self.save_action = self._action(file, "Save", self.save, QKeySequence.StandardKey.Save, "save")
        self.save_as_action = self._action(file, "Save as…", self.save_as, QKeySequence.StandardKey.SaveAs)
        # Ctrl+W, Ctrl+Q and Ctrl+Shift+Z as the guide's shortcuts page says, on every platform (some
        # platforms' standard keys have none for Close or Quit).
        self.close_action = self._action(file, "Close project", self.close_project, "Ctrl+W")
        file.addSeparator()
        self.export_action = self._action(file, "Export model…", self.export_model, "Ctrl+E", "save")
        file.addSeparator()
        self._action(file, "Quit", self.close, "Ctrl+Q")

        edit = bar.addMenu("&Edit")
        undo = self.session.undo_stack.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        undo.setIcon(icon("undo"))
        redo = self.session.undo_stack.createRedoAction(self, "Redo")
        standard = QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)
        redo.setShortcuts(
            [QKeySequence("Ctrl+Shift+Z"), *(k for k in standard if k.toString() != "Ctrl+Shift+Z")]
        )
        redo.setIcon(icon("redo"))
        edit.addAction(undo)
        edit.addAction(redo)
        self.undo_action, self.redo_action = undo, redo

        data = bar.addMenu("&Data")
        self._action(
            data,
            "New class…",
            lambda: self._data_page() and self._data_page().class_panel.new_class(),
            None,
            "add",
        )
        self._action(
            data,
            "Write labels to folders…",
            lambda: self._data_page() and self._data_page().write_labels(),
            None,
            "write-folders",
        )
        self._action(
            data,
            "Undo last write to folders",
            lambda: self._data_page() and self._data_page().undo_last_write(),
        )
        data.addSeparator()
        self._action(
            data, "List the folder again", lambda: self.session.reload(), QKeySequence.StandardKey.Refresh
        )
        self.data_menu = data

        sections = bar.addMenu("&View")
        for i, section in enumerate(self.sections):
            self._action(
                sections,
                section.title,
                lambda i=i: self.show_section(i),
                QKeySequence(f"Ctrl+{i + 1}"),
                section.icon,
            )

        help_menu = bar.addMenu("&Help")
        self.guide_action = self._action(
            help_menu, "User guide", lambda: self.open_guide("index.md"), None, "info"
        )
        self.section_help_action = self._action(
            help_menu, "Guide to this section", self.open_section_guide, QKeySequence.StandardKey.HelpContents
        )
        self.shortcuts_action = self._action(
            help_menu, "Keyboard shortcuts", lambda: self.open_guide("shortcuts.md"), None
        )
        help_menu.addSeparator()
        self._action(help_menu, "Open demo project", self.open_demo, None, "demo")
        self._action(help_menu, "About CNN Studio", self.about, None, "info")
        self._update_actions()

    def _action(self, menu, text, slot, shortcut=None, icon_name: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _update_actions(self) -> None:
        has = self.session.project is not None
        for action in (self.save_action, self.save_as_action, self.close_action, self.export_action):
            action.setEnabled(has)
        self.data_menu.setEnabled(has)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        for path in recent:
            self.recent_menu.addAction(icon("folder"), path, lambda path=path: self.open_path(path))
        if not recent:
            self.recent_menu.addAction("No recent projects").setEnabled(False)

    # ---- sections ----------------------------------------------------------------------------------
    def show_section(self, i: int) -> QWidget | None:
        if not 0 <= i < len(self.sections):
            return None
        page = self.pages.get(i)
        if page is None:
            page = self.sections[i].create(self.session)
            self.pages[i] = page
            old = self.section_stack.widget(i)
            self.section_stack.removeWidget(old)
            old.deleteLater()
            # In a scroll area: a section that needs more room than a small screen gives (1000 x 700)
            # scrolls, instead of making the window wider than the screen and cutting its labels.
            holder = QScrollArea(self.section_stack)
            holder.setWidget(page)
            holder.setWidgetResizable(True)
            holder.setFrameShape(QFrame.Shape.NoFrame)
            self.section_stack.insertWidget(i, holder)
        self.section_stack.setCurrentIndex(i)
        if self.sidebar.current() != i:
            self.sidebar.buttons[i].setChecked(True)
        shown = getattr(page, "section_shown", None)
        if callable(shown):
            shown()
        return page

    def _data_page(self):
        return self.show_section(0)

    # ---- projects ----------------------------------------------------------------------------------
    def open_project(self, project) -> None:
        if not self._confirm_leaving():
            return
        self.session.open_project(project)

    def _confirm_leaving(self) -> bool:
        """Before the project goes away: a running training is stopped (saved) only if the user agrees."""
        for page in self.pages.values():
            confirm = getattr(page, "confirm_stop", None)
            if confirm is not None and not confirm(self):
                return False
        return True

    def open_path(self, path: str | Path, ask: bool = True) -> None:
        """A project folder, a folder of images or a CSV: opened, or made into a new project."""
        try:
            project = project_for_folder(path, self, ask=ask)
        except UserError as exc:
            self.show_error(str(exc))
            self._forget_recent(str(path))
            return
        if project is not None:
            self.open_project(project)

    def new_project_from_folder(self, folder: str | Path | None = None) -> None:
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Choose the folder of images", str(Path.home()))
            if not folder:
                return
        self.open_path(folder)

    def open_project_dialog(self) -> None:
        from cnnstudio.gui.project_flow import projects_dir

        start = projects_dir() if projects_dir().exists() else Path.home()
        folder = QFileDialog.getExistingDirectory(self, "Open a project (or a folder of images)", str(start))
        if folder:
            self.open_path(folder)

    def open_demo(self) -> None:
        """The demo project (its images are written once, in a worker: it takes a few seconds)."""
        from cnnstudio.core.demo import open_demo_project

        self.session.tasks.start(
            "Preparing the demo project",
            lambda ctx: open_demo_project(),
            on_success=self.open_project,
            on_error=self.show_error,
            cancellable=False,
        )

    def close_project(self) -> None:
        if self._confirm_leaving():
            self.session.close_project()

    def save(self) -> None:
        self.session.save()
        if self.session.project is not None:
            self.statusBar().showMessage(f"Saved {self.session.project.file}", 5000)

    def save_as(self, folder: str | Path | None = None) -> None:
        """Copy the project (project.json and its runs; not the cache, which is rebuilt) to a new folder."""
        project = self.session.project
        if project is None:
            return
        if folder is None:
            folder, _ = QFileDialog.getSaveFileName(
                self,
                "Save the project as (a new folder)",
                str(project.folder.parent / f"{project.name} copy"),
            )
            if not folder:
                return
        target = Path(folder).expanduser().resolve()
        if target.exists() and any(target.iterdir()):
            self.show_error(f"{target} is not empty. Choose a new folder for the copy.")
            return
        self.session.save()
        # The copy shares no container with the live project (save() refills its dicts in place).
        copied = dataclasses.replace(project.snapshot(), folder=target, name=target.name)

        def copy(ctx) -> object:
            target.mkdir(parents=True, exist_ok=True)
            if project.runs_dir.exists():
                shutil.copytree(project.runs_dir, target / "runs")
            copied.save()
            return copied

        def opened(copied) -> None:
            self._shown_folder = copied.folder  # the copy of the same work: stay on this section
            self.open_project(copied)

        self.session.tasks.start(
            "Saving a copy of the project", copy, on_success=opened, on_error=self.show_error
        )

    def _project_changed(self, project) -> None:
        self._update_actions()
        if project is None:
            self.setWindowTitle(APP_TITLE)
            self.welcome.set_recent(self.recent_projects())
            self.stack.setCurrentWidget(self.welcome)
            self.counts_label.setText("")
            return
        # Project first, the app's name last: Qt adds the application's display name to a title
        # that does not end with it, which gave "CNN Studio — name — CNN Studio".
        self.setWindowTitle(f"{project.name} — {APP_TITLE}")
        self._remember(str(project.folder))
        self.stack.setCurrentWidget(self.workspace)
        # Another project opens on Data; the same project (reopened, saved as) stays where it was.
        same = project.folder == self._shown_folder
        self._shown_folder = project.folder
        self.show_section(max(0, self.sidebar.current()) if same else 0)

    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def _update_counts(self, *_args) -> None:
        index = self.session.index
        if index is None:
            self.counts_label.setText("")
            return
        n = len(self.session.classes())
        self.counts_label.setText(f"{len(index.samples):,} images · {n} class" + ("" if n == 1 else "es"))

    # ---- settings ----------------------------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = self.settings.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [p for p in (value or []) if isinstance(p, str)]

    def _remember(self, folder: str) -> None:
        recent = [folder] + [p for p in self.recent_projects() if p != folder]
        self.settings.setValue("recent_projects", recent[:MAX_RECENT])
        self.settings.setValue("last_project", folder)

    def _forget_recent(self, folder: str) -> None:
        self.settings.setValue("recent_projects", [p for p in self.recent_projects() if p != folder])

    def restore_last_project(self) -> bool:
        """Open the project that was open when the app last closed (if it still exists)."""
        last = self.settings.value("last_project", "")
        if isinstance(last, str) and last and (Path(last) / "project.json").exists():
            self.open_path(last, ask=False)
            return True
        return False

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._confirm_leaving():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        if self.session.project is None:
            self.settings.setValue("last_project", "")
        self.session.save()
        self.session.shutdown()
        self.settings.sync()
        super().closeEvent(event)

    # ---- drops, messages ---------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_folder(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _dropped_folder(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = _dropped_folder(event)
        if folder is not None:
            event.acceptProposedAction()
            self.open_path(folder)

    def export_model(self) -> None:
        """A verified export of a trained run: bundle, ONNX or TorchScript."""
        from cnnstudio.gui.export_dialog import open_export_dialog

        open_export_dialog(self.session, self)

    def open_guide(self, page: str = "index.md"):
        """The user guide (one window, reused), on `page` (a file in resources/guide)."""
        from cnnstudio.gui.guide import GuideWindow

        if self.guide is None:
            self.guide = GuideWindow(self)
        self.guide.show_page(page)
        self.guide.show()
        self.guide.raise_()
        self.guide.activateWindow()
        return self.guide

    def open_section_guide(self):
        """The guide's page of the section that is open (the start page on the welcome page)."""
        from cnnstudio.gui.guide import SECTION_PAGES

        i = self.sidebar.current()
        on_section = self.stack.currentWidget() is self.workspace and 0 <= i < len(self.sections)
        return self.open_guide(
            SECTION_PAGES.get(self.sections[i].title, "index.md") if on_section else "index.md"
        )

    def show_error(self, text: str) -> None:
        QMessageBox.warning(self, APP_TITLE, text)

    def about(self) -> None:
        from cnnstudio import __version__

        QMessageBox.about(
            self,
            "About CNN Studio",
            f"<h3>CNN Studio {__version__}</h3>"
            "<p>Train image classifiers on folders of pictures, on your own computer, without writing code.</p>"
            "<p>Everything runs locally; nothing is sent anywhere.</p>",
        )


def _dropped_folder(event) -> Path | None:
    """The first local folder (or project.json, or CSV) among the dropped URLs."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir() or path.name == "project.json" or path.suffix.lower() == ".csv":
                return path
    return None
