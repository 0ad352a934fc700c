"""Packages whose public names are imported on first use (PEP 562).

core.dataset must not pull numpy or Pillow into `cnnstudio index --quick`; core.train and
core.evaluate must not pull torch into the GUI's first paint. Each lists where its names live.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, homes: dict[str, str | tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for `package`: `homes` maps each name to its sub-module, or to
    (sub-module, name there) when it is exported under another name. A name is cached in the
    package once imported."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = (home, name) if isinstance(home, str) else home
        value = getattr(importlib.import_module(f"{package}.{module}"), attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return __getattr__, __dir__
