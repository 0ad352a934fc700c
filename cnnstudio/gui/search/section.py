"""The Search section of the main window (see cnnstudio/gui/sections.py): two tabs, the search
panel and the comparison of runs."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QTabWidget, QWidget

from cnnstudio.gui.search.compare.view import CompareView
from cnnstudio.gui.search.panel import SearchPanel
from cnnstudio.gui.session import ProjectSession


class SearchSection(QTabWidget):
    def __init__(self, session: ProjectSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.panel = SearchPanel(session)
        self.compare = CompareView(session)
        self.jobs = self.panel.jobs  # the search's job control (controller.py), as every section names it
        self.addTab(self.panel, "Hyperparameter search")
        self.addTab(self.compare, "Compare runs")
        self.setDocumentMode(True)
        self.currentChanged.connect(lambda _i: self.section_shown())
        self.panel.search_finished.connect(lambda _s: self.compare.reload_runs())

    def confirm_stop(self, parent: QWidget | None = None) -> bool:
        """Before the window or the project closes: a running search stops (its finished trials are
        kept) only if the user agrees. Returns True when nothing is searching any more."""
        if not self.panel.is_searching():
            return True
        answer = QMessageBox.question(
            parent or self,
            "A search is running",
            "A hyperparameter search is running. Stop it now?\n\nFinished trials are kept; the search "
            "can be continued later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.panel.stop_and_wait()
        return True

    def section_shown(self) -> None:
        page = self.currentWidget()
        shown = getattr(page, "section_shown", None)
        if shown is not None:
            shown()


def create_section(session: ProjectSession) -> SearchSection:
    return SearchSection(session)
