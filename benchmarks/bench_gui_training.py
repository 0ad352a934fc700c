"""Training in the GUI against training from the CLI, and how smooth the window stays (one process).

Data: the demo digits (1,797 real pictures, 10 classes) in a temporary project, the Seed CNN, batch
32, default settings (Adam, augmentation, precision Auto). Measured, interleaved A B A B ...:
  A  the CLI path: Trainer.fit with the CLI's TerminalProgress callback (drawing to a fake terminal);
  B  the GUI path: TrainingPanel.start(), the trainer in its worker thread, the live plots, progress
     bars and coach updating in a shown (offscreen) window.
Both are timed from on_train_begin to on_train_end (training, validation and checkpoints; not the
decoding before nor the evaluation after). Target: B/A >= 0.9.

Smoothness: a 10 ms QTimer runs during B; its worst lateness while training is the event loop's
longest stall. Target: < 100 ms. For scale, the same probe's worst lateness over 5 s with nothing
running (what the shared machine's other work adds) is printed next to it. Also: the plots fed a synthetic 1,000 epochs x 1,000 batches (as
the worker would, 500 updates of 2,000 batches each), with the worst time of one update.

The machine is shared: the numbers are noisy; run it twice before believing a small difference.

    python benchmarks/bench_gui_training.py [--epochs 2] [--repeats 2]  (BENCH_FULL=1: --repeats 3)
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from targets import Targets, size

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cnnstudio  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch is imported)


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:  # so TerminalProgress draws its bar, as in a real terminal
        return True


class _Clock:
    def on_train_begin(self, logs):
        self.begin = time.perf_counter()

    def on_train_end(self, logs):
        self.end = time.perf_counter()


def cli_run(project, spec, config, data) -> float:
    """Seconds of Trainer.fit from begin to end, with the CLI's progress callback."""
    from cnnstudio.cli.progress import TerminalProgress
    from cnnstudio.core.runs import new_run_dir
    from cnnstudio.core.train import Trainer

    clock = _Clock()
    trainer = Trainer(
        spec,
        config,
        class_names=data.class_names,
        preprocessing=spec.preprocessing(),
        run_dir=new_run_dir(project.runs_dir, "cli"),
        callbacks=[TerminalProgress(config.epochs, stream=_FakeTerminal()), clock],
    )
    train, val = data.splits["train"], data.splits["val"]
    trainer.fit((train.X, train.y), (val.X, val.y))
    return clock.end - clock.begin


class LatencyProbe:
    """A 10 ms timer; records how late each tick came (the event loop was busy meanwhile)."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.ticks: list[tuple[float, float]] = []  # (time, lateness)
        self._last = time.perf_counter()
        self.timer = QTimer(interval=interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.ticks.append((now, now - self._last - self.interval))
        self._last = now

    def reset(self) -> None:
        self.ticks.clear()
        self._last = time.perf_counter()

    def worst(self, start: float = 0.0, end: float = float("inf")) -> float:
        late = [lateness for t, lateness in self.ticks if start <= t <= end]
        return max(late) if late else 0.0


def gui_run(app, panel, probe: LatencyProbe) -> tuple[float, float, float]:
    """(seconds from begin to end, worst stall while training, worst stall over the whole job)."""
    from PySide6.QtCore import QEventLoop

    probe.reset()
    job_start = time.perf_counter()
    loop = QEventLoop()
    panel.training_finished.connect(loop.quit)
    assert panel.start(), panel.notice.text()
    feed = panel.worker.feed
    loop.exec()  # as the app does: the GUI thread sleeps until there is something to do
    panel.training_finished.disconnect(loop.quit)
    outcome = panel.last_outcome
    assert outcome.status == "finished", outcome
    return (
        feed.end_time - feed.begin_time,
        probe.worst(feed.begin_time, feed.end_time),
        probe.worst(job_start, time.perf_counter()),
    )


def idle_stall(probe: LatencyProbe, seconds: float = 5.0) -> float:
    """The worst lateness of the probe with nothing to do: what the shared machine adds by itself."""
    from PySide6.QtCore import QEventLoop, QTimer

    probe.reset()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    return probe.worst()


def synthetic_plot_load(
    panel, epochs: int = 1000, batches: int = 1000, per_update: int = 2000
) -> tuple[float, float, int]:
    """Feed the plots a huge run as the worker would; (worst ms per update, mean ms, points drawn)."""
    from cnnstudio.gui.train.feed import BatchPoint, FeedUpdate

    panel.plots.clear()
    times = []
    total = epochs * batches
    for start in range(0, total, per_update):
        points = [
            BatchPoint(i / batches, 1.0 / (1 + i / batches), min(1.0, i / total), 1e-3)
            for i in range(start, min(total, start + per_update))
        ]
        done = (start + per_update) // batches
        epoch_logs = [
            {
                "epoch": e,
                "loss": 1.0 / (1 + e),
                "accuracy": 0.5,
                "val_loss": 1.1 / (1 + e),
                "val_accuracy": 0.5,
            }
            for e in range(start // batches, min(epochs, done))
        ]
        update = FeedUpdate(batches=points, epochs=epoch_logs)
        t = time.perf_counter()
        panel.apply_update(update)
        times.append(time.perf_counter() - t)
    drawn = max(panel.plots.point_counts().values())
    return max(times) * 1000, statistics.mean(times) * 1000, drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=size(2, 3))
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from cnnstudio.core.demo import ensure_demo_dataset
    from cnnstudio.core.pipeline import prepare_data
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import template
    from cnnstudio.core.train import TrainConfig
    from cnnstudio.gui.session import ProjectSession
    from cnnstudio.gui.train.panel import TrainingPanel

    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "bench", ensure_demo_dataset())
        spec = template("seed")
        project.spec = spec.to_dict()
        data = prepare_data(project, spec)
        config = TrainConfig(epochs=args.epochs, batch_size=32)
        n_train = len(data.splits["train"].y)
        print(f"demo digits: {n_train} training pictures, Seed CNN, {args.epochs} epochs per run", flush=True)

        session = ProjectSession()
        session.open_project(project, check=False)
        panel = TrainingPanel(session)
        panel.resize(1360, 860)
        panel.show()
        panel.set_config(config)
        deadline = time.time() + 60
        while (session.index is None or session.tasks.busy()) and time.time() < deadline:
            app.processEvents()
            time.sleep(0.01)
        probe = LatencyProbe()
        idle = idle_stall(probe)

        # Warm-up: imports, the panel's own data preparation (then cached), first-call kernels.
        cli_run(project, spec, config, data)
        gui_run(app, panel, probe)

        cli_s, gui_s, stalls, job_stalls = [], [], [], []
        for _ in range(args.repeats):
            cli_s.append(cli_run(project, spec, config, data))
            seconds, stall, job_stall = gui_run(app, panel, probe)
            gui_s.append(seconds)
            stalls.append(stall)
            job_stalls.append(job_stall)
        images = n_train * args.epochs
        cli_rate = images / statistics.median(cli_s)
        gui_rate = images / statistics.median(gui_s)
        print(
            f"A  CLI (Trainer.fit + TerminalProgress): {cli_rate:8.0f} images/s  (runs: {', '.join(f'{s:.2f}' for s in cli_s)} s)"
        )
        print(
            f"B  GUI (panel worker + live plots):      {gui_rate:8.0f} images/s  (runs: {', '.join(f'{s:.2f}' for s in gui_s)} s)"
        )
        targets = Targets()
        targets.check("B/A GUI vs CLI training speed", gui_rate / cli_rate, 0.9)
        targets.check(
            "worst event-loop stall while training", max(stalls) * 1000, 100, at_most=True, unit=" ms"
        )
        print(
            f"worst event-loop stall while training: {max(stalls) * 1000:.0f} ms (target < 100 ms); "
            f"per run: {', '.join(f'{s * 1000:.0f}' for s in stalls)} ms; "
            f"the idle event loop (no training) alone: {idle * 1000:.0f} ms"
        )
        print(
            f"worst stall over the whole job (decoding, evaluation after training too): {max(job_stalls) * 1000:.0f} ms"
        )
        worst, mean, drawn = synthetic_plot_load(panel)
        print(
            f"synthetic 1,000 epochs x 1,000 batches: worst update {worst:.1f} ms, mean {mean:.1f} ms, "
            f"at most {drawn} points drawn per curve"
        )
        probe.timer.stop()
        session.tasks.cancel_all()
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
