"""Preview the Search section alone: `python -m cnnstudio.gui.search [options]`.

On the demo project (handwritten digits) unless --project names another. Without a search in the
project, a small one is run first (the Seed CNN, --trials trials of --epochs epochs, random,
pruned), so the panel shows real trials. The window is titled "CNN Studio" only once the study is
on screen, so a screenshot tool that waits for that title catches it. --autostart continues the
search in the panel and reveals the window after --show-after seconds (a search in progress);
--tab compare shows the comparison tab with the three best trials ticked.
"""

from __future__ import annotations

import argparse
import sys


def _prepare(project, name: str, trials: int, epochs: int, design: str) -> None:
    from cnnstudio.core.search import Search, SearchSettings, SearchSpace
    from cnnstudio.core.spec import template

    space = SearchSpace.from_dict(
        {
            "learning_rate": {"min": 0.0003, "max": 0.03},
            "batch_size": [16, 32, 64],
            "optimizer": ["adam", "sgd"],
        }
    )
    settings = SearchSettings(space=space, strategy="random", epochs=epochs, pruning="halving")
    search = Search.open(project, name, spec=template(design), settings=settings)
    done = sum(1 for t in search.trials() if t.counts_as_done)
    if done < trials:
        print(f"A small search on the demo ({trials} trials of {epochs} epochs, {design})…", file=sys.stderr)
        search.run(
            trials=trials, on_event=lambda e: print(f"  {e.kind} {e.trial} {e.value or ''}", file=sys.stderr)
        )
    search.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnstudio.gui.search")
    parser.add_argument("--project", default=None, help="a project folder (default: the demo project)")
    parser.add_argument("--study", default="preview", help="the search to show (made when missing)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--design", default="seed", choices=["seed", "tiny"], help="the template searched")
    parser.add_argument("--autostart", action="store_true", help="continue the search with 4 more trials")
    parser.add_argument("--show-after", type=float, default=0.0, metavar="S")
    parser.add_argument("--tab", choices=["search", "compare"], default="search")
    parser.add_argument("--size", default="1400x880")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer

    from cnnstudio.gui.app import create_app

    app = create_app(sys.argv[:1])
    app.setApplicationDisplayName("Search preview")  # "CNN Studio" only once there is something to see
    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.project import Project

    project = Project.open(args.project) if args.project else open_demo_project()
    _prepare(project, args.study, args.trials, args.epochs, args.design)

    from cnnstudio.gui.search.section import SearchSection
    from cnnstudio.gui.session import ProjectSession

    session = ProjectSession()
    section = SearchSection(session)
    panel = section.panel
    width, height = (int(v) for v in args.size.split("x"))
    section.resize(width, height)
    section.setWindowTitle("starting")
    section.show()
    session.open_project(project, check=False)
    panel.study_choice.setCurrentIndex(panel.study_choice.findData(args.study))

    def reveal() -> None:
        app.setApplicationDisplayName("CNN Studio")
        section.setWindowTitle("CNN Studio")

    def loaded() -> None:
        if panel._study_info is None:
            QTimer.singleShot(200, loaded)
            return
        best = panel.model.best()
        if best is not None:
            panel.select_trial(best.number)
        if args.tab == "compare":
            done = sorted(
                (r for r in panel.model.records if r.value is not None), key=lambda r: r.value, reverse=True
            )[:3]
            section.setCurrentIndex(1)
            section.compare.set_runs([project.runs_dir / r.run for r in done])
            section.compare.comparison_shown.connect(lambda _c: QTimer.singleShot(600, reveal))
            return
        if args.autostart:
            panel.form.trials.setValue(args.trials + 4)
            panel.start()
            QTimer.singleShot(int(args.show_after * 1000), reveal)
            return
        QTimer.singleShot(500, reveal)

    QTimer.singleShot(300, loaded)
    code = app.exec()
    panel.stop_and_wait(30)
    session.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
