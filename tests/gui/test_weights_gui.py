"""Pre-trained weights in the GUI: the Backbone card and template menu say which weights a network
has, the "Get the pre-trained weights" dialog downloads over a local server with progress, cancel,
resume and the hash check, and the Train section asks before training a random frozen network."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from training_helpers import panel_factory, wait_tasks
from weights_server import WeightsServer, use_weights_file

from cnnstudio.core.spec import template
from cnnstudio.core.weights import entry
from cnnstudio.core.weights.download import partial_path
from cnnstudio.gui.model.view import ModelDesigner
from cnnstudio.gui.model.weights_dialog import SOURCE_SETTING

NAME = "mobilenet-v3-small"


@pytest.fixture
def designer(qtbot, monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    view = ModelDesigner(measure_time=False)
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    view.load_template(NAME)
    view.weights_data = data
    yield view
    if view.weights_dialog is not None:
        view.weights_dialog.reject()
    view.tasks.cancel_all()


def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def menu_label(designer) -> str:
    designer.templates_menu.fill()
    return next(a.text() for a in designer.templates_menu.actions() if a.data() == NAME)


def test_the_card_says_random_weights_and_offers_them(designer):
    card = designer.stack.cards[1]
    assert "random weights" in card.settings.text()
    assert "will not learn well" in card.note_label.text()
    assert card.get_weights_button.isVisible()
    assert card.get_weights_button.text() == "Get the pre-trained weights (10 MB)…"
    assert "random weights" in menu_label(designer)
    action = designer.templates_menu.get_weights_action
    assert action.isEnabled() and action.text() == "Get the pre-trained weights (10 MB)…"
    action.trigger()
    assert designer.weights_dialog.isVisible() and designer.weights_dialog.item.name == NAME


def test_the_dialog_downloads_and_the_card_updates(designer, qtbot, tmp_path):
    card = designer.stack.cards[1]
    with WeightsServer(designer.weights_data) as server:
        with qtbot.waitSignal(designer.stack.get_weights_requested):
            qtbot.mouseClick(card.get_weights_button, Qt.MouseButton.LeftButton)
        dialog = designer.weights_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.close()
        dialog = designer.get_backbone_weights(1, settings(tmp_path))
        text = dialog.intro.text()
        assert entry(NAME).file_name in text and "10 MB" in text and "MobileNetV3 Small" in text
        assert "download.pytorch.org" in dialog.source_label.text()  # the official server by default
        dialog.source_edit.setText(server.base("good"))
        assert server.base("good") in dialog.source_label.text()
        with qtbot.waitSignal(dialog.fetched, timeout=20000):
            dialog.start()
    assert entry(NAME).target.read_bytes() == designer.weights_data
    assert "pre-trained on ImageNet" in card.settings.text()
    assert not card.get_weights_button.isVisible() and not card.note_label.isVisible()
    assert "pre-trained on ImageNet" in menu_label(designer)
    assert not designer.templates_menu.get_weights_action.isEnabled()
    assert "ready" in designer.message_label.text()
    assert settings(tmp_path).value(SOURCE_SETTING) == server.base("good")  # remembered


def test_cancel_keeps_the_part_and_continue_resumes(designer, qtbot, tmp_path):
    with WeightsServer(designer.weights_data) as server:
        dialog = designer.get_backbone_weights(1, settings(tmp_path))
        dialog.source_edit.setText(server.base("slow"))
        dialog.start()
        qtbot.waitUntil(lambda: dialog.progress.value() > 100_000, timeout=20000)
        with qtbot.waitSignal(dialog.task.cancelled, timeout=20000):
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and "Stopped" in dialog.status.text()
        assert dialog.download_button.text() == "Continue"
        kept = partial_path(entry(NAME)).stat().st_size
        assert kept > 0 and not entry(NAME).target.exists()
        dialog.source_edit.setText(server.base("good"))
        with qtbot.waitSignal(dialog.fetched, timeout=20000):
            qtbot.mouseClick(dialog.download_button, Qt.MouseButton.LeftButton)
        assert server.requests[-1] == ("good", f"bytes={kept}-")
    assert entry(NAME).target.read_bytes() == designer.weights_data


def test_a_tampered_download_fails_in_the_dialog(designer, qtbot, tmp_path):
    with WeightsServer(designer.weights_data) as server:
        dialog = designer.get_backbone_weights(1, settings(tmp_path))
        dialog.source_edit.setText(server.base("tampered"))
        dialog.start()
        qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=20000)
    assert "not the official" in dialog.status.text() and "deleted" in dialog.status.text()
    assert dialog.download_button.text() == "Try again"
    assert not entry(NAME).target.exists() and not partial_path(entry(NAME)).exists()
    assert "random weights" in designer.stack.cards[1].settings.text()


@pytest.fixture
def make_panel(qtbot, tmp_path, tiny_image_folder):
    yield from panel_factory(qtbot, tmp_path, tiny_image_folder)


def test_training_a_random_frozen_backbone_asks_first(qtbot, make_panel, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    panel = make_panel()
    panel.session.project.spec = template(NAME).to_dict()
    panel.section_shown()
    asked = []

    def answer_no():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer_no)
            return
        asked.append(box.text() + box.informativeText())
        box.button(QMessageBox.StandardButton.No).click()

    QTimer.singleShot(0, answer_no)
    assert not panel.start()
    assert not panel.is_training()
    assert "would not learn well" in asked[0] and "Get the pre-trained weights" in asked[0]
    assert "cnnstudio" not in asked[0] and "folder, a USB stick or a file from a colleague" in asked[0]
    wait_tasks(qtbot, panel)


def test_the_dialog_copies_from_a_folder(designer, qtbot, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / entry(NAME).file_name).write_bytes(designer.weights_data)
    dialog = designer.get_backbone_weights(1, settings(tmp_path))
    dialog.source_edit.setText(str(stick))
    assert str(stick / entry(NAME).file_name) in dialog.source_label.text()
    with qtbot.waitSignal(dialog.fetched, timeout=20000):
        dialog.start()
    assert entry(NAME).target.read_bytes() == designer.weights_data
    assert "pre-trained on ImageNet" in designer.stack.cards[1].settings.text()


COMMAND_WORDS = ("cnnstudio ", "--from", "CNNSTUDIO_", "`")


def test_the_dialog_says_what_is_missing_and_offers_three_ways(designer, qtbot, tmp_path):
    """Issue 23 item 6: plain words, a button for each way, no command-line words, never cut."""
    dialog = designer.get_backbone_weights(1, settings(tmp_path))
    text = dialog.intro.text()
    assert "What is missing" in text and "will not learn well" in text
    for way in ("Download", "From a folder or USB stick", "A file from a colleague"):
        assert way in text
    buttons = (dialog.download_button, dialog.folder_button, dialog.file_button)
    assert [b.text() for b in buttons] == [
        "Download",
        "From a folder or USB stick…",
        "A file from a colleague…",
    ]
    assert all(b.isVisible() and b.isEnabled() for b in buttons)
    shown = text + "".join(w.text() for w in (dialog.source_label, dialog.status))
    assert not any(word in shown for word in COMMAND_WORDS)
    # No internet: the failure is said in plain words, whole, and points at the other two buttons.
    dialog.source_edit.setText("http://127.0.0.1:9/")
    dialog.start()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=20000)
    message = dialog.status.text()
    assert "Could not reach" in message and "From a folder or USB stick" in message
    assert not any(word in message for word in COMMAND_WORDS), message
    qtbot.wait(50)
    assert dialog.status.heightForWidth(dialog.status.width()) <= dialog.status.height() + 2
    assert dialog.status.geometry().bottom() <= dialog.height()


def test_a_file_from_a_colleague_is_checked_and_used(designer, qtbot, tmp_path):
    from weights_server import weights_bytes

    mine = tmp_path / "from a colleague.pth"
    mine.write_bytes(weights_bytes(seed=3))
    dialog = designer.get_backbone_weights(1, settings(tmp_path))
    with qtbot.waitSignal(dialog.fetched, timeout=20000):
        dialog._choose_file(str(mine))
    assert "imported from from a colleague.pth" in designer.stack.cards[1].settings.text()
    # A file that is not this network's: said in the dialog, which stays open for another way.
    wrong = tmp_path / "notes.pth"
    wrong.write_bytes(b"not weights")
    dialog = designer.get_backbone_weights(1, settings(tmp_path))
    dialog._choose_file(str(wrong))
    qtbot.waitUntil(lambda: dialog.file_button.isEnabled(), timeout=20000)
    assert dialog.isVisible() and "notes.pth" in dialog.status.text()


def test_the_model_section_does_not_say_ready_when_weights_are_missing(designer):
    assert "Ready to train" not in designer.validity_label.text()
    assert "will not learn well" in designer.validity_label.text().lower()
    assert "Ready to train" not in designer.summary.status.text()
    assert "will not learn well" in designer.summary.status.text()


def test_the_card_and_the_settings_agree_on_frozen(designer):
    from cnnstudio.gui.model.card import is_frozen

    designer.properties.show_layer(1)
    layer = designer.document.spec.layers[1]
    assert layer.train_blocks == 0 and is_frozen(layer)
    box = designer.properties.trainable_box
    assert box is not None and not box.isChecked()  # the card says frozen: so do the settings
    box.setChecked(True)  # unlocking trains its blocks, as the card's lock does
    layer = designer.document.spec.layers[1]
    assert layer.trainable and layer.train_blocks > 0 and not is_frozen(layer)
    designer.properties.editors["train_blocks"].setValue(0)
    assert is_frozen(designer.document.spec.layers[1]) and not box.isChecked()
