"""Texts and values that must follow what changed, not stay from before (issue 23, item 4)."""

from __future__ import annotations

import shutil

from gui_helpers import close_session, wait_idle


def _loose_pictures(data) -> None:
    """Four pictures beside the class folders: the scan gives them no label."""
    for i, picture in enumerate(sorted((data / "class_0").iterdir())[:4]):
        shutil.copy(picture, data / f"loose_{i}{picture.suffix}")


def _no_label_warnings(session) -> list[str]:
    return [w for w in session.health.warnings if "no label" in w]


def test_the_no_label_warning_counts_the_pictures_still_unlabelled_also_after_a_restart(open_browser, qtbot):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession

    session, browser, _data = open_browser(prepare=_loose_pictures)
    assert _no_label_warnings(session) == [
        "4 pictures have no label yet; label them in the app or move them into a class folder."
    ]
    loose = [s.path for s in session.index.samples if s.label is None]
    browser.assign(loose[:3], "class_1")
    qtbot.waitUntil(lambda: "1 picture has no label yet" in " ".join(_no_label_warnings(session)))
    assert len(_no_label_warnings(session)) == 1
    browser.assign(loose[3:], "class_2")
    qtbot.waitUntil(lambda: not _no_label_warnings(session))
    session.save()
    # The app opened again on the project: the folder has not changed, the labels in the project have.
    again = ProjectSession()
    try:
        again.open_project(Project.open(session.project.folder))
        wait_idle(qtbot, again)
        assert not _no_label_warnings(again)
    finally:
        close_session(again)
