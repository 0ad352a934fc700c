"""Make the user guide's screenshots from the real app (`make guide`).

Drives the real main window offscreen on the demo project (in a temporary data folder, so nothing of
the user's is touched): shows each section, trains a short run, evaluates it, predicts a few pictures,
opens the export dialog, and saves each view as a small PNG (scaled to 960 pixels wide, 256 colours)
in resources/guide/images/. Run it again whenever the GUI changes:

    QT_QPA_PLATFORM=offscreen python resources/guide/make_screenshots.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH = 960  # the width of every screenshot in the guide


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "images")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="cnnstudio-guide-") as tmp:
        os.environ["CNNSTUDIO_DATA_DIR"] = tmp  # the demo project lives here, not in the user's folder
        return _shoot(args.out, args.epochs, Path(tmp))


def _shoot(out: Path, epochs: int, tmp: Path) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from cnnstudio.core.demo import open_demo_project
    from cnnstudio.core.spec import template
    from cnnstudio.gui.app import create_app
    from cnnstudio.gui.main_window import MainWindow

    app = create_app(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(settings=QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    session = window.session

    def wait(done, timeout: float = 120.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while not done():
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() > end:
                raise SystemExit(f"make_screenshots: gave up waiting for {what or 'the app'}")
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)

    def idle() -> bool:
        return session.index is not None and session.checked and not session.tasks.busy()

    def save(widget, name: str) -> None:
        wait(lambda: True)
        path = out / f"{name}.png"
        _write_small_png(widget.grab().toImage(), path)
        print(
            f"{path.relative_to(HERE) if path.is_relative_to(HERE) else path}: {path.stat().st_size:,} bytes"
        )

    window.resize(860, 520)  # the start page small, so its picture is not shrunk to a thumbnail
    save(window, "welcome")
    window.resize(1280, 800)
    project = open_demo_project()
    if project.spec is None:
        project.spec = template("tiny").to_dict()
    window.open_project(project)
    wait(idle, what="the demo project to be listed")
    browser = window.pages[0]
    wait(lambda: browser.loader.wait_idle(200), what="the thumbnails")
    save(window, "data")

    window.show_section(1)
    save(window, "model")

    panel = window.show_section(2)
    config = panel.config()
    config.epochs = epochs
    panel.set_config(config)
    panel.start()
    wait(lambda: panel.is_training(), 60, "training to start")
    wait(lambda: not panel.is_training(), 600, "training to end")
    wait(lambda: not session.tasks.busy(), 60, "the run history")
    save(window, "train")

    evaluate = window.show_section(3)
    wait(lambda: evaluate.report is not None and not session.tasks.busy(), 300, "the evaluation")
    save(window, "evaluate")

    window.show_section(4)
    save(window, "search")

    predict = window.show_section(5)
    pictures = sorted({s.path for s in session.index.samples if s.split == "test"})[:12]
    predict.add_inputs(pictures)
    wait(lambda: predict.results.rowCount() == len(pictures) and not predict.jobs.busy(), 300, "predictions")
    wait(lambda: predict.loader.wait_idle(200), what="the thumbnails")
    save(window, "predict")

    from cnnstudio.gui.export_dialog import ExportDialog

    dialog = ExportDialog(session, parent=window, settings=window.settings)  # not the user's last folder
    dialog.resize(760, 520)
    dialog.show()
    save(dialog, "export")
    dialog.close()

    guide = window.open_guide("index.md")
    save(guide, "guide")
    guide.close()
    window.session.save()
    window.session.shutdown()
    window.close()
    QApplication.processEvents()
    return 0


def _write_small_png(image, path: Path) -> None:
    """Scaled to WIDTH pixels, 256 colours, optimised: a screenshot of about 50-120 KB."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice, Qt

    if image.width() > WIDTH:
        image = image.scaledToWidth(WIDTH, Qt.TransformationMode.SmoothTransformation)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    import io

    picture = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    small = picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


if __name__ == "__main__":
    sys.exit(main())
