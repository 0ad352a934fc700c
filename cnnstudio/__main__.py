"""`cnnstudio` with no arguments opens the app; `cnnstudio --demo` opens it on the demo project;
with a command, runs the command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv == ["--demo"]:
        # Worker processes (the image check) start with "spawn"; a frozen app needs this to not
        # start a second window in each of them.
        import multiprocessing

        multiprocessing.freeze_support()
        from cnnstudio.gui.app import run

        return run(demo=bool(argv))
    from cnnstudio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
