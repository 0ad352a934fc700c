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
