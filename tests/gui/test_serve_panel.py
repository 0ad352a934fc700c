""" "Use from other programs" in the Predict section: serve the chosen run, answer a real request
with the Predictor's own prediction, count it, copy an example, stop (and the address goes away)."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
from gui_helpers import close_session, train_tiny_project
from PySide6.QtGui import QGuiApplication


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_project(tmp_path_factory.mktemp("serve-gui"))


@pytest.fixture
def section(qtbot, trained):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.predict.section import create_section
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    view = create_section(session)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    session.open_project(Project.open(trained[1]), check=False)
    qtbot.waitUntil(lambda: view.model_source is not None and not session.tasks.busy(), timeout=20000)
    yield view
    dialog = getattr(view, "serve_dialog", None)
    if dialog is not None:
        dialog.close()
    close_session(session)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_the_chosen_run_answer_count_copy_and_stop(qtbot, section, trained):
    from cnnstudio.core.export import Predictor

    assert section.serve_button.isEnabled() and section.serve_button.isVisible()
    section.serve_button.click()
    dialog = section.serve_dialog
    assert dialog.isVisible() and dialog.source == section.model_source
    assert "Not serving" in dialog.address.text() and not dialog.stop_button.isEnabled()
    port = free_port()
    dialog.port.setValue(port)
    dialog.start_button.click()
    url = f"http://127.0.0.1:{port}"
    assert dialog.url == url and url in dialog.address.text()
    assert dialog.stop_button.isEnabled() and not dialog.start_button.isEnabled()

    picture = sorted(trained[0].rglob("*.png"))[0]
    request = urllib.request.Request(url + "/predict", data=picture.read_bytes(), method="POST")
    answer = json.load(urllib.request.urlopen(request, timeout=30))
    expected = Predictor.from_source(section.model_source).predict([picture]).predictions[0]
    assert answer["label"] == expected.label
    assert answer["confidence"] == pytest.approx(expected.confidence, abs=1e-6)
    qtbot.waitUntil(lambda: dialog.answered.text() == "1 picture answered", timeout=5000)

    titles = [dialog.examples.tabText(i) for i in range(dialog.examples.count())]
    assert titles == ["curl", "Python", "Spreadsheet or no-code tool"]
    dialog.examples.setCurrentIndex(0)
    copied = dialog.copy_example()
    assert QGuiApplication.clipboard().text() == copied and f"{url}/predict" in copied and "curl" in copied

    dialog.stop_button.click()
    assert dialog.url is None and "Not serving" in dialog.address.text()
    assert dialog.answered.text() == "1 picture answered"
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=5)


def test_a_port_in_use_is_said_and_closing_stops(qtbot, section):
    section.serve_button.click()
    dialog = section.serve_dialog
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        dialog.port.setValue(taken.getsockname()[1])
        assert not dialog.start()
        assert "already in use" in dialog.address.text() and dialog.start_button.isEnabled()
    dialog.port.setValue(free_port())
    assert dialog.start()
    url = dialog.url
    assert json.load(urllib.request.urlopen(url + "/health", timeout=10)) == {"status": "ok"}
    dialog.close()
    assert dialog.service is None
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=5)
