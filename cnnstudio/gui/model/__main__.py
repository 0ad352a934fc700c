"""Preview the designer alone: `python -m cnnstudio.gui.model [--template NAME] [--broken] [--code]`.

--project FOLDER opens a CNN Studio project (its classes, dataset size and saved design);
--broken adds a layer that cannot work (to see how a problem looks); --code opens "Show as code".
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnstudio.gui.model")
    parser.add_argument(
        "--template", default=None, help="start from this template (seed, tiny, small-vgg, resnet18, ...)"
    )
    parser.add_argument("--project", default=None, help="a project folder to open")
    parser.add_argument("--broken", action="store_true", help="add a layer that does not fit")
    parser.add_argument("--code", action="store_true", help="open the code dialog")
    parser.add_argument("--select", type=int, default=None, help="select this layer")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    from cnnstudio.core.spec import Conv2D, template
    from cnnstudio.gui.model.view import ModelDesigner

    app = QApplication.instance() or QApplication(sys.argv)
    session = None
    if args.project:
        from cnnstudio.core.project import Project
        from cnnstudio.gui.session import ProjectSession

        session = ProjectSession()
        session.open_project(Project.open(args.project), check=False)
    designer = ModelDesigner(session)
    designer.setWindowTitle("CNN Studio — Model designer (preview)")
    if args.template:
        designer.document.reset(template(args.template))
    if args.broken:
        spec = designer.spec()
        designer.set_spec(
            spec.insert_layer(len(spec.layers) - 3, Conv2D(64, 15)), "Add a layer that does not fit"
        )
        args.select = len(spec.layers) - 3 if args.select is None else args.select
    if args.select is not None:
        designer.select(args.select)
    designer.resize(1360, 860)
    designer.show()
    if args.code:
        designer.show_code()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
