"""The layer designer: real drags onto the model, reordering, settings checked as typed, problems on
the right card, templates, undo/redo, locks, and the design saved in the project."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QFont, QGuiApplication, QMouseEvent
from PySide6.QtWidgets import QApplication

from cnnstudio.core.spec import TEMPLATES, Conv2D, Dropout, ModelSpec, template
from cnnstudio.gui.model import card as card_module
from cnnstudio.gui.model import palette as palette_module
from cnnstudio.gui.model.palette import MIME_LAYER, layer_mime
from cnnstudio.gui.model.view import ModelDesigner

ACTIONS = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction


@pytest.fixture
def designer(qtbot):
    view = ModelDesigner(measure_time=False)
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    qtbot.waitExposed(view)
    return view


class FakeDrag:
    """Stands in for QDrag: records what a palette entry or a card would drag (exec would block)."""

    made: list[FakeDrag] = []

    def __init__(self, source):
        self.source = source
        self.mime = None
        FakeDrag.made.append(self)

    def setMimeData(self, mime):
        self.mime = mime

    def setPixmap(self, pixmap):
        pass

    def setHotSpot(self, point):
        pass

    def exec(self, *actions):
        return Qt.DropAction.CopyAction


def press_and_move(widget, start: QPoint, end: QPoint) -> None:
    """A left-button press and a move past the drag distance, as a person starts a drag."""
    press = QMouseEvent(
        QEvent.Type.MouseButtonPress,
        QPointF(start),
        QPointF(widget.mapToGlobal(start)),
        Qt.MouseButton.LeftButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, press)
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(end),
        QPointF(widget.mapToGlobal(end)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, move)


def drag_from(widget, module, monkeypatch):
    """Start a real drag on `widget` (a palette entry or a card); the mime data it carries."""
    FakeDrag.made.clear()
    monkeypatch.setattr(module, "QDrag", FakeDrag)
    press_and_move(widget, QPoint(12, 12), QPoint(60, 40))
    assert len(FakeDrag.made) == 1, "the widget did not start a drag"
    return FakeDrag.made[0].mime


def between(stack, above: int, below: int) -> QPoint:
    top = stack.cards[above].geometry()
    bottom = stack.cards[below].geometry()
    return QPoint(top.center().x(), (top.bottom() + bottom.top()) // 2)


def drop(stack, mime, pos: QPoint) -> None:
    """The drag enters the stack, moves to `pos` (the indicator shows there) and drops."""
    enter = QDragEnterEvent(pos, ACTIONS, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(stack, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, ACTIONS, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(stack, move)
    assert move.isAccepted()
    assert stack.indicator.isVisible()
    dropped = QDropEvent(
        QPointF(pos), ACTIONS, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(stack, dropped)
    assert not stack.indicator.isVisible()


def types(view) -> list[str]:
    return [layer.type for layer in view.spec().layers]


def test_drag_from_the_palette_inserts_where_it_is_dropped(designer, monkeypatch):
    before = types(designer)  # seed: Input, Conv2D, MaxPooling2D, Conv2D, MaxPooling2D, Flatten, Dense, Dense
    mime = drag_from(designer.palette.item("Dropout"), palette_module, monkeypatch)
    assert mime.hasFormat(MIME_LAYER)
    stack = designer.stack
    pos = between(stack, 6, 7)  # between the two Dense layers
    drop(stack, mime, pos)
    assert types(designer) == [*before[:7], "Dropout", *before[7:]]
    assert isinstance(designer.spec().layers[7], Dropout)
    assert stack.selected == 7 and len(stack.cards) == 9
    assert designer.properties.editors["rate"].value() == pytest.approx(0.5)
    designer.undo_stack.undo()
    assert types(designer) == before


def test_drop_indicator_follows_the_pointer_and_never_goes_above_the_input(designer):
    stack = designer.stack
    mime = layer_mime({"type": "BatchNormalization"})
    enter = QDragEnterEvent(
        between(stack, 2, 3),
        ACTIONS,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(stack, enter)
    assert stack.drop_index == 3
    top = QPoint(20, stack.cards[0].geometry().top() + 2)
    move = QDragMoveEvent(top, ACTIONS, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(stack, move)
    assert stack.drop_index == 1
    drop(stack, mime, top)
    assert types(designer)[:2] == ["Input", "BatchNormalization"]


def test_foreign_drags_are_refused(designer):
    from PySide6.QtCore import QMimeData

    mime = QMimeData()
    mime.setText("hello")
    enter = QDragEnterEvent(
        QPoint(50, 50), ACTIONS, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(designer.stack, enter)
    assert not enter.isAccepted()


def test_reorder_by_dragging_a_card(designer, monkeypatch):
    stack = designer.stack
    before = designer.spec().layers
    mime = drag_from(stack.cards[3], card_module, monkeypatch)  # the second Conv2D
    drop(
        stack, mime, between(stack, 5, 6)
    )  # between Flatten and the first Dense: a mistake, shown on the card
    after = designer.spec().layers
    assert after[5] is before[3] and after[4] is before[5] and after[3] is before[4]
    assert stack.selected == 5
    assert not designer.is_valid()  # a Conv2D after Flatten cannot work
    designer.undo_stack.undo()
    assert designer.spec().layers == before and designer.is_valid()
    # The Input card is not draggable.
    FakeDrag.made.clear()
    press_and_move(stack.cards[0], QPoint(12, 12), QPoint(60, 40))
    assert FakeDrag.made == []


def test_property_edit_updates_shapes_and_is_one_undo_step(designer, qtbot):
    stack = designer.stack
    qtbot.mouseClick(stack.cards[1], Qt.MouseButton.LeftButton, pos=QPoint(40, 40))
    assert stack.selected == 1
    filters = designer.properties.editors["filters"]
    steps = designer.undo_stack.count()
    filters.setValue(1)  # typing "16": "1" then "16"
    filters.setValue(16)
    assert designer.spec().layers[1].filters == 16
    assert "16 channels of 62x62" in stack.cards[1].shape_label.text()
    assert stack.cards[3].params_label.text() == f"{3 * 3 * 16 * 64 + 64:,} parameters"
    assert designer.undo_stack.count() == steps + 1  # merged
    filters.setValue(32)  # typed back to where it was: no step at all
    assert designer.undo_stack.count() == steps
    filters.setValue(16)
    kernel = designer.properties.editors["kernel_size"]
    qtbot.keyClicks(kernel, "\b5")
    assert designer.spec().layers[1].kernel_size == 5
    assert "16 channels of 60x60" in stack.cards[1].shape_label.text()
    designer.undo_stack.undo()
    designer.undo_stack.undo()
    assert designer.spec().layers[1].filters == 32
    assert designer.properties.editors["filters"].value() == 32  # the editor follows undo
    assert "32 channels of 62x62" in stack.cards[1].shape_label.text()


def test_a_value_that_cannot_work_is_red_with_the_reason(designer, qtbot):
    designer.select(1)
    kernel = designer.properties.editors["kernel_size"]
    before = designer.spec()
    kernel.selectAll()
    qtbot.keyClicks(kernel, "3x")
    assert designer.properties.field_error("kernel_size") is not None
    assert "is not a size" in designer.properties.field_error("kernel_size")
    assert "border" in kernel.styleSheet()
    assert designer.spec() is before  # the design keeps its last good value
    qtbot.keyClicks(kernel, "5")
    assert designer.properties.field_error("kernel_size") is None
    assert designer.spec().layers[1].kernel_size == (3, 5)
    designer.select(6)  # a Dense layer: units typed
    units = designer.properties.editors["units"].lineEdit()
    units.selectAll()
    qtbot.keyClicks(units, "many")
    assert "not a number of outputs" in designer.properties.field_error("units")
    units.selectAll()
    qtbot.keyClicks(units, "64")
    assert designer.spec().layers[6].units == 64


def test_a_design_that_cannot_work_says_so_on_the_right_card(designer, qtbot):
    seen = []
    designer.validity_changed.connect(lambda ok, message: seen.append((ok, message)))
    designer.select(0)
    height, width = designer.properties.editors["height"], designer.properties.editors["width"]
    height.setValue(10)
    width.setValue(10)  # 10 -> conv 8 -> pool 4 -> conv 2 -> pool 1: still fits
    assert designer.is_valid()
    height.setValue(8)  # 8 -> 6 -> 3 -> 1: the second 2x2 pooling no longer fits
    message = designer.validation_message()
    assert message is not None and message.startswith("MaxPooling2D #4:")
    assert "no longer fits" in message and "Remove a pooling layer or use 'same' padding" in message
    assert seen[-1] == (False, message)
    cards = designer.stack.cards
    assert cards[4].error_label.isVisible() and "no longer fits" in cards[4].error_label.text()
    assert not any(card.error_label.isVisible() for i, card in enumerate(cards) if i != 4)
    assert "cannot be trained" in designer.summary.status.text()
    designer.select(4)
    assert designer.properties.problem.isVisible() and "no longer fits" in designer.properties.problem.text()
    designer.undo_stack.undo()
    assert designer.is_valid() and designer.validation_message() is None
    assert seen[-1] == (True, None)


def test_templates_load_from_the_menu_and_undo_brings_the_design_back(designer):
    before = designer.spec()
    actions = {action.data(): action for action in designer.templates_menu.actions() if action.data()}
    assert list(actions) == ["seed", "tiny", "small-vgg", "resnet18", "mobilenet-v3-small", "efficientnet-b0"]
    for name in ("resnet18", "mobilenet-v3-small", "efficientnet-b0"):
        assert "pre-trained on ImageNet" in actions[name].text() or "random weights" in actions[name].text()
    for name in TEMPLATES:
        actions[name].trigger()
        assert designer.spec().layers == template(name).layers
        assert len(designer.stack.cards) == len(template(name).layers)
    assert designer.templates_menu.load_weights_action.isEnabled()  # the last one has a Backbone
    for _ in TEMPLATES:
        designer.undo_stack.undo()
    assert designer.spec().layers == before.layers
    assert not designer.templates_menu.load_weights_action.isEnabled()


def test_delete_duplicate_and_move_from_the_keyboard_with_undo_redo(designer, qtbot):
    stack = designer.stack
    designer.select(2)
    start = types(designer)
    qtbot.keyClick(stack, Qt.Key.Key_Delete)
    assert types(designer) == start[:2] + start[3:]
    qtbot.keyClick(
        stack, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier
    )  # duplicates the Conv2D now at #2
    assert types(designer)[2:4] == ["Conv2D", "Conv2D"] and stack.selected == 3
    qtbot.keyClick(stack, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert stack.selected == 2
    designer.select(0)
    qtbot.keyClick(stack, Qt.Key.Key_Delete)  # the Input stays
    assert types(designer)[0] == "Input" and "cannot be removed" in designer.message_label.text()
    for _ in range(3):
        designer.undo_action.trigger()
    assert types(designer) == start
    designer.redo_action.trigger()
    assert types(designer) == start[:2] + start[3:]
    qtbot.mouseClick(stack.cards[2].duplicate_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(stack.cards[3].delete_button, Qt.MouseButton.LeftButton)
    assert types(designer) == start[:2] + start[3:]


def test_the_lock_freezes_the_layer_in_the_built_model(designer, qtbot):
    from cnnstudio.core.spec import build_model

    card = designer.stack.cards[1]
    assert card.lock_button.isVisible() and not card.lock_button.isChecked()
    assert not designer.stack.cards[2].lock_button.isVisible()  # pooling has nothing to freeze
    qtbot.mouseClick(card.lock_button, Qt.MouseButton.LeftButton)
    spec = designer.spec()
    assert spec.layers[1].trainable is False and card.lock_button.isChecked()
    assert "frozen" in card.params_label.text()
    assert "896 frozen" in designer.summary.params.text()
    model = build_model(spec, 10)
    assert not any(p.requires_grad for p in model.layers[0].parameters())
    assert all(p.requires_grad for p in model.layers[2].parameters())
    designer.undo_stack.undo()
    assert designer.spec().layers[1].trainable is True and not card.lock_button.isChecked()


def test_dense_auto_and_the_summary(designer):
    last = designer.stack.cards[-1]
    assert "auto: one output per class (10, until a dataset is open)" in last.settings.text()
    summary = designer.summary
    report = designer.report()
    assert f"{report.total_params:,}" in summary.params.text()
    assert summary.flops.text().endswith("M per image") and "MiB per image" in summary.memory.text()
    assert "10 for now" in summary.classes.text()
    assert summary.epoch_time.text() == "not measured"  # this fixture turns the timing off


def test_show_as_code_has_pytorch_and_keras_tabs_to_copy(designer, qtbot):
    dialog = designer.show_code()
    qtbot.addWidget(dialog)
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == ["PyTorch", "Keras"]
    torch_text = dialog.editors["PyTorch"]
    assert torch_text.isReadOnly()
    assert torch_text.font().styleHint() == QFont.StyleHint.Monospace  # offscreen Qt has no real fonts to ask
    assert "class Model(nn.Module):" in torch_text.toPlainText()
    dialog.copy()
    assert QGuiApplication.clipboard().text().startswith('"""The model design "seed" as PyTorch code')
    dialog.tabs.setCurrentIndex(1)
    dialog.copy()
    assert "keras.Sequential(" in QGuiApplication.clipboard().text()
    dialog.close()


def test_the_palette_is_grouped_with_icons_and_a_line_each(designer):
    palette = designer.palette
    assert list(palette.headers) == ["Convolution", "Pooling", "Core", "Regularisation", "Pre-trained"]
    titles = [item.entry.title for item in palette.items]
    assert "Input" not in titles and {"Conv2D", "MaxPooling2D", "Dense", "ResNet-18"} <= set(titles)
    assert all(item.entry.description for item in palette.items)
    assert "2x2 square" in palette.item("MaxPooling2D").entry.description
    palette.search.setText("pool")
    visible = [item.entry.title for item in palette.items if not item.isHidden()]
    assert visible == ["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D"]


def test_double_click_adds_below_the_selected_layer(designer, qtbot):
    designer.select(5)  # Flatten
    qtbot.mouseDClick(designer.palette.item("Dropout"), Qt.MouseButton.LeftButton)
    assert types(designer)[6] == "Dropout"


def test_a_bad_weights_file_is_refused_and_a_good_one_used(designer, qtbot, tmp_path):
    import torch
    import torchvision

    designer.load_template("mobilenet-v3-small")
    wrong = tmp_path / "wrong.pth"
    torch.save({"weight": torch.zeros(2)}, wrong)
    task = designer.load_backbone_weights(wrong)
    qtbot.waitUntil(lambda: "does not fit" in designer.message_label.text(), timeout=20000)
    assert task is not None and designer.spec().layers[1].weights == "imagenet"
    good = tmp_path / "mine.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), good)
    designer.load_backbone_weights(good)
    qtbot.waitUntil(lambda: designer.spec().layers[1].weights == str(good), timeout=20000)
    assert "weights from mine.pth" in designer.stack.cards[1].settings.text()
    designer.tasks.cancel_all()


def test_spec_value_changes_outside_are_shown(designer):
    spec = ModelSpec(template("tiny").layers[:1] + [Conv2D(4, 3)] + template("tiny").layers[-2:], name="mine")
    designer.set_spec(spec)
    assert [card.layer for card in designer.stack.cards] == spec.layers
    assert "mine" in designer.model_title.text()


def test_the_lock_of_a_pretrained_network_opens_all_its_blocks(designer, qtbot):
    designer.load_template("mobilenet-v3-small")
    card = designer.stack.cards[1]
    assert card.lock_button.isChecked()  # no block trains: frozen
    qtbot.mouseClick(card.lock_button, Qt.MouseButton.LeftButton)
    backbone = designer.spec().layers[1]
    assert backbone.trainable and backbone.train_blocks == 13
    assert not card.lock_button.isChecked()
    qtbot.mouseClick(card.lock_button, Qt.MouseButton.LeftButton)
    assert designer.spec().layers[1].trainable is False
    designer.select(1)
    assert not designer.properties.editors["train_blocks"].isEnabled()


def test_the_whole_palette_entry_drags_from_its_name_and_description(designer, monkeypatch, qtbot):
    """Pressed on the entry's name or description (not the icon), routed as the window routes a real
    mouse: the drag starts; double-click says the layer was added; the hint mentions double-click."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QLabel

    palette = designer.palette
    assert "double-click" in palette.hint.text()
    item = palette.item("Dropout")
    item.parentWidget().parentWidget().parentWidget().ensureWidgetVisible(item)  # the palette's scroll area
    window = designer.window().windowHandle()
    labels = [label for label in item.findChildren(QLabel) if label.text()]
    assert len(labels) == 2  # name and description
    monkeypatch.setattr(palette_module, "QDrag", FakeDrag)
    for label in labels:
        FakeDrag.made.clear()
        start = label.mapTo(designer.window(), label.rect().center())
        QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        for step in range(1, 6):
            QTest.mouseMove(window, start + QPoint(8 * step, 4 * step))
        QTest.mouseRelease(
            window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(40, 20)
        )
        assert len(FakeDrag.made) == 1, f"grabbing {label.text()!r} did not start a drag"
        assert FakeDrag.made[0].mime.hasFormat(MIME_LAYER)
    before = len(designer.spec().layers)
    qtbot.mouseDClick(item, Qt.MouseButton.LeftButton)
    assert len(designer.spec().layers) == before + 1
    assert palette.hint.text().startswith("Added Dropout")
