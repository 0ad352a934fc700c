"""What every benchmark shares: its targets, checked and counted, and the quick/full switch.

A benchmark prints each target with OK or MISSED and exits 1 when any was missed, so `make bench`
fails on a regression. `make bench` runs the quick defaults (under 10 minutes in all on a 2-core
machine); BENCH_FULL=1 (or `make bench-full`) runs the longer variants the README quotes.
"""

from __future__ import annotations

import os

FULL = os.environ.get("BENCH_FULL", "") not in ("", "0")


def size(quick, full):
    """The default for a benchmark's size: `full` with BENCH_FULL=1, else `quick`."""
    return full if FULL else quick


class Targets:
    """check(...) each target; `exit_code()` is 1 when any was missed."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def check(
        self, label: str, value: float, target: float, *, at_most: bool = False, unit: str = "x"
    ) -> bool:
        ok = value <= target if at_most else value >= target
        sign = "<=" if at_most else ">="
        print(
            f"{label}: {value:.2f}{unit} (target {sign} {target:g}{unit}) {'OK' if ok else 'MISSED'}",
            flush=True,
        )
        if not ok:
            self.missed.append(label)
        return ok

    def exit_code(self) -> int:
        if self.missed:
            print(f"MISSED TARGET ({len(self.missed)}): {'; '.join(self.missed)}", flush=True)
            return 1
        print("all targets met", flush=True)
        return 0
