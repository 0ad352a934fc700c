"""`cnnstudio --selftest`: the whole pipeline on the demo digits, headless, in a throw-away data folder.

Made for the packaged executable: each step uses what a frozen build most often loses (data files
read at run time, compiled operators loaded indirectly, worker processes that start the executable
again, Qt plugins), so a broken build fails here, with the step and the reason, instead of in a
user's hands. It prints one line per step and ends with "selftest OK"; the exit status is 0 only
when every step passed. Nothing outside a temporary folder is written: the user's projects,
settings and demo data stay untouched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

OK_LINE = "selftest OK"
MIN_ACCURACY = 0.3  # chance is 0.1; one epoch of the Seed CNN reaches ~0.85 on the digits


class SelftestFailure(Exception):
    """A step ran but its result is wrong (the message says what was expected)."""


class _Context:
    """What the steps hand to each other."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.project: Any = None
        self.spec: Any = None
        self.data: Any = None
        self.run_dir: Path | None = None


Step = tuple[str, Callable[[_Context], str]]


def _environment(ctx: _Context) -> str:
    from cnnstudio import __version__
    from cnnstudio.core.export.card import library_versions

    missing = [name for name, version in library_versions().items() if version == "not installed"]
    if missing:
        # Model cards and run folders record these versions; a frozen build needs their metadata.
        raise SelftestFailure(f"no version information for {', '.join(missing)}")
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    frozen = "frozen executable" if getattr(sys, "frozen", False) else "Python " + sys.version.split()[0]
    return f"CNN Studio {__version__}, {frozen}, OMP_WAIT_POLICY={policy}"


def _demo_data(ctx: _Context) -> str:
    from cnnstudio.core.demo import ensure_demo_dataset, open_demo_project

    folder = ensure_demo_dataset()
    count = sum(1 for _ in folder.rglob("*.png"))
    if count != 1797:
        raise SelftestFailure(f"expected 1,797 demo pictures, found {count:,}")
    ctx.project = open_demo_project()
    return f"{count:,} pictures of handwritten digits written to {folder}"


def _design(ctx: _Context) -> str:
    import torch

    from cnnstudio.core.spec import build_model, infer_shapes, template

    ctx.spec = template("seed")
    report = infer_shapes(ctx.spec, 10)
    if report.error:
        raise SelftestFailure(report.error)
    model = build_model(ctx.spec, 10)
    prep = ctx.spec.preprocessing()
    channels = 1 if prep.channels == "L" else 3
    with torch.no_grad():
        logits = model(torch.zeros(2, channels, prep.height, prep.width))
    if tuple(logits.shape) != (2, 10):
        raise SelftestFailure(f"the model gave shape {tuple(logits.shape)} instead of (2, 10)")
    return f"Seed CNN, {prep.width}x{prep.height}, {report.total_params:,} parameters"


def _index(ctx: _Context) -> str:
    from cnnstudio.core.pipeline import prepare_data

    ctx.data = prepare_data(ctx.project, ctx.spec)
    counts = {split: len(part.y) for split, part in ctx.data.splits.items()}
    if len(ctx.data.class_names) != 10 or sum(counts.values()) != 1797:
        raise SelftestFailure(
            f"expected 10 classes and 1,797 pictures, got {ctx.data.class_names} and {counts}"
        )
    shown = ", ".join(f"{n:,} {split}" for split, n in counts.items())
    return f"checked, split and decoded: {shown}"


def _train(ctx: _Context) -> str:
    from cnnstudio.core.pipeline import train_project
    from cnnstudio.core.train import TrainConfig

    config = TrainConfig(epochs=1, batch_size=32, seed=0)
    result = train_project(ctx.project, ctx.spec, config, data=ctx.data, label="selftest")
    history = result.history
    if history.status != "finished":
        raise SelftestFailure(f"training {history.status} ({history.reason}): {history.message}")
    ctx.run_dir = result.run_dir
    last = history.epochs[-1]
    return (
        f"1 epoch on {result.device} ({result.precision}), loss {last['loss']:.3f}, "
        f"{last.get('seconds', 0.0):.1f} s"
    )


def _evaluate(ctx: _Context) -> str:
    from cnnstudio.core.pipeline import evaluate_run

    report = evaluate_run(ctx.project, ctx.run_dir, split="test", data=ctx.data)
    if not report.accuracy >= MIN_ACCURACY:
        raise SelftestFailure(f"test accuracy {report.accuracy:.3f}, expected at least {MIN_ACCURACY}")
    return f"test accuracy {report.accuracy:.3f} on {len(report.y_true):,} pictures"


def _export(fmt: str) -> Callable[[_Context], str]:
    def step(ctx: _Context) -> str:
        from cnnstudio.core.export import export_run

        result = export_run(ctx.project, fmt, ctx.tmp / "exports" / "", run=ctx.run_dir.name)
        if not result.verification.ok or not result.path.is_file():
            raise SelftestFailure(result.message)
        missing = [p.name for p in result.extra_files if not p.is_file()]
        if missing:
            raise SelftestFailure(f"{', '.join(missing)} was not written beside the export")
        return result.message

    return step


def _serve(ctx: _Context) -> str:
    import http.client
    import json

    from cnnstudio.core.export import Predictor
    from cnnstudio.core.serve import ServeOptions
    from cnnstudio.core.serve.server import Service

    # FastAPI, uvicorn and the multipart parser are imported by name inside uvicorn and starlette,
    # which a frozen build loses without notice: serve one picture on a free port, as `cnnstudio
    # serve` does, and check the answer against the Predictor's own.
    predictor = Predictor.from_source(ctx.run_dir)
    picture = sorted(Path(ctx.project.source).rglob("*.png"))[0]
    expected = predictor.predict([picture]).predictions[0]
    with Service(predictor, ServeOptions(port=0)) as service:
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
        try:
            conn.request("POST", "/predict", body=picture.read_bytes(), headers={"Content-Type": "image/png"})
            response = conn.getresponse()
            answer = json.loads(response.read())
        finally:
            conn.close()
    if response.status != 200 or answer.get("label") != expected.label:
        raise SelftestFailure(f"the service answered {response.status} {answer}, expected {expected.label}")
    if abs(answer["confidence"] - expected.confidence) > 1e-5:
        raise SelftestFailure(f"the service said {answer['confidence']}, the app {expected.confidence}")
    return f"served on {service.url}: {picture.name} is {answer['label']} ({answer['confidence']:.0%})"


def _torchvision_operator(ctx: _Context) -> str:
    import torch
    import torchvision

    # nms lives in torchvision's compiled extension, which a frozen build loses without notice.
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    kept = torchvision.ops.nms(boxes, scores, iou_threshold=0.5).tolist()
    if kept != [0, 2]:
        raise SelftestFailure(f"torchvision.ops.nms kept {kept}, expected [0, 2]")
    return f"torchvision {torchvision.__version__}: ops.nms kept boxes {kept}"


def _child_answer() -> str:
    """Runs in a worker process (module-level so that the worker can find it)."""
    return f"pid {os.getpid()}"


def _worker_process(ctx: _Context) -> str:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # The image check starts "spawn" workers for big folders; a frozen app starts itself again for
    # each, and only a correct entry point (multiprocessing.freeze_support) answers instead of opening
    # another window. The check falls back to threads silently, so this is where a bad entry shows.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        answer = pool.submit(_child_answer).result(timeout=120)
    return f"a spawned worker answered ({answer})"


def _window(ctx: _Context) -> str:
    import pyqtgraph
    from PySide6.QtCore import QSettings, qInstallMessageHandler

    from cnnstudio.gui.app import create_app
    from cnnstudio.gui.main_window import MainWindow

    # The offscreen platform warns that it cannot pass size hints to a window manager (it has none).
    previous = qInstallMessageHandler(_quiet_offscreen)
    try:
        app = create_app()
        settings = QSettings(str(ctx.tmp / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        try:
            window.show()
            app.processEvents()
            if window.windowIcon().isNull():
                raise SelftestFailure("the window has no icon: resources/icons were not found")
            title = window.windowTitle()
            # The training plots: pyqtgraph picks its Qt binding and templates at run time.
            plot = pyqtgraph.PlotWidget()
            plot.plot([0.0, 1.0, 2.0], [1.0, 0.5, 0.25])
            plot.show()
            app.processEvents()
            plot.close()
            plot.deleteLater()
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()
    finally:
        qInstallMessageHandler(previous)
    return f"main window {title!r} and a training plot shown on the {app.platformName()} platform"


def _quiet_offscreen(mode, context, message: str) -> None:
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


STEPS: list[Step] = [
    ("environment", _environment),
    ("demo data", _demo_data),
    ("model design", _design),
    ("index", _index),
    ("train", _train),
    ("evaluate", _evaluate),
    ("export bundle", _export("bundle")),
    ("export ONNX", _export("onnx")),
    ("prediction service", _serve),
    ("torchvision operator", _torchvision_operator),
    ("worker process", _worker_process),
    ("main window (offscreen)", _window),
]


def run_steps(steps: list[Step], out: TextIO | None = None) -> int:
    """Run `steps` in a temporary data folder; print each step's result; 0 when all passed, else 1."""
    out = out or sys.stdout
    saved = {key: os.environ.get(key) for key in ("CNNSTUDIO_DATA_DIR", "QT_QPA_PLATFORM")}
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="cnnstudio-selftest-") as tmp:
            os.environ["CNNSTUDIO_DATA_DIR"] = str(Path(tmp) / "data")
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless even on a desktop
            ctx = _Context(Path(tmp))
            for number, (name, func) in enumerate(steps, 1):
                print(f"[{number}/{len(steps)}] {name} ...", end=" ", file=out, flush=True)
                began = time.perf_counter()
                try:
                    detail = func(ctx)
                except Exception as exc:  # every failure is reported, with its step
                    print("FAILED", file=out, flush=True)
                    if not isinstance(exc, SelftestFailure):
                        traceback.print_exc(file=sys.stderr)
                    reason = str(exc) or type(exc).__name__
                    print(f"selftest FAILED at step {number} ({name}): {reason}", file=out, flush=True)
                    return 1
                print(f"OK ({time.perf_counter() - began:.1f} s): {detail}", file=out, flush=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    print(f"{OK_LINE}: {len(steps)} steps in {time.perf_counter() - start:.1f} s", file=out, flush=True)
    return 0


def run_selftest() -> int:
    """The whole pipeline on the demo data; 0 when every step passed (see the module docstring)."""
    return run_steps(STEPS)
