"""The dataset browser: filters, labelling by key, by drag and by menu, undo, classes, problems, viewer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gui_helpers import wait_idle
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnnstudio.gui.data.thumbnail_model import ALL, CLASS, PROBLEMS, UNLABELLED, paths_from_mime


def _labels(session) -> dict[str, str | None]:
    return {s.path: s.label for s in session.index.samples}


def _saved_labels(session) -> dict:
    session.save()
    return json.loads(session.project.file.read_text())["labels"]


def test_class_list_counts_and_filters(open_browser, qtbot):
    session, browser, _data = open_browser(classes=3, per_class=6)
    rows = browser.class_panel.model.rows
    assert [(r.kind, r.name, r.count) for r in rows] == [
        (ALL, "All images", 18),
        (UNLABELLED, "Unlabelled", 0),
        (CLASS, "class_0", 6),
        (CLASS, "class_1", 6),
        (CLASS, "class_2", 6),
    ]
    assert all(r.warning for r in rows if r.kind == CLASS)  # 6 < 10 images: the health summary warns
    assert "at least 10" in browser.split_panel.health.text()
    browser.show_filter(CLASS, "class_1")
    assert browser.model.rowCount() == 6
    assert {s.label for s in browser.model.samples()} == {"class_1"}
    browser.split_combo.setCurrentIndex(1)  # training only
    assert 0 < browser.model.rowCount() < 6
    assert {s.split for s in browser.model.samples()} == {"train"}
    browser.split_combo.setCurrentIndex(0)
    browser.show_filter(ALL)
    browser.search.setText("img_003")
    qtbot.waitUntil(lambda: browser.model.rowCount() == 3)
    assert all(Path(s.path).stem == "img_003" for s in browser.model.samples())
    browser.search.clear()
    qtbot.waitUntil(lambda: browser.model.rowCount() == 18)
    # The split table sums to the usable images.
    table = browser.split_panel.table
    total = sum(int(table.item(table.rowCount() - 1, c).text()) for c in range(3))
    assert total == 18


def test_label_by_number_key_advances_and_undo_redo(open_browser, qtbot):
    session, browser, _data = open_browser(classes=3, per_class=4)
    grid = browser.grid
    browser.show_filter(CLASS, "class_0")
    grid.setFocus()
    grid.select_row(0)
    first = browser.model.sample(0).path
    qtbot.keyClick(grid, Qt.Key.Key_3)  # class_2
    assert session.labels.sample(first).label == "class_2"
    # It left the class_0 view; the next image is selected, ready for the next key.
    assert browser.model.rowCount() == 3
    assert grid.selected_rows() == [0]
    assert _saved_labels(session) == {session.project.key(first): "class_2"}
    session.undo_stack.undo()
    assert session.labels.sample(first).label == "class_0"
    assert _saved_labels(session) == {}
    session.undo_stack.redo()
    assert session.labels.sample(first).label == "class_2"
    qtbot.keyClick(grid, Qt.Key.Key_9)  # there is no class 9: nothing happens, a message says why
    assert "no class 9" in browser.status.text()


def test_number_keys_are_the_names_of_digit_classes_and_the_label_given_is_shown(open_browser, qtbot):
    """Classes "0"..."9": pressing 5 gives "5" (not the 5th class, "4") and 9 reaches "9"."""

    def digits(data):
        for folder in sorted(data.iterdir()):
            folder.rename(data / folder.name.removeprefix("class_"))

    session, browser, _data = open_browser(classes=10, per_class=2, prepare=digits)
    rows = [r for r in browser.class_panel.model.rows if r.kind == CLASS]
    assert [(r.name, r.shortcut) for r in rows] == [(str(d), d) for d in range(10)]
    grid = browser.grid
    browser.show_filter(CLASS, "0")
    grid.setFocus()
    grid.select_row(0)
    first = browser.model.sample(0).path
    qtbot.keyClick(grid, Qt.Key.Key_5)
    assert session.labels.sample(first).label == "5"
    assert grid.flash_label.isVisible() and grid.flash_label.text() == "5"
    assert "“5”" in browser.status.text()
    second = browser.model.sample(grid.selected_rows()[0]).path
    qtbot.keyClick(grid, Qt.Key.Key_9)
    assert session.labels.sample(second).label == "9"
    qtbot.waitUntil(lambda: not grid.flash_label.isVisible(), timeout=3000)


def test_number_keys_are_shown_on_every_class_badge(open_browser):
    session, browser, _data = open_browser(classes=3, per_class=2)
    rows = [r for r in browser.class_panel.model.rows if r.kind == CLASS]
    assert [r.shortcut for r in rows] == [1, 2, 3]


def test_split_note_says_validation_pictures_come_from_train_when_there_is_no_val_folder(open_browser):
    def train_and_test(data):
        (data / "train").mkdir()
        for folder in sorted(p for p in data.iterdir() if p.name.startswith("class_")):
            folder.rename(data / "train" / folder.name)
            test = data / "test" / folder.name
            test.mkdir(parents=True)
            for picture in sorted((data / "train" / folder.name).iterdir())[:2]:
                picture.rename(test / picture.name)

    session, browser, _data = open_browser(classes=3, per_class=12, prepare=train_and_test)
    note = browser.split_panel.note.text()
    val = sum(1 for s in session.index.samples if s.split == "val")
    assert val > 0
    assert "(train/, test/)" in note and "val/" in note and "(train/, val/, test/)" not in note
    assert f"{val} validation pictures are taken from train/" in note


def test_unlabelled_queue_advances_after_each_label(open_browser, qtbot):
    session, browser, _data = open_browser(classes=2, per_class=4)
    paths = [s.path for s in session.index.samples[:3]]
    browser.assign(paths, None)
    browser.show_filter(UNLABELLED)
    assert browser.model.rowCount() == 3
    assert browser.grid.selected_rows() == [0]  # the queue starts at its first image
    browser.grid.setFocus()
    for expected_left in (2, 1, 0):
        qtbot.keyClick(browser.grid, Qt.Key.Key_2)
        assert browser.model.rowCount() == expected_left
    assert all(session.labels.sample(p).label == "class_1" for p in paths)
    row = browser.class_panel.model.rows[browser.class_panel.model.row_of(UNLABELLED)]
    qtbot.waitUntil(lambda: browser.class_panel.model.rows[1].count == 0)
    assert row.kind == UNLABELLED


def _drop_on_row(view, row: int, mime: QMimeData) -> None:
    """A real drag-and-drop sequence on the class list's viewport, at the centre of `row`."""
    rect = view.visualRect(view.model().index(row, 0))
    pos = QPointF(rect.center())
    target = view.viewport()
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, mods)
    QApplication.sendEvent(target, move)
    assert move.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, buttons, mods, QEvent.Type.Drop)
    QApplication.sendEvent(target, drop)


def test_drag_images_onto_a_class(open_browser):
    session, browser, _data = open_browser(classes=3, per_class=4)
    browser.show_filter(CLASS, "class_0")
    indexes = [browser.model.index(r, 0) for r in (0, 1)]
    mime = browser.model.mimeData(indexes)  # what the grid puts on the drag
    paths = paths_from_mime(mime)
    assert len(paths) == 2 and mime.hasUrls()
    view = browser.class_panel.view
    _drop_on_row(view, browser.class_panel.model.row_of(CLASS, "class_2"), mime)
    assert [session.labels.sample(p).label for p in paths] == ["class_2", "class_2"]
    assert session.undo_stack.undoText().startswith('Label 2 images "class_2"')
    # Onto "Unlabelled": the label goes.
    _drop_on_row(view, browser.class_panel.model.row_of(UNLABELLED), mime)
    assert [session.labels.sample(p).label for p in paths] == [None, None]
    # A drop that carries no images (a file from elsewhere) changes nothing.
    other = QMimeData()
    other.setText("hello")
    assert not browser.class_panel.model.canDropMimeData(
        other, Qt.DropAction.CopyAction, -1, -1, view.model().index(3, 0)
    )


def test_context_menu_labels_the_selection(open_browser):
    session, browser, _data = open_browser(classes=2, per_class=3)
    browser.grid.select_row(0)
    path = browser.model.sample(0).path
    menu = browser.build_grid_menu()
    label_menu = menu.actions()[0].menu()
    names = [a.text() for a in label_menu.actions() if a.text()]
    assert names[:2] == ["class_0", "class_1"] and "New class…" in names
    next(a for a in label_menu.actions() if a.text() == "class_1").trigger()
    assert session.labels.sample(path).label == "class_1"


def test_create_rename_merge_delete_classes_with_undo(open_browser, qtbot):
    session, browser, _data = open_browser(classes=3, per_class=4)
    panel = browser.class_panel
    before = _labels(session)
    assert panel.new_class("dog") == "dog"
    qtbot.waitUntil(lambda: panel.model.row_of(CLASS, "dog") >= 0)
    panel.rename_class("class_0", "cat")
    panel.merge_class("class_1", "cat")
    panel.delete_class("class_2", confirm=False)
    qtbot.waitUntil(lambda: [r.name for r in panel.model.rows if r.kind == CLASS] == ["cat", "dog"])
    assert session.counts() == {"cat": 8, "dog": 0}
    assert panel.model.rows[1].count == 4  # class_2's images are unlabelled now
    saved = json.loads((session.save(), session.project.file.read_text())[1])
    assert saved["extra_classes"] == ["dog"]
    for _ in range(4):
        session.undo_stack.undo()
    assert _labels(session) == before
    qtbot.waitUntil(
        lambda: [r.name for r in panel.model.rows if r.kind == CLASS] == ["class_0", "class_1", "class_2"]
    )
    assert session.project.extra_classes == []


def test_write_labels_to_folders_and_undo(open_browser, qtbot, tmp_path):
    session, browser, data = open_browser(classes=2, per_class=3)
    moved = session.index.samples[0].path
    browser.assign([moved], "class_1")
    before = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    task = browser.write_labels("move")
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)
    assert task is not None
    after = sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    assert f"class_1/{Path(moved).name}" in after and after != before
    assert session.undo_stack.count() == 0  # label steps named the old paths
    browser.undo_last_write()
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()) == before
    assert session.labels.sample(moved).label == "class_1"  # the label edit is back in the project
    # A copy leaves the images where they are, and its undo removes the copies.
    dest = tmp_path / "copies"
    browser.write_labels("copy", dest)
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)
    assert len(list(dest.rglob("*.*"))) == 6
    browser.undo_last_write()
    qtbot.waitUntil(lambda: not session.tasks.busy(), timeout=10000)
    assert not dest.exists() or not any(dest.rglob("*.*"))


def test_write_dialog_shows_the_plan(open_browser, tmp_path):
    from cnnstudio.gui.data.write_dialog import WriteLabelsDialog

    session, _browser, data = open_browser(classes=2, per_class=3)
    dialog = WriteLabelsDialog(session)
    assert dialog.ok.text() == "Copy 6 images" and dialog.ok.isEnabled()
    dialog.destination.setText(str(data / "inside"))
    assert not dialog.ok.isEnabled() and "outside" in dialog.summary.text()
    dialog.move_radio.setChecked(True)
    assert dialog.ok.text() == "Nothing to write"  # every image is in its class folder already
    dialog.close()


def _add_problems(data: Path) -> None:
    (data / "class_0" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (data / "class_0" / "empty.png").write_bytes(b"")
    shutil.copy(data / "class_1" / "img_000.png", data / "class_1" / "copy_of_000.png")


def test_problems_are_listed_with_show_in_folder_and_copies_keep_one(open_browser, qtbot, monkeypatch):
    opened = []
    monkeypatch.setattr(
        "cnnstudio.gui.folders.QDesktopServices.openUrl", lambda url: opened.append(url) or True
    )
    session, browser, data = open_browser(classes=2, per_class=4, prepare=_add_problems)
    panel = browser.problems
    reasons = {Path(p).name: r for p, r in panel.model.items}
    assert set(reasons) == {"broken.jpg", "empty.png"}
    assert reasons["empty.png"].startswith("empty file")
    assert browser.tabs.tabText(2) == "Problems (3)"  # 2 unusable + 1 group of copies
    panel.table.selectRow(0)
    panel.show_selected()
    assert opened and Path(opened[0].toLocalFile()) == data / "class_0"
    assert panel.model.data(panel.model.index(0, 2)) == "class_0/"
    browser.show_filter(PROBLEMS)
    assert browser.model.rowCount() == 2
    # Copies: keep one leaves the other out of the project; undo brings it back.
    assert [Path(p).name for p in panel.groups[0]] == ["copy_of_000.png", "img_000.png"]
    assert "keeping img_000.png" in panel.copies.topLevelItem(0).text(0)  # the plain name, not the copy
    n = len(session.index.samples)
    panel.keep_one(0)
    assert len(session.index.samples) == n - 1
    assert session.project.excluded == {"class_1/copy_of_000.png"}
    assert (data / "class_1" / "copy_of_000.png").exists()  # never deleted
    qtbot.waitUntil(lambda: not panel.groups)
    session.undo_stack.undo()
    assert len(session.index.samples) == n and session.project.excluded == set()


def test_viewer_shows_details_and_arrow_keys_move(open_browser, qtbot):
    session, browser, _data = open_browser(classes=2, per_class=3, size=40)
    viewer = browser.open_viewer(0)
    qtbot.waitExposed(viewer)
    first = browser.model.sample(0)
    assert Path(first.path).name in viewer.title.text()
    details = viewer.details.text()
    assert "40 × 40 pixels" in details and "class: class_0" in details and "split:" in details
    assert "1 of 6" in viewer.position.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.row == 1 and browser.grid.selected_rows() == [1]
    qtbot.keyClick(viewer, Qt.Key.Key_Left)
    assert viewer.row == 0
    qtbot.keyClick(viewer, Qt.Key.Key_2)  # label class_1 and move on
    assert session.labels.sample(first.path).label == "class_1"
    assert viewer.row == 1
    assert not viewer.canvas.image.isNull()
    viewer.close()


def test_thumbnails_load_in_the_background_and_are_cached_on_disk(open_browser, qtbot):
    session, browser, _data = open_browser(classes=2, per_class=3, size=200)
    loader = browser.loader
    qtbot.waitUntil(
        lambda: loader.wait_idle(100) and all(loader.get(s.path) is not None for s in session.index.samples),
        timeout=10000,
    )
    image = loader.get(session.index.samples[0].path)
    assert max(image.width(), image.height()) == 128
    cached = list((session.project.cache_dir / "thumbs").rglob("*.png"))
    assert len(cached) == 6
    # A second loader reads the cache rather than the images.
    from cnnstudio.gui.thumbnails import make_thumbnail

    again = make_thumbnail(session.index.samples[0].path, session.project.cache_dir / "thumbs")
    assert again.size() == image.size()


def test_reopening_keeps_label_edits(open_browser, qtbot):
    from cnnstudio.core.project import Project

    session, browser, _data = open_browser(classes=2, per_class=3)
    path = session.index.samples[0].path
    browser.assign([path], "class_1")
    session.save()
    session.open_project(Project.open(session.project.folder))
    wait_idle(qtbot, session)
    assert session.labels.sample(path).label == "class_1"
    assert session.undo_stack.count() == 0


def test_many_copies_list_their_files_only_when_their_group_is_opened(open_browser, qtbot):
    """Issue 23 item 10: the health summary's groups of copies no longer become one row per file on
    the GUI thread at once (30,000 rows stalled the scrolling); a group lists its files when opened."""
    import shutil

    from cnnstudio.gui.data.problems import OPEN_FILES

    def copies(data):
        for i in range(6):  # 6 groups of 50 identical files
            source = data / "class_0" / f"img_{2 * i:03d}.png"
            for k in range(49):
                shutil.copyfile(source, data / "class_0" / f"copy_{i}_{k:02d}.png")

    session, browser, _data = open_browser(classes=2, per_class=12, prepare=copies)
    panel = browser.problems
    qtbot.waitUntil(lambda: len(panel.groups) == 6, timeout=20000)
    tree = panel.copies
    assert tree.topLevelItemCount() == 6
    filled = [tree.topLevelItem(i).childCount() for i in range(6)]
    assert sum(filled) <= OPEN_FILES and filled[0] == 50 and filled[-1] == 0, filled
    last = tree.topLevelItem(5)
    last.setExpanded(True)  # opening a group lists its files
    assert last.childCount() == 50
    assert sum("(kept)" in last.child(k).text(0) for k in range(50)) == 1
    tree.setCurrentItem(last.child(3))
    panel.keep_one()
    qtbot.waitUntil(lambda: len(panel.groups) == 5, timeout=10000)
