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
from cnnstudio.gui.designer.view import ModelDesigner
from cnnstudio.gui.designer.weights_dialog import SOURCE_SETTING

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
    assert "would not learn well" in asked[0] and f"cnnstudio weights get {NAME}" in asked[0]
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
