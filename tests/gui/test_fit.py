"""Every section fits 1000 x 700 and 1360 x 860: no cut button, label, choice or tab title, and no
sideways scrolling (issue 23 item 8). fit_check.cut_texts names what a person could not read."""

from __future__ import annotations

import pytest
from fit_check import cut_texts
from gui_helpers import train_tiny_project, wait_idle
from PySide6.QtCore import QSettings


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_project(tmp_path_factory.mktemp("fit"))[1]


@pytest.mark.parametrize("size", [(1000, 700), (1360, 860)])
def test_every_section_shows_its_texts_whole(qtbot, tmp_path, trained, size, monkeypatch):
    from cnnstudio.gui.main_window import MainWindow

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no pre-trained weights here

    window = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    window.open_path(trained, ask=False)
    wait_idle(qtbot, window.session)
    # After a run, the Train section names where it trained beside its buttons (the longest words).
    window.show_section(2).progress.set_hardware("cpu", "bf16 mixed (CPU has AVX512-BF16)")
    problems = {}
    for i, section in enumerate(window.sections):
        window.show_section(i)
        qtbot.waitUntil(lambda: not window.session.tasks.busy(), timeout=30000)
        qtbot.wait(300)  # an evaluation's tab titles and the run lists fill in
        assert (window.width(), window.height()) == size
        found = cut_texts(window)
        if found:
            problems[section.title] = found
    # The Model section on a pre-trained template without its weights (the longest texts there).
    designer = window.show_section(1)
    designer.load_template("resnet18")
    designer.stack.select(1)
    qtbot.wait(300)
    found = cut_texts(window)
    if found:
        problems["Model (ResNet-18, no weights)"] = found
    note = designer.stack.cards[1].note_label.text()
    assert "will not learn well" in note and "cnnstudio" not in note  # no command-line words
    window.session.tasks.cancel_all()
    assert not problems, "\n".join(f"{title}: {p}" for title, found in problems.items() for p in found)
