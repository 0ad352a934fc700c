"""Each section's controller names what it uses of its widget in a Protocol (so it need not import the
widget's module, which imports the controller). The protocols cannot drift: a constructed widget has
every protocol member, and every `panel.X` / `view.X` the controller reads is a protocol member."""

from __future__ import annotations

import ast
import inspect

import pytest
from gui_helpers import close_session

from cnnstudio.gui.data import controller as data_controller
from cnnstudio.gui.evaluate import controller as evaluation_controller
from cnnstudio.gui.predict import controller as predict_controller
from cnnstudio.gui.search import controller as search_controller
from cnnstudio.gui.train import controller as training_controller

# (controller module, protocol, the widget's name in the controller, widget module, widget class)
SECTIONS = [
    (data_controller, "DataView", "browser", "cnnstudio.gui.data.browser", "DatasetBrowser"),
    (training_controller, "TrainingView", "panel", "cnnstudio.gui.train.panel", "TrainingPanel"),
    (search_controller, "SearchView", "panel", "cnnstudio.gui.search.panel", "SearchPanel"),
    (evaluation_controller, "EvaluationView", "view", "cnnstudio.gui.evaluate.view", "EvaluationPanel"),
    (predict_controller, "PredictView", "view", "cnnstudio.gui.predict.view", "PredictPanel"),
]


def protocol_members(protocol) -> set[str]:
    return set(protocol.__annotations__) | {name for name in vars(protocol) if not name.startswith("_")}


def used_members(module, name: str) -> set[str]:
    """Attributes read on `name` or `self.name` anywhere in the module."""
    used = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Attribute):
            continue
        target = node.value
        if isinstance(target, ast.Name) and target.id == name:
            used.add(node.attr)
        elif (
            isinstance(target, ast.Attribute)
            and target.attr == name
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
        ):
            used.add(node.attr)
    return used


@pytest.mark.parametrize("module, protocol_name, name, widget_module, widget_class", SECTIONS)
def test_the_controller_uses_only_its_protocol_and_the_widget_has_all_of_it(
    qtbot, module, protocol_name, name, widget_module, widget_class
):
    import importlib

    from cnnstudio.gui.session import ProjectSession

    protocol = getattr(module, protocol_name)
    members = protocol_members(protocol)
    used = used_members(module, name)
    assert used, f"the check reads nothing on `{name}` in {module.__name__}"
    missing_from_protocol = sorted(used - members)
    assert not missing_from_protocol, (
        f"{module.__name__} uses {name}.{', '.join(missing_from_protocol)}: add them to {protocol_name}"
    )
    unused = sorted(members - used)
    assert not unused, f"{protocol_name} lists {', '.join(unused)}, which the controller never uses"

    session = ProjectSession()
    try:
        widget = getattr(importlib.import_module(widget_module), widget_class)(session)
        qtbot.addWidget(widget)
        lacking = sorted(member for member in members if not hasattr(widget, member))
        assert not lacking, f"{widget_class} lacks {', '.join(lacking)} of {protocol_name}"
        assert isinstance(widget, protocol)
        assert isinstance(widget.jobs, getattr(module, protocol_name.replace("View", "Controller")))
    finally:
        close_session(session)


def test_the_protocol_check_sees_a_missing_member(qtbot):
    class Partial:
        session = None

    assert not isinstance(Partial(), training_controller.TrainingView)
    assert "show_notice" in protocol_members(training_controller.TrainingView)
    assert {"summary_text", "split", "isVisible"} <= protocol_members(evaluation_controller.EvaluationView)
