"""The Export model dialog on a real tiny trained run: it writes a file that was loaded back and
checked, says so in words, and says what went wrong when it cannot."""

from __future__ import annotations

import pytest
from gui_helpers import close_session, train_tiny_project
from PySide6.QtCore import QSettings, Qt


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_project(tmp_path_factory.mktemp("export"))


@pytest.fixture
def dialog(qtbot, trained, tmp_path):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.export_dialog import ExportDialog
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    session.open_project(Project.open(trained[1]), check=False)
    qtbot.waitUntil(lambda: session.health is not None and not session.tasks.busy(), timeout=20000)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)  # not the user's own
    dialog = ExportDialog(session, settings=settings)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    close_session(session)


@pytest.mark.parametrize("fmt", ["onnx", "bundle", "pt2"])
def test_export_dialog_writes_a_verified_file(qtbot, dialog, tmp_path, fmt):
    assert dialog.run_combo.count() == 1
    dialog.set_format(fmt)
    dialog.set_path(tmp_path / "exported" / "flowers")
    with qtbot.waitSignal(dialog.exported, timeout=60000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert result.verification.ok and result.verification.images > 0
    suffix = {"onnx": ".onnx", "bundle": ".cnnmodel", "pt2": ".pt2"}[fmt]
    assert result.path == tmp_path / "exported" / f"flowers{suffix}" and result.path.exists()
    text = dialog.status.text()
    assert "verified on" in text and "same class for all" in text
    assert "largest difference" not in text and ("same confidence" in text or "confidences within" in text)
    assert dialog.folder_button.isVisible() and dialog.export_button.isEnabled()
    if fmt == "onnx":
        assert (tmp_path / "exported" / "predict_example.py").exists()


def test_the_default_name_follows_the_format(dialog):
    dialog.set_format("torchscript")
    assert dialog.path_edit.text().endswith(".pt")
    dialog.set_format("onnx")
    assert dialog.path_edit.text().endswith(".onnx")
    dialog.set_path("/somewhere/my-model.onnx")
    dialog.set_format("bundle")
    assert dialog.path_edit.text() == "/somewhere/my-model.cnnmodel"


def test_a_failed_export_shows_the_message(qtbot, dialog, tmp_path):
    blocker_file = tmp_path / "a file"
    blocker_file.write_text("in the way")
    dialog.set_format("onnx")
    dialog.set_path(blocker_file / "model.onnx")  # its folder would have to be inside a file
    with qtbot.waitSignal(dialog.export_failed, timeout=60000) as blocker:
        dialog.export()
    assert "cannot be created" in blocker.args[0]
    assert "Not exported" in dialog.status.text() and "cannot be created" in dialog.status.text()
    assert not dialog.folder_button.isVisible()


def test_torchscript_asks_before_replacing_someone_elses_json(qtbot, dialog, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    theirs = tmp_path / "flowers.json"
    theirs.write_text('{"mine": true}\n', encoding="utf-8")
    asked = []

    def answer_with(button):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return button

        return question

    dialog.set_format("torchscript")
    dialog.set_path(tmp_path / "flowers.pt")
    monkeypatch.setattr(QMessageBox, "question", answer_with(QMessageBox.StandardButton.Cancel))
    dialog.export()
    assert len(asked) == 1 and "flowers.json already exists" in asked[0]
    assert "Not exported" in dialog.status.text() and dialog.export_button.isEnabled()
    assert theirs.read_text(encoding="utf-8") == '{"mine": true}\n'
    assert not (tmp_path / "flowers.pt").exists()

    monkeypatch.setattr(QMessageBox, "question", answer_with(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(dialog.exported, timeout=60000) as blocker:
        dialog.export()
    assert len(asked) == 2 and blocker.args[0].path == tmp_path / "flowers.pt"
    assert "cnnstudio.classes" in theirs.read_text(encoding="utf-8")


def test_the_default_name_has_no_characters_a_file_name_cannot_hold(dialog):
    from cnnstudio.gui.filenames import file_name_part

    assert file_name_part("Demo: handwritten digits") == "Demo handwritten digits"
    assert file_name_part(' a/b\\c?*"<>| ') == "a b c"
    assert file_name_part(":::") == "model"
    dialog.project.name = "Demo: handwritten digits"
    dialog._path_edited = False
    dialog.set_format("onnx")
    name = dialog.path_edit.text().rsplit("/", 1)[-1]
    assert ":" not in name and name.startswith("Demo handwritten digits-")


def test_int8_shows_float_and_int8_side_by_side_and_keeps_the_file(qtbot, dialog, tmp_path):
    dialog.set_format("bundle")
    assert not dialog.int8_box.isEnabled()  # int8 is an ONNX option
    dialog.set_format("onnx")
    assert dialog.int8_box.isEnabled()
    dialog.int8_box.setChecked(True)
    assert dialog.path_edit.text().endswith("-int8.onnx")
    dialog.set_path(tmp_path / "small.onnx")
    with qtbot.waitSignal(dialog.exported, timeout=120000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    check = result.verification
    assert check.ok and result.path == tmp_path / "small.onnx" and result.path.exists()
    text = dialog.status.text()
    assert "int8 ONNX checked on" in text and "<table" in text
    for row in ("Same class as the app", "Largest confidence difference", "File size", "Pictures per second"):
        assert row in text
    assert "float ONNX" in text and "int8 ONNX" in text and f"({check.size_ratio:.2f}x)" in text
    assert not dialog.keep_button.isVisible() and dialog.folder_button.isVisible()


def test_an_int8_file_that_falls_short_is_not_kept_until_the_user_says_so(
    qtbot, dialog, tmp_path, monkeypatch
):
    from cnnstudio.core.export import int8

    monkeypatch.setattr(int8, "MIN_SAME_CLASS", 1.01)  # no file can pass: the refusal, honestly
    dialog.set_format("onnx")
    dialog.int8_box.setChecked(True)
    dialog.set_path(tmp_path / "small.onnx")
    with qtbot.waitSignal(dialog.export_failed, timeout=120000) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "Nothing was saved" in blocker.args[0]
    text = dialog.status.text()
    assert "Not kept." in text and "at least 101% is needed" in text and "<table" in text
    assert not list(tmp_path.iterdir())
    assert dialog.keep_button.isVisible() and not dialog.folder_button.isVisible()
    with qtbot.waitSignal(dialog.exported, timeout=120000) as blocker:
        qtbot.mouseClick(dialog.keep_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].verification.forced and (tmp_path / "small.onnx").exists()
    assert "int8 ONNX kept as asked, though it falls short" in dialog.status.text()


def test_the_dialog_remembers_format_and_folder_and_forgets_an_old_result(qtbot, dialog, tmp_path):
    """Issue 23 item 11: the next export starts where the last one went, in its format; switching the
    format clears the previous export's result."""
    from cnnstudio.gui.export_dialog import INTRO, ExportDialog

    dialog.set_format("onnx")
    dialog.set_path(tmp_path / "models" / "flowers")
    with qtbot.waitSignal(dialog.exported, timeout=60000):
        dialog.export()
    assert "verified on" in dialog.status.text() and dialog.folder_button.isVisible()
    dialog.set_format("bundle")  # another format: the ONNX result no longer applies
    assert dialog.result is None and not dialog.folder_button.isVisible()
    assert dialog.status.text() == INTRO and "verified" not in dialog.status.text()
    again = ExportDialog(dialog.session, settings=dialog.settings)
    qtbot.addWidget(again)
    assert again.format == "onnx"
    assert again.path_edit.text().startswith(str(tmp_path / "models")) and again.path_edit.text().endswith(
        ".onnx"
    )
