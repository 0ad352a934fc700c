"""Curves that stay cheap to draw however long the run: a series that decimates itself as it grows.

A run of 1,000 epochs x 1,000 batches makes a million points per curve; drawing them all several
times a second would stall the window. `DecimatingSeries` keeps at most `2 * max_points` points:
each stored point is the mean of `stride` consecutive values, and when the store is full, pairs of
neighbours are merged and the stride doubles. Appending stays O(1) (amortised), memory stays
bounded, and the curve keeps its shape (means, not every n-th point, so noise does not alias).

Qt-free (numpy only), so it is tested and benchmarked without a display.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_MAX_POINTS = 1500


class DecimatingSeries:
    def __init__(self, max_points: int = DEFAULT_MAX_POINTS):
        self.max_points = max(2, int(max_points))
        self._x = np.empty(2 * self.max_points)
        self._y = np.empty(2 * self.max_points)
        self._n = 0
        self.stride = 1
        self.count = 0  # values appended in all
        self._sum_x = self._sum_y = 0.0
        self._pending = 0

    def __len__(self) -> int:
        return self._n + (1 if self._pending else 0)

    def clear(self) -> None:
        self._n = 0
        self.stride = 1
        self.count = 0
        self._sum_x = self._sum_y = 0.0
        self._pending = 0

    def append(self, x: float, y: float) -> None:
        self.count += 1
        self._sum_x += x
        self._sum_y += y
        self._pending += 1
        if self._pending < self.stride:
            return
        self._x[self._n] = self._sum_x / self._pending
        self._y[self._n] = self._sum_y / self._pending
        self._n += 1
        self._sum_x = self._sum_y = 0.0
        self._pending = 0
        if self._n == len(self._x):
            self._halve()

    def extend(self, xs, ys) -> None:
        for x, y in zip(xs, ys, strict=True):
            self.append(float(x), float(y))

    def _halve(self) -> None:
        half = self._n // 2
        self._x[:half] = self._x[: 2 * half].reshape(half, 2).mean(axis=1)
        self._y[:half] = self._y[: 2 * half].reshape(half, 2).mean(axis=1)
        self._n = half
        self.stride *= 2

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (x, y), including the bin still filling (so the curve reaches the newest point)."""
        x, y = self._x[: self._n], self._y[: self._n]
        if self._pending:
            x = np.append(x, self._sum_x / self._pending)
            y = np.append(y, self._sum_y / self._pending)
        return x.copy(), y.copy()

    def last(self) -> float | None:
        if self._pending:
            return self._sum_y / self._pending
        return float(self._y[self._n - 1]) if self._n else None


class Smoother:
    """An exponential moving average with bias correction (TensorBoard's smoothing).

    Non-finite values pass through unchanged and do not poison the average, so a NaN shows where
    it happened instead of hiding the rest of the curve.
    """

    def __init__(self, weight: float = 0.9):
        self.weight = weight
        self._average = 0.0
        self._steps = 0

    def reset(self) -> None:
        self._average = 0.0
        self._steps = 0

    def __call__(self, value: float) -> float:
        if not math.isfinite(value):
            return value
        self._steps += 1
        self._average = self.weight * self._average + (1 - self.weight) * value
        return self._average / (1 - self.weight**self._steps)
