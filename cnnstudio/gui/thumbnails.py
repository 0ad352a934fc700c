"""Thumbnails loaded lazily in a thread pool, kept in memory (bounded) and cached on disk.

Only what the grid paints is requested. Requests go on a stack: the newest (what is on screen now)
load first, and when the user scrolls fast the oldest are dropped, so the pool never works through
pages nobody looks at any more. Results come back through a queue the GUI thread drains on a timer
and announce themselves in batches (`loaded(paths)`), so 100,000 images cost 100,000 signals never.

The disk cache lives in the project's cache/thumbs/; a file's entry is named by a hash of its path,
size and modification time, so a changed file gets a new thumbnail and a deleted cache costs only time.
Images no larger than a thumbnail are not cached: reading them is as quick as reading a copy.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict, deque
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader

THUMB_SIZE = 128  # pixels, the longer side; the grid draws them at this size or smaller
_MAX_PENDING = 600  # requests kept; older ones were scrolled past
_DRAIN_MS = 40  # how often finished thumbnails reach the grid (25 times a second at most)
BROKEN = QImage()  # a null image marks a file that could not be read


def thumb_cache_key(path: str, size: int, mtime_ns: int, thumb_size: int = THUMB_SIZE) -> str:
    return hashlib.sha1(f"{path}\0{size}\0{mtime_ns}\0{thumb_size}".encode()).hexdigest()


def make_thumbnail(path: str, cache_dir: Path | None, thumb_size: int = THUMB_SIZE) -> QImage:
    """The thumbnail of one file (from the disk cache when there); a null QImage when unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return BROKEN
    cached = None
    if cache_dir is not None:
        key = thumb_cache_key(path, st.st_size, st.st_mtime_ns, thumb_size)
        cached = cache_dir / key[:2] / f"{key}.png"
        if cached.exists():
            image = QImage(str(cached))
            if not image.isNull():
                return image
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation, as the decoder applies it
    full = reader.size()
    scaled = full.isValid() and (full.width() > thumb_size or full.height() > thumb_size)
    if scaled:
        # JPEG decodes straight at the smaller size: far quicker than decoding and then scaling.
        reader.setScaledSize(full.scaled(QSize(thumb_size, thumb_size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return BROKEN
    if image.width() > thumb_size or image.height() > thumb_size:
        image = image.scaled(
            thumb_size,
            thumb_size,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        scaled = True
    if image.format() not in (QImage.Format.Format_Grayscale8, QImage.Format.Format_RGB32):
        image = image.convertToFormat(
            QImage.Format.Format_ARGB32_Premultiplied
            if image.hasAlphaChannel()
            else QImage.Format.Format_RGB32
        )
    if scaled and cached is not None:
        _save_atomic(image, cached)
    return image


def _save_atomic(image: QImage, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{threading.get_ident()}.tmp")
        # PNG keeps transparency and is lossless; at 128 pixels it is a few kB.
        if image.save(str(tmp), "PNG", 50):
            os.replace(tmp, target)
        else:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs time


class _Runner(QRunnable):
    def __init__(self, loader: ThumbnailLoader, generation: int):
        super().__init__()
        self.loader = loader
        self.generation = generation
        self.setAutoDelete(True)

    def run(self) -> None:
        loader = self.loader
        while True:
            with loader._lock:
                if not loader._stack or self.generation != loader._generation:
                    loader._active -= 1
                    return
                path = loader._stack.pop()
                cache_dir, size = loader._cache_dir, loader.thumb_size
            image = make_thumbnail(path, cache_dir, size)
            loader._results.append((self.generation, path, image))


class ThumbnailLoader(QObject):
    """`get(path)` answers from memory or queues the file; `loaded(paths)` says which ones arrived."""

    loaded = Signal(list)

    def __init__(
        self,
        cache_dir: Path | None = None,
        thumb_size: int = THUMB_SIZE,
        threads: int | None = None,
        memory_mb: int = 160,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self.thumb_size = thumb_size
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._budget = memory_mb * 1024 * 1024
        self._memory: OrderedDict[str, QImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._stack: list[str] = []
        self._queued: set[str] = set()
        self._results: deque[tuple[int, str, QImage]] = deque()
        self._active = 0
        self._generation = 0
        # Leave a core for the GUI thread: decoding is partly Python and holds the GIL.
        cores = os.cpu_count() or 2
        self._threads = threads or max(1, min(4, cores - 1))
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(self._threads)
        self._timer = QTimer(self, interval=_DRAIN_MS)
        self._timer.timeout.connect(self._drain)

    def set_cache_dir(self, cache_dir: Path | None) -> None:
        self.clear()
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None

    def clear(self) -> None:
        """Drop everything: queued requests, thumbnails in memory (another project was opened)."""
        with self._lock:
            self._generation += 1
            self._stack.clear()
        self._queued.clear()
        self._results.clear()
        self._memory.clear()
        self._bytes = 0

    def get(self, path: str) -> QImage | None:
        """The thumbnail if it is in memory (a null image: unreadable); otherwise None, and it is queued."""
        image = self._memory.get(path)
        if image is not None:
            self._memory.move_to_end(path)
            return image
        if path not in self._queued:
            self._queue(path)
        return None

    def forget(self, paths: list[str]) -> None:
        """Load these again next time (the files moved or changed)."""
        for path in paths:
            image = self._memory.pop(path, None)
            if image is not None:
                self._bytes -= image.sizeInBytes()

    def pending(self) -> int:
        return len(self._queued)

    def wait_idle(self, msecs: int = 5000) -> bool:
        """For tests and benchmarks: wait until no request is pending, then deliver the results."""
        done = self._pool.waitForDone(msecs)
        self._drain()
        return done and not self._queued

    def _queue(self, path: str) -> None:
        with self._lock:
            self._stack.append(path)
            self._queued.add(path)
            if len(self._stack) > _MAX_PENDING:
                dropped = self._stack[: len(self._stack) - _MAX_PENDING]
                del self._stack[: len(dropped)]
                self._queued.difference_update(dropped)  # asked again if they come back on screen
            start = self._active < self._threads
            if start:
                self._active += 1
            generation = self._generation
        if start:
            self._pool.start(_Runner(self, generation))
        if not self._timer.isActive():
            self._timer.start()

    def _drain(self) -> None:
        arrived = []
        while self._results:
            generation, path, image = self._results.popleft()
            if generation != self._generation:
                continue
            self._queued.discard(path)
            self._remember(path, image)
            arrived.append(path)
        if not self._queued and not self._results and self._active == 0:
            self._timer.stop()
        if arrived:
            self.loaded.emit(arrived)

    def _remember(self, path: str, image: QImage) -> None:
        self._memory[path] = image
        self._memory.move_to_end(path)
        self._bytes += image.sizeInBytes()
        while self._bytes > self._budget and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            self._bytes -= old.sizeInBytes()

    def shutdown(self) -> None:
        self.clear()
        self._pool.waitForDone(3000)
