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


def _table_rows(text: str, heading: str | None = None) -> list[list[str]]:
    """The rows of the first table (after `heading` when given), as lists of cells."""
    if heading is not None:
        text = text.split(heading, 1)[1]
    rows, started = [], False
    for line in text.splitlines():
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set(cells[0]) <= set("-:") and cells[0] != "Keys" and cells[0] != "Format":
                rows.append(cells)
        elif started:
            break
    return rows


def _expand(keys: str) -> list[str]:
    """ "Ctrl+1 ... Ctrl+6" -> Ctrl+1 ... Ctrl+6; "Ctrl+Z / Ctrl+Shift+Z" -> both."""
    import re

    out = []
    for part in keys.split(" / "):
        m = re.fullmatch(r"(.*?)(\d) \.\.\. (.*?)(\d)", part)
        if m:
            out += [f"{m.group(1)}{i}" for i in range(int(m.group(2)), int(m.group(4)) + 1)]
        else:
            out.append(part)
    return out


def test_the_guide_names_only_formats_keys_and_sections_the_app_has(window, qtbot, tiny_image_folder):
    """Issue 23 item 9 (`make guide` runs this too): the Export page lists the dialog's formats, all
    of them; the shortcuts page's keys are the menus' keys, all of them; every section has its place
    on the start page; the queue's Enter and the digit keys are said as the app does them."""
    from PySide6.QtGui import QAction, QKeySequence

    from cnnstudio.gui.export_dialog import FORMATS
    from cnnstudio.gui.guide import guide_dir
    from cnnstudio.gui.sections import SECTIONS

    root = guide_dir()
    export_rows = _table_rows((root / "export.md").read_text(encoding="utf-8"))
    named = {cell.split("`")[1] for cell, *_ in export_rows if "`" in cell}
    assert named == {suffix for *_rest, suffix in FORMATS}, named
    assert len(export_rows) == len(FORMATS)
    for (_fmt, title, _text, _suffix), (cell, *_) in zip(FORMATS, export_rows, strict=True):
        assert title.split(" (")[0] in cell, (title, cell)

    shortcuts = (root / "shortcuts.md").read_text(encoding="utf-8")
    guide_keys = {key for cells in _table_rows(shortcuts) for key in _expand(cells[0])}
    app_keys = {
        sequence.toString(QKeySequence.SequenceFormat.PortableText)
        for action in window.findChildren(QAction)
        for sequence in action.shortcuts()
        if not sequence.isEmpty()
    }
    assert guide_keys <= app_keys, guide_keys - app_keys
    standard = QKeySequence.StandardKey
    kinds = (standard.New, standard.Open, standard.Save, standard.SaveAs, standard.Undo, standard.Redo)
    kinds += (standard.Refresh, standard.HelpContents)
    alternates = {  # a platform's second keys for the same thing (Ctrl+Y for Redo...): not listed
        k.toString(QKeySequence.SequenceFormat.PortableText)
        for kind in kinds
        for k in QKeySequence.keyBindings(kind)[
            0 if kind == standard.Redo else 1 :
        ]  # Redo: Ctrl+Shift+Z first
    }
    assert app_keys <= guide_keys | alternates, app_keys - guide_keys
    data_rows = {cells[0]: cells[1] for cells in _table_rows(shortcuts, "## Data section")}
    assert "accept" in data_rows["Enter, in the suggestion queue"].lower()
    assert "0 ... 9" in data_rows and "1 ... 9" in data_rows

    index = (root / "index.md").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"[{section.title}](" in index, section.title
    import re

    for title in re.findall(r"^\d+\. \[([^\]]+)\]", index, re.M):
        assert title in {s.title for s in SECTIONS} | {"Export"}, title

    # The Data hint says the keys the app uses: 0-9 for classes named by digits.
    data = tiny_image_folder(classes=3, per_class=3)
    for i in range(3):
        (data / f"class_{i}").rename(data / str(i))
    window.open_path(data, ask=False)
    from gui_helpers import wait_idle

    wait_idle(qtbot, window.session)
    browser = window.show_section(0)
    qtbot.waitUntil(lambda: "<b>0</b>–<b>2</b>" in browser.class_panel.hint.text(), timeout=5000)
