"""A GUI session and other processes on one project: the session notices project.json changing on
disk (even when replaced by an atomic rename), takes the changes in, keeps its own unsaved edits,
says what changed, and asks when the same picture was relabelled in both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gui_helpers import wait_idle

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project_session(qtbot, tmp_path, tiny_image_folder):
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession

    project = Project.create(tmp_path / "proj", tiny_image_folder(classes=2, per_class=8))
    session = ProjectSession()
    session.open_project(project)
    wait_idle(qtbot, session)
    yield session
    session.shutdown()
    session.deleteLater()


def _paths(session, label):
    return sorted(s.path for s in session.index.samples if s.label == label)


def test_a_cli_search_and_gui_label_edits_in_parallel(qtbot, project_session):
    session = project_session
    project = session.project
    cli = subprocess.Popen(
        [sys.executable, "-m", "cnnstudio", "search", str(project.folder), "--template", "tiny",
         "--epochs", "1", "--trials", "1", "--use-best"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    messages = []
    session.message.connect(messages.append)
    edited = []
    try:
        # Label edits while the CLI trains and then writes the best design into project.json.
        for path in _paths(session, "class_0")[:4]:
            session.apply_edit(session.labels.assign([path], "class_1"))
            edited.append(path)
            session.save()
            qtbot.wait(50)
        with qtbot.waitSignal(session.disk_changed, timeout=120_000) as changed:
            pass
    finally:
        out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert "the model design" in changed.args[0] and "the training settings" in changed.args[0]
    assert any("Another program changed this project (" in m for m in messages)
    assert project.spec["name"] == "tiny"  # taken in without reopening
    # One more edit after the CLI's write; then everything is on disk, nothing lost.
    last = _paths(session, "class_0")[0]
    session.apply_edit(session.labels.assign([last], "class_1"))
    session.save()
    data = json.loads(project.file.read_text())
    assert data["spec"]["name"] == "tiny" and data["train_config"]["epochs"] == 1
    for path in [*edited, last]:
        assert data["labels"][project.key(path)] == "class_1"


WRITER = """
import sys
from cnnstudio.core.project import Project
project = Project.open(sys.argv[1])
for key, label in zip(sys.argv[2::2], sys.argv[3::2]):
    project.labels[key] = label
project.save()
"""


def test_a_conflicting_relabel_asks_and_can_take_theirs(qtbot, project_session):
    session = project_session
    project = session.project
    a, b, c = _paths(session, "class_0")[:3]
    asked = []
    answers = iter([True, False])
    session.ask_conflicts = lambda conflicts: asked.append(conflicts) or next(answers)
    labels = []
    session.labels_changed.connect(labels.append)

    def other_process(*pairs):
        subprocess.run(
            [sys.executable, "-c", WRITER, str(project.folder), *pairs],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )

    # Mine unsaved: a -> class_1. Theirs: a -> other, b -> class_1. Keep mine for a, take b.
    session.apply_edit(session.labels.assign([a], "class_1"))
    session._save_timer.stop()  # still unsaved when the other process writes
    with qtbot.waitSignal(session.disk_changed, timeout=10_000):
        other_process(project.key(a), "other", project.key(b), "class_1")
    assert asked[-1] == [(project.key(a), "class_1", "other")]
    assert session.labels.sample(a).label == "class_1" and session.labels.sample(b).label == "class_1"
    assert labels  # the views were told
    session.save()
    assert json.loads(project.file.read_text())["labels"][project.key(a)] == "class_1"

    # Again, and this time take theirs.
    session.apply_edit(session.labels.assign([c], "class_1"))
    session._save_timer.stop()
    with qtbot.waitSignal(session.disk_changed, timeout=10_000):
        other_process(project.key(c), "third")
    assert len(asked) == 2
    assert session.labels.sample(c).label == "third" and project.labels[project.key(c)] == "third"
    session.save()
    assert json.loads(project.file.read_text())["labels"][project.key(c)] == "third"


def test_the_designer_shows_a_design_written_by_another_process(qtbot, project_session):
    from cnnstudio.core.spec import template
    from cnnstudio.gui.model.document import DesignDocument

    session = project_session
    document = DesignDocument(session)
    assert document.spec.name != "tiny"
    session.save()  # the designer's own design is saved (after its usual short delay)
    code = (
        "import sys; from cnnstudio.core.project import Project; from cnnstudio.core.spec import template\n"
    )
    code += "p = Project.open(sys.argv[1]); p.spec = template('tiny').to_dict(); p.save()"
    with qtbot.waitSignal(session.disk_changed, timeout=10_000):
        subprocess.run(
            [sys.executable, "-c", code, str(session.project.folder)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )
    assert document.spec.to_dict() == template("tiny").to_dict()


REMOVER = """
import sys
from cnnstudio.core.project import Project
project = Project.open(sys.argv[1])
for key in sys.argv[2:]:
    project.labels.pop(key, None)
project.save()
"""


def test_taking_theirs_when_they_removed_the_edit_restores_the_folder_label(qtbot, project_session):
    session = project_session
    project = session.project
    a = _paths(session, "class_0")[0]
    key = project.key(a)
    session.apply_edit(session.labels.assign([a], "class_1"))
    session.save()
    asked = []
    session.ask_conflicts = lambda conflicts: asked.append(conflicts) or False  # take theirs
    # Here: unlabelled (unsaved). There: the edit is taken back, so the picture is class_0 again.
    session.apply_edit(session.labels.assign([a], None))
    session._save_timer.stop()
    with qtbot.waitSignal(session.disk_changed, timeout=10_000):
        subprocess.run(
            [sys.executable, "-c", REMOVER, str(project.folder), key],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        )
    assert asked == [[(key, None, "class_0")]]
    # Before: the picture was marked unlabelled (project.labels[key] = None).
    assert session.labels.sample(a).label == "class_0"
    assert key not in project.labels and not project.unsaved()
    session.save()
    assert key not in json.loads(project.file.read_text())["labels"]
