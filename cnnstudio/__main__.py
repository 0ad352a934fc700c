"""`cnnstudio` with no arguments opens the app; `cnnstudio --demo` opens it on the demo project;
`cnnstudio --selftest` checks the installation headless (cnnstudio/selftest.py); with a command,
runs the command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    # Worker processes (the image check of large folders) start with "spawn"; a frozen app needs
    # this so that each of them runs the worker instead of a second app. (Only there: importing
    # multiprocessing costs `cnnstudio index --quick` 11 ms, and freeze_support does nothing else.)
    if getattr(sys, "frozen", False):
        import multiprocessing

        multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--selftest":
        from cnnstudio.selftest import run_selftest

        return run_selftest()
    if not argv or argv == ["--demo"]:
        from cnnstudio.gui.app import run

        return run(demo=bool(argv))
    from cnnstudio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
