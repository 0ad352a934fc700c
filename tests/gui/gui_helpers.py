"""Helpers shared by the GUI tests (importable: pytest puts tests/gui on sys.path)."""

from __future__ import annotations


def wait_idle(qtbot, session, timeout: int = 20000) -> None:
    """Until the listing, the check and the health summary are done."""
    qtbot.waitUntil(
        lambda: (
            session.index is not None
            and session.checked
            and session.health is not None
            and not session.tasks.busy()
        ),
        timeout=timeout,
    )
    qtbot.wait(150)  # debounced views (class list, split table) catch up


def train_tiny_project(root, *, per_class: int = 6, size: int = 32):
    """(data folder, project folder) under `root` with one real run: the tiny template, 2 epochs."""
    from image_fixtures import write_tiny_image_folder

    from cnnstudio.cli import main

    data = write_tiny_image_folder(root / "data", classes=3, per_class=per_class, size=size)
    project = root / "proj"
    args = ["train", str(data), "--project", str(project), "--template", "tiny"]
    assert main([*args, "--epochs", "2", "--batch-size", "8", "--json"]) == 0
    return data, project


def close_session(session) -> None:
    """Stop the session's timers and tasks before it goes: a worker thread destroyed while it runs
    would abort the process."""
    session.shutdown()
    session.deleteLater()
