"""Small helpers for the words the app says to people (no torch, no Qt)."""

from __future__ import annotations


def plural(n: int, one: str, many: str | None = None) -> str:
    """ "1 epoch", "3 epochs"; `many` where adding an s is wrong ("pictures are")."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
