"""How long `cnnstudio index --quick` takes on a big folder, against a bare os.walk of it.

Both run as whole processes (interpreter start and imports included), best of --repeat runs each.
Target: ratio <= 3x; exit status 1 when missed.
Usage: python benchmarks/bench_index.py [--n 100000] [--classes 100] [--repeat 3]  (BENCH_FULL=1: --repeat 5)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from targets import Targets, size

TARGET_RATIO = 3.0
# A real 1x1 PNG: --quick opens no file, so the content does not matter, but the files are honest.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
    "3a7e9b550000000a49444154789c63600000000200015e2aca3b0000000049454e44ae426082"
)


def make_folder(root: Path, n: int, classes: int) -> None:
    per_class = max(1, n // classes)
    for c in range(classes):
        folder = root / f"class_{c:03d}"
        folder.mkdir()
        for i in range(per_class):
            (folder / f"img_{i:05d}.png").write_bytes(TINY_PNG)


def best_times(commands: list[list[str]], repeat: int) -> list[float]:
    """Best wall time of each command, run in turns (A B A B ...) so that load from other programs
    falls on both alike."""
    best = [float("inf")] * len(commands)
    for _ in range(repeat):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of files (default 100,000)")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=size(3, 5))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnnstudio-bench-index-") as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        start = time.perf_counter()
        make_folder(root, args.n, args.classes)
        count = sum(len(f) for _, _, f in os.walk(root))
        print(f"wrote {count:,} files in {args.classes} class folders in {time.perf_counter() - start:.1f} s")
        walk = [sys.executable, "-c", f"import os; print(sum(len(f) for _, _, f in os.walk({str(root)!r})))"]
        index = [sys.executable, "-m", "cnnstudio", "index", "--quick", str(root)]
        subprocess.run(index, check=True, stdout=subprocess.DEVNULL)  # warm the disk cache for both
        t_walk, t_index = best_times([walk, index], args.repeat)
    ratio = t_index / t_walk
    print(f"bare os.walk process:         {t_walk:.3f} s")
    print(f"cnnstudio index --quick:      {t_index:.3f} s")
    targets = Targets()
    targets.check("ratio index --quick / os.walk", ratio, TARGET_RATIO, at_most=True)
    if hasattr(os, "getloadavg"):
        print(f"load average at the end (other programs share the cores): {os.getloadavg()[0]:.1f}")
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
