"""Preview the Predict section alone: `python -m cnnstudio.gui.predict [options] [PICTURES_OR_FOLDERS...]`.

On the demo project (handwritten digits) unless --project names another; a tiny run is trained first
when the project has none. Without inputs it predicts a sample of the demo's pictures. The window is
titled "CNN Studio" only once the table is filled, so a screenshot tool that waits for it catches it.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnstudio.gui.predict")
    parser.add_argument("inputs", nargs="*", help="pictures or folders to predict")
    parser.add_argument("--project", default=None, help="a project folder (default: the demo project)")
    parser.add_argument("--model", default=None, help="a .cnnmodel file instead of the newest run")
    parser.add_argument("--threshold", type=float, default=0.0, help='the "unknown" threshold, 0 to 0.99')
    parser.add_argument("--size", default="1360x860")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from cnnstudio.gui.app import create_app

    app = create_app(sys.argv[:1])
    app.setApplicationDisplayName("Predict preview")  # "CNN Studio" in the title once there is a table
    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.project import Project
    from cnnstudio.gui.evaluate.__main__ import _ensure_run
    from cnnstudio.gui.predict.section import create_section
    from cnnstudio.gui.session import ProjectSession

    project = Project.open(args.project) if args.project else open_demo_project()
    _ensure_run(project)
    inputs = list(args.inputs)
    if not inputs and project.source is not None:
        # A few pictures of each class, so the preview shows a varied table.
        folders = sorted(p for p in project.source.iterdir() if p.is_dir())
        inputs = [str(f) for folder in folders for f in sorted(folder.iterdir())[:4]]
    session = ProjectSession()
    view = create_section(session)  # as the main window makes it (with "Use from other programs…")
    session.error.connect(lambda text: QMessageBox.warning(view, "Predict", text))
    width, height = (int(v) for v in args.size.split("x"))
    view.resize(width, height)
    view.setWindowTitle("starting")
    view.show()
    session.open_project(project, check=False)
    if args.model:
        view.open_model_file(args.model)
    view.set_threshold(args.threshold)

    def reveal(_result) -> None:
        def show() -> None:
            app.setApplicationDisplayName("CNN Studio")
            view.setWindowTitle("CNN Studio — Predict (preview)")

        QTimer.singleShot(800, show)

    view.predicted.connect(reveal)
    view.add_inputs(inputs)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
