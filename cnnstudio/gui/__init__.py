"""The desktop app: PySide6 views over core objects (nothing here that a test of core would need).

PySide6 is pinned to 6.11.3 (pyproject.toml): 6.12.0 on Python 3.11 drops a reference to `None`
or `True` on every void Qt call and every Signal.emit, and aborts the app after some thousands of
calls ("none_dealloc: deallocating None"). Measured here on 2026-11-28; 6.11.3 does not.
"""
