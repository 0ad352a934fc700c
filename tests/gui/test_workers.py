"""Tasks and their runner: a task still running when its runner (a session, a window) goes keeps its
thread until it ends (Qt aborts the process when a running QThread is destroyed), and nothing that
went with the runner is called afterwards."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject

from cnnstudio.gui import workers
from cnnstudio.gui.workers import TaskRunner


class Owner(QObject):
    """Stands for a session: its runner is its child, its callbacks use it."""

    def __init__(self):
        super().__init__()
        self.runner = TaskRunner(self)
        self.results = []

    def got(self, value) -> None:
        self.results.append(value)
        self.objectName()  # raises once the C++ object is gone


def test_a_task_outlives_its_runner_and_is_not_heard_from_after_it(qtbot):
    release = threading.Event()
    owner = Owner()
    heard = []
    task = owner.runner.start(
        "Waiting", lambda ctx: release.wait(10) and 42, on_success=lambda v: heard.append(v)
    )
    task.succeeded.connect(lambda v: owner.got(v))
    assert task in workers._LIVE
    owner.deleteLater()
    qtbot.wait(50)  # the owner and its runner are gone; the thread still runs
    release.set()
    qtbot.waitUntil(lambda: task not in workers._LIVE, timeout=10000)
    qtbot.wait(50)
    assert heard == []  # its listeners belonged to what went


def test_cancel_all_leaves_a_task_that_does_not_stop_to_finish_alone(qtbot):
    release = threading.Event()
    runner = TaskRunner()
    heard = []
    task = runner.start("Stubborn", lambda ctx: release.wait(10), on_success=heard.append)
    runner.cancel_all(wait_ms=50)
    assert not runner.busy() and task in workers._LIVE
    release.set()
    qtbot.waitUntil(lambda: task not in workers._LIVE, timeout=10000)
    assert heard == []


def test_a_finished_task_reports_and_is_released(qtbot):
    runner = TaskRunner()
    heard = []
    with qtbot.waitSignal(runner.task_ended, timeout=10000):
        task = runner.start("Quick", lambda ctx: 7, on_success=heard.append)
    qtbot.waitUntil(lambda: task not in workers._LIVE, timeout=10000)
    assert heard == [7] and not runner.busy()
