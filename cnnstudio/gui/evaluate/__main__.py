"""Preview the Evaluate section alone: `python -m cnnstudio.gui.evaluate [options]`.

On the demo project (handwritten digits) unless --project names another; a tiny run is trained first
when the project has none. The window is titled "CNN Studio" only once the evaluation (and, with
--gradcam, the overlay) is on screen, so a screenshot tool that waits for that title catches it.
--synthetic N shows a made-up report with N classes (no project, no pictures): the confusion matrix
at 2 to 50 classes.
"""

from __future__ import annotations

import argparse
import sys


def _synthetic_report(k: int):
    import numpy as np

    from cnnstudio.core.evaluate import EvaluationReport

    rng = np.random.default_rng(0)
    words = [
        "apple",
        "aeroplane",
        "butterfly",
        "kingfisher",
        "motorcycle",
        "sunflower",
        "table lamp",
        "wardrobe",
    ]
    names = [f"{words[i % len(words)]} {i}" if k > 10 else words[i % len(words)] for i in range(k)]
    if k > 30:
        names[3] = "a class with a rather long name indeed"
    n = 40 * k
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 3.0
    confusable = (y + 1) % k
    logits[np.arange(n), confusable] += rng.normal(1.2, 1.0, n)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return EvaluationReport.from_predictions(probs, y, class_names=names, split="val", run="synthetic")


def _ensure_run(project) -> None:
    from cnnstudio.core.runs import trained_runs

    if trained_runs(project):
        return
    from cnnstudio.core.pipeline import train_project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig

    print("The project has no trained run: training a tiny one (2 epochs)…", file=sys.stderr)
    train_project(project, template("tiny"), TrainConfig(epochs=2, batch_size=32), label="tiny")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnstudio.gui.evaluate")
    parser.add_argument("--project", default=None, help="a project folder (default: the demo project)")
    parser.add_argument("--split", default="val", choices=["val", "test", "train"])
    parser.add_argument("--cell", default=None, metavar="ROW,COL", help="show this confusion cell's pictures")
    parser.add_argument("--tab", default=None, choices=["pictures", "losses", "issues", "metrics"])
    parser.add_argument("--gradcam", action="store_true", help="show the Grad-CAM overlay of the picture")
    parser.add_argument("--percent", action="store_true", help="the matrix in percent of each true class")
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="a made-up report with N classes"
    )
    parser.add_argument("--export-dialog", action="store_true", help="open the Export model dialog")
    parser.add_argument(
        "--export-to", default=None, metavar="FILE", help="and export there (.onnx, .pt, ...)"
    )
    parser.add_argument("--size", default="1360x860")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from cnnstudio.gui.app import create_app

    app = create_app(sys.argv[:1])
    # Qt appends the application's name to window titles on Linux: keep "CNN Studio" out of the title
    # until there is something to see.
    app.setApplicationDisplayName("Evaluate preview")
    from cnnstudio.gui.evaluate.view import EvaluationPanel
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    view = EvaluationPanel(session)
    session.error.connect(lambda text: QMessageBox.warning(view, "Evaluate", text))
    width, height = (int(v) for v in args.size.split("x"))
    view.resize(width, height)
    view.setWindowTitle("starting")
    title = "CNN Studio — Evaluate (preview)"

    def reveal() -> None:
        app.setApplicationDisplayName("CNN Studio")
        view.setWindowTitle(title)

    def ready(_report) -> None:
        if args.percent:
            view.percent_button.setChecked(True)
        if args.cell:
            row, col = (int(v) for v in args.cell.split(","))
            view.confusion.select(row, col)
        tabs = {
            "pictures": (view.middle_tabs, 0),
            "losses": (view.middle_tabs, 1),
            "issues": (view.middle_tabs, 2),
        }
        if args.tab in tabs:
            widget, i = tabs[args.tab]
            widget.setCurrentIndex(i)
            if args.tab == "issues" and view.issues.list.count():
                view.issues.list.setCurrentRow(0)
            if args.tab == "losses" and view.top_losses.gallery.rowCount():
                view.top_losses.setCurrentIndex(view.top_losses.gallery.index(1))
        elif args.tab == "metrics":
            view.left_tabs.setCurrentIndex(1)
        if args.gradcam and view.panel.picture is not None:
            view.overlay_shown.connect(lambda _image: QTimer.singleShot(300, reveal))
            view.panel.gradcam.setChecked(True)
            return
        if args.export_dialog:
            from cnnstudio.gui.export_dialog import ExportDialog

            dialog = ExportDialog(session, run_dir=view.run_dir, parent=view)
            dialog.setWindowTitle("CNN Studio — Export model")
            QTimer.singleShot(500, dialog.show)
            if args.export_to:
                fmt = (
                    "onnx"
                    if args.export_to.endswith(".onnx")
                    else "torchscript"
                    if args.export_to.endswith(".pt")
                    else "bundle"
                )
                dialog.set_format(fmt)
                dialog.set_path(args.export_to)
                dialog.export()
                dialog.exported.connect(lambda _r: QTimer.singleShot(300, reveal))
                dialog.export_failed.connect(lambda _t: QTimer.singleShot(300, reveal))
                return
        QTimer.singleShot(500, reveal)

    view.show()
    if args.synthetic:
        view.report_shown.connect(ready)
        view.show_report(_synthetic_report(args.synthetic))
        return app.exec()

    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.project import Project

    project = Project.open(args.project) if args.project else open_demo_project()
    _ensure_run(project)
    view.report_shown.connect(ready, type=_single_shot_connection())
    session.open_project(project, check=False)
    if args.split != "val":
        view.set_split(args.split)
    return app.exec()


def _single_shot_connection():
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.SingleShotConnection


if __name__ == "__main__":
    sys.exit(main())
