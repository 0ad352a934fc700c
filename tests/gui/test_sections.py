"""Every section is built alike (gui/sections.py): a package named as its sidebar title whose
section.py defines `<Title>Section`, the widget the window mounts; a package with job control has a
controller.py, reached as the section's `jobs`; `python -m cnnstudio.gui.<package>` previews it."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest
from gui_helpers import close_session
from PySide6.QtWidgets import QWidget

from cnnstudio.gui.sections import SECTIONS

TITLES = [section.title for section in SECTIONS]


def test_the_sidebar_has_the_six_sections_in_the_order_of_the_work():
    assert TITLES == ["Data", "Model", "Train", "Evaluate", "Search", "Predict"]


def test_no_section_package_is_left_under_an_old_name():
    import cnnstudio.gui

    gui = Path(cnnstudio.gui.__file__).parent
    old = ["dataset", "designer", "training", "evaluation", "compare"]
    found = [name for name in old if any((gui / name).glob("*.py"))]  # not a stale __pycache__
    assert not found, f"cnnstudio/gui still has {found}"


@pytest.mark.parametrize("section", SECTIONS, ids=TITLES)
def test_each_section_is_its_title_package_and_mounts_its_section_class(qtbot, section):
    package = f"cnnstudio.gui.{section.title.lower()}"
    assert section.module == f"{package}.section"
    module = importlib.import_module(section.module)
    cls = getattr(module, f"{section.title}Section", None)
    assert cls is not None, f"{section.module} defines no {section.title}Section"
    assert cls.__module__ == section.module and issubclass(cls, QWidget)
    assert importlib.util.find_spec(f"{package}.__main__") is not None, f"no preview: python -m {package}"

    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    try:
        widget = section.create(session)
        qtbot.addWidget(widget)
        assert type(widget) is cls  # what the window mounts, not a placeholder or a bare view
        if importlib.util.find_spec(f"{package}.controller") is not None:
            controller = importlib.import_module(f"{package}.controller")
            assert type(widget.jobs).__module__ == controller.__name__, (
                f"{cls.__name__}.jobs is not the controller of {package}.controller"
            )
    finally:
        close_session(session)
