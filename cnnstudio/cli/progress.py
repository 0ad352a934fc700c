"""Terminal progress: a bar per epoch with images/s and ETA, and the count line every command uses
(stderr, so --json output stays clean)."""

from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TerminalProgress:
    """A training callback that draws `Epoch 2/10 [#####-----] 40/80 812 img/s ETA 0:04` on stderr."""

    def __init__(self, epochs: int, stream=None, width: int = 24):
        self.epochs = epochs
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._last_draw = 0.0
        self._epoch_start = 0.0

    # Trainer callback protocol (methods it does not need are inherited as no-ops elsewhere).
    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_batch_end(self, batch, logs=None):
        if not self.tty:
            return
        now = time.perf_counter()
        batches = logs.get("batches", 0)
        done = batch + 1
        if now - self._last_draw < 0.1 and done < batches:
            return
        self._last_draw = now
        elapsed = now - self._epoch_start
        eta = elapsed / done * (batches - done) if done else 0.0
        filled = int(self.width * done / max(1, batches))
        bar = "#" * filled + "-" * (self.width - filled)
        ips = logs.get("images_per_s") or 0.0
        self.stream.write(
            f"\rEpoch {logs.get('epoch', 0) + 1}/{self.epochs} [{bar}] {done}/{batches} "
            f"{ips:,.0f} img/s ETA {_duration(eta)}  "
        )
        self.stream.flush()

    def on_phase(self, logs=None):
        """The feature cache's "Computing features: 1,234 of 5,000" (a line at the end, also without a tty)."""
        logs = logs or {}
        phase, done, total = logs.get("phase", "Preparing"), logs.get("done", 0), logs.get("total", 0)
        if "finished" not in logs:
            now = time.perf_counter()
            if self.tty and (now - self._last_draw >= 0.1 or done >= total):
                self._last_draw = now
                self.stream.write(f"\r{phase}: {done:,} of {total:,}  ")
                self.stream.flush()
            return
        if not logs["finished"]:
            text = f"{phase}: stopped after {done:,}; the features done so far are kept in the cache."
        elif done:
            reused = logs.get("reused") or 0
            text = f"{phase}: {done:,} pictures in {logs.get('seconds', 0.0):.1f} s"
            text += f" ({reused:,} more read from the cache)." if reused else "."
            text += " The frozen layers run once; each epoch now trains only the layers after them."
        else:
            text = (
                f"Features of all {logs.get('reused', 0):,} pictures read from the cache: "
                "each epoch trains only the layers after the frozen ones."
            )
        self.stream.write(("\r" if self.tty else "") + text + " " * 4 + "\n")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        parts = [f"Epoch {epoch + 1}/{self.epochs}", f"loss {logs.get('loss', float('nan')):.4f}"]
        if logs.get("accuracy") is not None:
            parts.append(f"accuracy {logs['accuracy']:.3f}")
        if logs.get("val_loss") is not None:
            parts.append(f"val_loss {logs['val_loss']:.4f}")
        if logs.get("val_accuracy") is not None:
            parts.append(f"val_accuracy {logs['val_accuracy']:.3f}")
        if logs.get("images_per_s"):
            parts.append(f"{logs['images_per_s']:,.0f} img/s")
        parts.append(f"{logs.get('seconds', 0.0):.1f} s")
        prefix = "\r" if self.tty else ""
        self.stream.write(prefix + "  ".join(parts) + " " * 10 + "\n")
        if logs.get("feature_cache_speedup"):
            from cnnstudio.core.train.coach import cache_note

            note = cache_note([logs]).strip()
            if note:
                self.stream.write(f"Note: {note}\n")
        self.stream.flush()

    def on_train_end(self, logs=None):
        pass

    def on_exception(self, exc):
        if self.tty:
            self.stream.write("\n")


def print_step(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


PROGRESS_INTERVAL_S = 0.1  # the count line is rewritten at most 10 times a second


def count_progress(noun: str = "pictures", label: str | None = None):
    """A progress(done, total) callback that rewrites "  1,200/5,000 pictures" on stderr (with a
    `label`: "Checking pictures: 1,200 of 5,000"), at most every PROGRESS_INTERVAL_S and always at
    the end, or None when stderr is not a terminal (a log or a pipe gets no carriage-return lines)."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PROGRESS_INTERVAL_S:
            return
        last[0] = now
        text = f"{label}: {done:,} of {total:,}" if label else f"  {done:,}/{total:,} {noun}"
        sys.stderr.write("\r" + text + ("\n" if done >= total else ""))
        sys.stderr.flush()

    return progress
