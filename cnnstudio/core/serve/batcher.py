"""Batch the pictures of requests that arrive together, on one thread that owns the model.

Requests put their decoded pictures on an asyncio queue. One collector task takes the first waiting
request, lets others join for at most `max_wait` seconds (or until `max_batch` pictures), and runs
them through the model as one batch on a single worker thread (the predictor's `outputs`: the same
calibrated probabilities and unknown scores as `cnnstudio predict`). While that batch runs, new
requests queue up and form the next one, so under load batches grow without waiting longer.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cnnstudio.core.export import Predictor


@dataclass
class _Job:
    pictures: list[np.ndarray]  # uint8 (C, H, W), decoded by the predictor's preprocessing
    future: asyncio.Future


class Batcher:
    """`await batcher.outputs([pictures])` -> [(probabilities, unknown score or None)], batched."""

    def __init__(self, predictor: Predictor, *, max_batch: int, max_wait: float) -> None:
        self.predictor = predictor
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.pictures_answered = 0
        self.batches = 0
        self._lock = threading.Lock()  # the counters are read from other threads (the app)
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="cnnstudio-serve-model")
        self._task = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the service is stopping"))

    async def outputs(self, pictures: list[np.ndarray]) -> list[tuple[np.ndarray, float | None]]:
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not awaited")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(pictures, future))
        return await future

    def counts(self) -> tuple[int, int]:
        """(pictures answered, batches run) so far."""
        with self._lock:
            return self.pictures_answered, self.batches

    async def _collect(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].pictures)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch:
                if self._queue.empty():
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                else:
                    job = self._queue.get_nowait()
                jobs.append(job)
                size += len(job.pictures)
            await self._run(loop, jobs)

    async def _run(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> None:
        X = np.stack([picture for job in jobs for picture in job.pictures])
        try:
            probs, scores = await loop.run_in_executor(self._executor, self.predictor.outputs, X)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, the loop goes on
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        with self._lock:
            self.pictures_answered += len(X)
            self.batches += 1
        start = 0
        for job in jobs:
            end = start + len(job.pictures)
            rows = [(probs[i], None if scores is None else float(scores[i])) for i in range(start, end)]
            if not job.future.done():  # a client that went away cancelled its future
                job.future.set_result(rows)
            start = end
