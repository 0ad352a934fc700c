"""The user guide: resources/guide/*.md (with screenshots in resources/guide/images/), shown in a
QTextBrowser (Markdown; no web engine). Opened from Help ▸ User guide, Help ▸ Keyboard shortcuts,
F1 and the "?" under the sidebar (the page of the section that is open).

The screenshots are made from the real app by resources/guide/make_screenshots.py (`make guide`).
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QKeySequence, QTextCursor, QTextDocument, QTextImageFormat
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.style import resources_dir

# (file, title), in reading order.
PAGES: list[tuple[str, str]] = [
    ("index.md", "Start here"),
    ("data.md", "Data: your pictures"),
    ("model.md", "Model: the layers"),
    ("train.md", "Train"),
    ("evaluate.md", "Evaluate: what it gets wrong"),
    ("predict.md", "Predict: new pictures"),
    ("search.md", "Search: let it try settings"),
    ("export.md", "Export a model"),
    ("numbers.md", "What do these numbers mean?"),
    ("shortcuts.md", "Keyboard shortcuts"),
]
# The guide page of each section (by the section's title in the sidebar).
SECTION_PAGES = {
    "Data": "data.md",
    "Model": "model.md",
    "Train": "train.md",
    "Evaluate": "evaluate.md",
    "Search": "search.md",
    "Predict": "predict.md",
}


def guide_dir() -> Path:
    return resources_dir() / "guide"


def referenced_files(page: Path) -> list[str]:
    """The pages and pictures a Markdown page links to (relative paths, no web links or anchors)."""
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


class GuideWindow(QDialog):
    """The guide: the contents on the left, the page on the right, Back and Forward."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("CNN Studio user guide")
        self.resize(1000, 760)
        self.contents = QListWidget(self)
        for file, title in PAGES:
            item = QListWidgetItem(title)
            item.setData(256, file)
            self.contents.addItem(item)
        self.contents.setMaximumWidth(240)
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setSearchPaths([str(guide_dir())])
        self.back_button = QPushButton("Back", self)
        self.back_button.setShortcut(QKeySequence.StandardKey.Back)
        self.forward_button = QPushButton("Forward", self)
        self.forward_button.setShortcut(QKeySequence.StandardKey.Forward)
        close = QPushButton("Close", self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.forward_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        splitter = QSplitter(self)
        splitter.addWidget(self.contents)
        splitter.addWidget(self.browser)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        self.back_button.clicked.connect(self.browser.backward)
        self.forward_button.clicked.connect(self.browser.forward)
        self.browser.backwardAvailable.connect(self.back_button.setEnabled)
        self.browser.forwardAvailable.connect(self.forward_button.setEnabled)
        self.back_button.setEnabled(False)
        self.forward_button.setEnabled(False)
        close.clicked.connect(self.close)
        self.contents.currentRowChanged.connect(self._contents_chosen)
        self.browser.sourceChanged.connect(self._source_changed)
        self.show_page("index.md")

    def show_page(self, file: str) -> None:
        """Show a guide page (a file name in resources/guide)."""
        path = guide_dir() / file
        url = QUrl.fromLocalFile(str(path))
        if self.browser.source() != url:
            self.browser.setSource(url, QTextDocument.ResourceType.MarkdownResource)

    def fit_images(self) -> None:
        """Screenshots as wide as the page allows (never wider than they are), so no sideways scrolling."""
        document = self.browser.document()
        room = max(200, self.browser.viewport().width() - 2 * int(document.documentMargin()) - 8)
        block = document.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                fmt = fragment.charFormat()
                if fmt.isImageFormat():
                    image_format = fmt.toImageFormat()
                    natural = document.resource(QTextDocument.ResourceType.ImageResource, image_format.name())
                    full = natural.width() if hasattr(natural, "width") and natural.width() > 0 else room
                    width = min(room, full)
                    if abs(image_format.width() - width) > 1:
                        fitted = QTextImageFormat(image_format)
                        fitted.setWidth(width)
                        if hasattr(natural, "height") and full > 0:
                            fitted.setHeight(natural.height() * width / full)
                        cursor = QTextCursor(document)
                        cursor.setPosition(fragment.position())
                        cursor.setPosition(
                            fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor
                        )
                        cursor.setCharFormat(fitted)
                it += 1
            block = block.next()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_images()

    @property
    def page(self) -> str:
        return Path(self.browser.source().toLocalFile()).name

    def _contents_chosen(self, row: int) -> None:
        if 0 <= row < len(PAGES):
            self.show_page(PAGES[row][0])

    def _source_changed(self, url: QUrl) -> None:
        self.fit_images()
        name = Path(url.toLocalFile()).name
        rows = [i for i, (file, _t) in enumerate(PAGES) if file == name]
        if rows and self.contents.currentRow() != rows[0]:
            blocked = self.contents.blockSignals(True)
            self.contents.setCurrentRow(rows[0])
            self.contents.blockSignals(blocked)
