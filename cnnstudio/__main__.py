"""`cnnstudio` with no arguments opens the app; with a command, runs the command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from cnnstudio.cli import main as cli_main

    if not argv:
        # The GUI does not exist yet: until it does, `cnnstudio` runs the headless demo.
        return cli_main(["demo"])
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
