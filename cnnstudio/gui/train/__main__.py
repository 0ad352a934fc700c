"""Preview the Train section alone: `python -m cnnstudio.gui.train [options]`.

On the demo project (handwritten digits) unless --project names another. --autostart starts a run
as soon as the pictures are listed; --show-after S keeps "CNN Studio" out of the window title until
the run has trained for S seconds (without --autostart: S seconds after opening), so a screenshot tool that waits for that title catches the run
in progress. --lr-finder opens "Find a good learning rate"; --compare N selects the N newest runs
(their curves overlaid).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnstudio.gui.train")
    parser.add_argument("--project", default=None, help="a project folder (default: the demo project)")
    parser.add_argument(
        "--template", default=None, help="train this template instead of the project's design"
    )
    parser.add_argument("--epochs", type=int, default=None, help="the number of epochs to show")
    parser.add_argument(
        "--autostart", action="store_true", help="start training once the pictures are listed"
    )
    parser.add_argument(
        "--show-after",
        type=float,
        default=0.0,
        metavar="S",
        help="title the window after S seconds of training",
    )
    parser.add_argument("--lr-finder", action="store_true", help="open 'Find a good learning rate'")
    parser.add_argument("--compare", type=int, default=0, metavar="N", help="select the N newest runs")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from cnnstudio.gui.app import create_app

    app = create_app(sys.argv[:1])
    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.project import Project
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.train.panel import TrainingPanel

    project = Project.open(args.project) if args.project else open_demo_project()
    if args.template:
        from cnnstudio.core.spec import template

        project.spec = template(args.template).to_dict()
    if args.show_after > 0:
        # Qt appends the application's display name to window titles on Linux: keep "CNN Studio" out
        # of the title until the run has trained for a while.
        app.setApplicationDisplayName("Train preview")
    session = ProjectSession()
    panel = TrainingPanel(session)
    session.error.connect(lambda text: QMessageBox.warning(panel, "CNN Studio", text))
    # Exactly the application's name: Qt then appends nothing (an appended " — name" has a dash
    # that screenshot tools' title searches miss in a C locale).
    title = "CNN Studio"
    panel.setWindowTitle("starting" if args.show_after > 0 else title)
    panel.resize(1360, 860)
    panel.show()
    session.open_project(project, check=False)
    if args.epochs:
        config = panel.config()
        config.epochs = args.epochs
        panel.set_config(config)
    if args.autostart:
        started = []

        def start_once(index) -> None:
            if index is not None and not started:
                started.append(True)
                QTimer.singleShot(0, panel.start)

        session.index_changed.connect(start_once)
    if args.lr_finder or args.compare:

        def when_listed(index) -> None:
            if index is None:
                return
            session.index_changed.disconnect(when_listed)
            if args.lr_finder:
                QTimer.singleShot(0, panel.find_learning_rate)
            if args.compare:
                QTimer.singleShot(
                    3000,
                    lambda: panel.history.select([r.name for r in panel.history.records[: args.compare]]),
                )

        session.index_changed.connect(when_listed)
    if args.show_after > 0:

        def reveal() -> None:
            app.setApplicationDisplayName("CNN Studio")
            panel.setWindowTitle(title)

        if args.autostart:
            panel.training_started.connect(
                lambda _run: QTimer.singleShot(int(args.show_after * 1000), reveal)
            )
        else:
            QTimer.singleShot(int(args.show_after * 1000), reveal)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
