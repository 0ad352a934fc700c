"""The user guide: opened from Help and from a section's "?" (F1) on that section's page; every page
and picture a page refers to exists, and every section has a page."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def window(qtbot, tmp_path):
    from cnnstudio.gui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.session.tasks.cancel_all()


def test_every_page_and_picture_the_guide_refers_to_exists():
    from cnnstudio.gui.guide import PAGES, SECTION_PAGES, guide_dir, referenced_files
    from cnnstudio.gui.sections import SECTIONS

    root = guide_dir()
    files = {file for file, _title in PAGES}
    assert {section.title for section in SECTIONS} <= set(SECTION_PAGES)
    assert set(SECTION_PAGES.values()) <= files
    pictures = set()
    for file in files:
        page = root / file
        assert page.exists(), file
        for target in referenced_files(page):
            assert (root / target).exists(), f"{file} refers to {target}, which is missing"
            if target.endswith(".png"):
                pictures.add(target)
    assert {"images/data.png", "images/train.png", "images/evaluate.png"} <= pictures
    for picture in pictures:  # kept small: scaled and optimised by make_screenshots.py
        assert (root / picture).stat().st_size < 250_000, picture


def test_help_menu_opens_the_guide_and_the_shortcuts(window, qtbot):
    window.guide_action.trigger()
    guide = window.guide
    assert guide is not None and guide.isVisible() and guide.page == "index.md"
    text = guide.browser.toPlainText()
    assert "CNN Studio user guide" in text and "Try the demo" in text
    # The pictures load: the document holds the screenshot as an image resource.
    assert not guide.browser.document().resource(2, "images/welcome.png").isNull()
    # A link goes to its page, and Back comes back.
    guide.browser.setSource(guide.browser.source().resolved("numbers.md"))
    assert guide.page == "numbers.md" and "Precision" in guide.browser.toPlainText()
    assert guide.contents.currentItem().text() == "What do these numbers mean?"
    guide.back_button.click()
    assert guide.page == "index.md"
    window.shortcuts_action.trigger()
    assert window.guide is guide and guide.page == "shortcuts.md"
    assert "Ctrl+E" in guide.browser.toPlainText()


def test_the_question_mark_opens_the_page_of_the_section_that_is_open(window, qtbot, tiny_image_folder):
    from gui_helpers import wait_idle

    window.open_path(tiny_image_folder(classes=2, per_class=3), ask=False)
    wait_idle(qtbot, window.session)
    window.show_section(0)
    window.sidebar.help_button.click()
    assert window.guide.page == "data.md" and "Number keys" in window.guide.browser.toPlainText()
    window.show_section(2)
    window.section_help_action.trigger()  # F1
    assert window.guide.page == "train.md"
    assert window.section_help_action.shortcut().toString() == "F1"
