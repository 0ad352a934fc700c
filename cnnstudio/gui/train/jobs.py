"""The jobs the Train section runs in worker threads (Qt-free): a training run, the LR range test,
and the look for GPUs. Each is a plain function of the task's context.

Decoded pictures are kept between jobs (`PreparedCache`), so a second run, a resume or the LR test
starts at once instead of checking and decoding the whole dataset again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstudio.core.pipeline import PreparedData
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.gui.train.feed import TrainingFeed
    from cnnstudio.gui.workers import TaskContext


class PreparedCache:
    """One dataset in memory at a time, keyed by the project, the input size and a generation that
    bumps whenever labels, splits or the list of images change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._data: PreparedData | None = None

    def get(self, key: tuple) -> PreparedData | None:
        with self._lock:
            return self._data if key == self._key else None

    def put(self, key: tuple, data: PreparedData) -> None:
        with self._lock:
            self._key, self._data = key, data

    def clear(self) -> None:
        with self._lock:
            self._key, self._data = None, None


def data_key(project: Project, spec: ModelSpec, generation: int) -> tuple:
    import json

    prep = spec.preprocessing().to_dict()
    return (str(project.folder), json.dumps(prep, sort_keys=True), generation)


def _prepared(project, spec, cache: PreparedCache, key: tuple, ctx, should_stop) -> PreparedData | None:
    """The cached pictures, or check and decode them now (None when stopped meanwhile)."""
    from cnnstudio.core.dataset.cache import DecodeStopped
    from cnnstudio.core.pipeline import prepare_data

    data = cache.get(key)
    if data is not None:
        return data
    ctx.set_text("Reading the pictures")
    try:
        data = prepare_data(project, spec, progress=ctx.progress, should_stop=should_stop)
    except DecodeStopped:
        return None
    if should_stop():
        return None  # the check ended early: what it returned is not the whole dataset
    cache.put(key, data)
    return data


def training_job(
    project: Project,
    spec: ModelSpec,
    config,
    cache: PreparedCache,
    key: tuple,
    *,
    title: str,
    label: str | None = None,
    resume: Path | None = None,
    init_weights: Path | None = None,
    epochs: int | None = None,
    processes: int = 1,
) -> Callable[[TaskContext, TrainingFeed], Any]:
    """A job for `TrainingWorker.start`: decode (or reuse) the pictures, then `train_project`
    (or, with several `processes`, `train_in_processes`: one process per GPU).

    `epochs` replaces the run's number of epochs (continuing a finished run for more epochs).
    Returns None when stopped before training began.
    """

    def job(ctx: TaskContext, feed: TrainingFeed):
        from cnnstudio.core.pipeline import train_project

        data = _prepared(project, spec, cache, key, ctx, lambda: ctx.should_stop() or feed.stop_requested)
        if data is None:
            return None
        ctx.set_text(title)
        if processes > 1:
            from cnnstudio.core.train.processes import train_in_processes

            return train_in_processes(
                project,
                spec,
                config,
                processes,
                callbacks=[feed],
                should_stop=lambda: ctx.should_stop() or feed.stop_requested,
                resume=resume,
                init_weights=init_weights,
                epochs=epochs,
                data=data,
            )
        return train_project(
            project,
            spec,
            config,
            callbacks=[feed],
            label=label,
            resume=resume,
            init_weights=init_weights,
            data=data,
            on_trainer=feed.attach,
            epochs=epochs,
        )

    return job


def lr_find_job(
    project: Project, spec: ModelSpec, config, cache: PreparedCache, key: tuple, num_batches: int
) -> Callable[[TaskContext], Any]:
    """A job returning the LR range test's LRFindResult on a fresh model of `spec`."""

    def job(ctx: TaskContext):
        from cnnstudio.core.errors import UserError
        from cnnstudio.core.spec import build_model
        from cnnstudio.core.train import lr_find

        data = _prepared(project, spec, cache, key, ctx, ctx.should_stop)
        if data is None:
            raise UserError("Stopped.")
        ctx.set_text("Trying learning rates")
        train = data.splits["train"]
        classes = len(data.class_names)
        return lr_find(
            build_model(spec, classes),
            (train.X, train.y),
            preprocessing=spec.preprocessing(),
            config=config,
            num_classes=classes,
            num_batches=num_batches,
            progress=ctx.progress,
            should_stop=ctx.should_stop,
        )

    return job


def find_devices(_ctx=None) -> tuple[list[tuple[str, str]], str]:
    """([(label, device)] beyond Automatic and CPU, a line on what Automatic precision does here)."""
    import torch

    from cnnstudio.core.train.device import cpu_bf16_feature

    devices = []
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        for i in range(count):
            devices.append((f"GPU: {torch.cuda.get_device_name(i)}", "cuda" if count == 1 else f"cuda:{i}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(("Apple GPU", "mps"))
    feature = cpu_bf16_feature()
    if devices and devices[0][1].startswith("cuda"):
        hint = "Automatic uses mixed precision on the GPU, and on the processor: " + (
            f"bf16 (it has {feature})." if feature else "full precision (it has no fast bf16)."
        )
    elif feature:
        hint = f"Automatic uses bf16 here: this processor has {feature}."
    else:
        hint = "Automatic uses full precision here: this processor has no fast bf16."
    return devices, hint
