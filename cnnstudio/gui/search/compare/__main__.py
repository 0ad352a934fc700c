"""Preview the comparison view alone: `python -m cnnstudio.gui.search.compare [--project P] [--runs N]`.

On the demo project unless --project names another; ticks the N newest finished runs that have
an evaluation (training two tiny runs first when there are fewer than two). The window is titled
"CNN Studio" once the comparison is drawn (with --ensemble, once the ensemble of those runs is).
"""

from __future__ import annotations

import argparse
import sys


def _ensure_runs(project, n: int):
    from cnnstudio.core.runs import STATE_FILE, read_json_object

    def finished(run) -> bool:
        return read_json_object(run / STATE_FILE).get("status") == "finished"

    runs = [
        r
        for r in sorted(project.list_runs(), reverse=True)
        if (r / "evaluation_val.json").exists() and finished(r)
    ]
    if len(runs) >= 2:
        return runs[:n]
    from cnnstudio.core.pipeline import train_project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig

    print("Training two tiny runs to compare (2 and 3 epochs)…", file=sys.stderr)
    a = train_project(project, template("tiny"), TrainConfig(epochs=2, batch_size=32), label="tiny-a").run_dir
    b = train_project(
        project, template("tiny"), TrainConfig(epochs=3, batch_size=64, lr=0.003), label="tiny-b"
    ).run_dir
    return [b, a]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnstudio.gui.search.compare")
    parser.add_argument("--project", default=None, help="a project folder (default: the demo project)")
    parser.add_argument("--runs", type=int, default=3, help="how many of the newest runs to tick")
    parser.add_argument("--tab", choices=["settings", "metrics", "f1"], default="settings")
    parser.add_argument("--ensemble", action="store_true", help="open the ensemble of the ticked runs")
    parser.add_argument("--size", default="1360x860")
    args = parser.parse_args(argv)

    from PySide6.QtCore import Qt, QTimer

    from cnnstudio.gui.app import create_app

    app = create_app(sys.argv[:1])
    app.setApplicationDisplayName("Compare preview")
    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.project import Project
    from cnnstudio.gui.search.compare.view import CompareView
    from cnnstudio.gui.session import ProjectSession

    project = Project.open(args.project) if args.project else open_demo_project()
    runs = _ensure_runs(project, args.runs)
    session = ProjectSession()
    view = CompareView(session)
    width, height = (int(v) for v in args.size.split("x"))
    view.resize(width, height)
    view.setWindowTitle("starting")
    view.show()
    session.open_project(project, check=False)

    def reveal(_comparison) -> None:
        view.tabs.setCurrentIndex({"settings": 0, "metrics": 1, "f1": 2}[args.tab])
        if args.ensemble:
            dialog = view.open_ensemble()
            dialog.setWindowTitle("starting")

            def shown(_result) -> None:
                app.setApplicationDisplayName("CNN Studio")
                QTimer.singleShot(500, lambda: dialog.setWindowTitle("CNN Studio"))

            dialog.evaluated.connect(shown)
            return
        app.setApplicationDisplayName("CNN Studio")
        QTimer.singleShot(500, lambda: view.setWindowTitle("CNN Studio"))

    view.comparison_shown.connect(reveal, type=Qt.ConnectionType.SingleShotConnection)
    view.set_runs(runs)
    code = app.exec()
    session.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
