"""Preview the Data section alone: `python -m cnnstudio.gui.data [FOLDER] [--tab images|split|problems] [--viewer]`.

On the demo project unless FOLDER names a project or a folder of images.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnstudio.gui.data",
        description="The Data section alone, on the demo project or FOLDER.",
    )
    parser.add_argument("folder", nargs="?", help="a project or a folder of images (default: the demo)")
    parser.add_argument("--tab", choices=["images", "split", "problems"], default="images")
    parser.add_argument("--viewer", action="store_true", help="open the large view on the first image")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer

    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.gui.app import create_app
    from cnnstudio.gui.data.section import DataSection
    from cnnstudio.gui.project_flow import project_for_folder
    from cnnstudio.gui.session import ProjectSession

    app = create_app(sys.argv[:1])
    session = ProjectSession()
    browser = DataSection(session)
    browser.setWindowTitle("CNN Studio — Data (preview)")
    browser.resize(1280, 820)
    browser.show()
    project = project_for_folder(args.folder, ask=False) if args.folder else open_demo_project()
    session.open_project(project)
    browser.tabs.setCurrentIndex(["images", "split", "problems"].index(args.tab))
    if args.viewer:
        session.index_changed.connect(lambda _i: QTimer.singleShot(300, lambda: browser.open_viewer(0)))
    app.aboutToQuit.connect(session.tasks.cancel_all)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
