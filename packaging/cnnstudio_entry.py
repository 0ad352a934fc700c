"""The packaged executable's entry point (PyInstaller runs this file as __main__).

`cnnstudio` is imported first, before anything can import torch: its __init__ sets
OMP_WAIT_POLICY=PASSIVE, which only takes effect when set before torch loads. main() then calls
multiprocessing.freeze_support() before dispatching, so the image check's worker processes (the
executable started again with --multiprocessing-fork) run their work instead of the app.
"""

from __future__ import annotations

import sys

import cnnstudio  # noqa: F401  (first: see the docstring)
from cnnstudio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
