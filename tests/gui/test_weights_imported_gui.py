"""Imported weights in the Model section: the Backbone card, the Templates menu, the properties'
weights choice and the palette say "imported from FILE", never "pre-trained on ImageNet"."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QComboBox
from weights_server import ARCH, use_weights_file, weights_bytes

from cnnstudio.core.weights import import_weights
from cnnstudio.gui.model.palette import palette_entries
from cnnstudio.gui.model.view import ModelDesigner

NAME = "mobilenet-v3-small"


@pytest.fixture
def designer(qtbot, monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    view = ModelDesigner(measure_time=False)
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    view.weights_data = data
    yield view
    view.tasks.cancel_all()


def test_an_imported_file_is_named_as_such_everywhere(designer, tmp_path):
    official = tmp_path / "torch" / "hub" / "checkpoints"
    official.mkdir(parents=True)
    mine = tmp_path / "my-mobilenet.pth"
    mine.write_bytes(weights_bytes(seed=2))
    import_weights(mine, NAME)
    designer.load_template(NAME)
    card = designer.stack.cards[1]
    assert "imported from my-mobilenet.pth" in card.settings.text()
    assert "ImageNet" not in card.settings.text()
    assert not card.get_weights_button.isVisible()  # the network has weights: none are missing
    designer.templates_menu.fill()
    label = next(a.text() for a in designer.templates_menu.actions() if a.data() == NAME)
    assert label.endswith("imported from my-mobilenet.pth") and "pre-trained on ImageNet" not in label
    designer.select(1)
    choices = [
        combo.itemText(combo.findData("imagenet"))
        for combo in designer.properties.findChildren(QComboBox)
        if combo.findData("imagenet") >= 0
    ]
    assert choices == ["Imported: my-mobilenet.pth"]
    entry = next(e for e in palette_entries() if e.config.get("arch") == ARCH)
    assert "imported from my-mobilenet.pth" in entry.description
    assert not any(official.iterdir())  # torch's hub folder stays empty
