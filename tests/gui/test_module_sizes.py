"""The GUI stays navigable: no module in cnnstudio/gui over 600 lines (a section's widget keeps its
widgets; its job control lives in a controller beside it)."""

from __future__ import annotations

from pathlib import Path

import cnnstudio.gui

LIMIT = 600


def test_no_gui_module_is_over_600_lines():
    root = Path(cnnstudio.gui.__file__).parent
    sizes = {
        p.relative_to(root).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in root.rglob("*.py")
    }
    assert len(sizes) > 50  # the whole package was read
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"split these along a real seam (a controller, a shared widget): {over}"

