"""Run a batch function over many items in worker threads or processes, with progress and a stop flag.

Items go to workers in chunks (one task per file would cost more in bookkeeping than decoding a
small picture). Results come back to the calling thread, so `progress` is always called from there
(the GUI's worker thread turns it into a signal). After `should_stop()` turns true no new chunk
starts; chunks already running finish and are delivered, so the caller can keep their results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

# BrokenExecutor is the base of BrokenProcessPool; importing the process pool here would pull in
# multiprocessing for every quick index.
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def chunk_size_for(total: int, workers: int, largest: int = 256) -> int:
    """Big enough to make task overhead small, small enough for smooth progress and a quick stop."""
    return max(1, min(largest, total // (workers * 8) or 1))


def map_chunks(
    func: Callable[[list[T]], list[R]],
    items: Sequence[T],
    *,
    workers: int,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    processes: bool = False,
    chunk_size: int | None = None,
    initializer: Callable[[], None] | None = None,
) -> Iterator[tuple[int, list[R]]]:
    """Yield (start, results of func(items[start:start + n])) as chunks finish, in any order.

    `processes=True` runs func in worker processes (it must be a module-level function); when they
    cannot start, the remaining chunks run in threads instead.
    """
    total = len(items)
    size = chunk_size or chunk_size_for(total, workers)
    starts = list(range(0, total, size))
    done = 0
    if progress is not None:
        progress(0, total)

    if workers <= 1 and not processes:
        for start in starts:
            if should_stop is not None and should_stop():
                return
            results = func(list(items[start : start + size]))
            done += len(results)
            yield start, results
            if progress is not None:
                progress(done, total)
        return

    remaining = list(reversed(starts))  # popped from the end, so chunks start in order
    use_processes = processes
    while remaining:
        executor = _executor(workers, use_processes, initializer)
        pending: dict[Future[list[R]], int] = {}
        stopped = broken = False
        try:
            while pending or (remaining and not stopped and not broken):
                while remaining and not stopped and not broken and len(pending) < workers * 2:
                    start = remaining.pop()
                    try:
                        pending[executor.submit(func, list(items[start : start + size]))] = start
                    except BrokenExecutor:
                        remaining.append(start)
                        broken = True
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    start = pending.pop(future)
                    try:
                        results = future.result()
                    except BrokenExecutor:
                        if not use_processes:
                            raise
                        broken = True
                        remaining.append(start)  # redone in threads below
                        continue
                    done += len(results)
                    yield start, results
                    if progress is not None:
                        progress(done, total)
                stopped = stopped or (should_stop is not None and should_stop())
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        if stopped:
            return
        # Only a broken process pool (a worker that could not start or died) gets here with work left.
        remaining.sort(reverse=True)
        use_processes = False


def _executor(workers: int, processes: bool, initializer: Callable[[], None] | None) -> Executor:
    if processes:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            # "spawn" everywhere: forking a process that runs GUI or torch threads can deadlock.
            context = multiprocessing.get_context("spawn")
            return ProcessPoolExecutor(workers, mp_context=context, initializer=initializer)
        except (OSError, ValueError, NotImplementedError):
            pass
    return ThreadPoolExecutor(workers, thread_name_prefix="cnnstudio-decode")
