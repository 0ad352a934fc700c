"""`cnnstudio search --workers N`: N plain `cnnstudio search` processes on the same study and storage.

Each worker is `cnnstudio search PROJECT --study NAME [--storage URL --trials N --minutes M]` (the
parent creates the study first and does --use-best/--json once at the end); their lines are printed prefixed with the worker's name. Ctrl+C stops all of
them; a worker that fails is reported by name and the others go on, and the command then exits 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from cnnstudio.core.errors import UserError


def worker_argv(args, project: Path, name: str) -> list[str]:
    """One worker's command line. The parent has created the study (its settings are stored in it),
    so a worker needs only where it is and when to stop."""
    out = [sys.executable, "-m", "cnnstudio", "search", str(project), "--study", args.study]
    if args.storage:
        out += ["--storage", args.storage]
    if args.trials is not None:
        out += ["--trials", str(args.trials)]
    if args.minutes is not None:
        out += ["--minutes", str(args.minutes)]
    return [*out, "--worker-name", name]


def run_workers(args, project: Path) -> int:
    """Start args.workers workers, print their lines, wait for all; Ctrl+C stops all. Returns how many
    of them failed (all failing raises UserError)."""
    from cnnstudio.cli.progress import print_step

    names = [f"worker {i + 1}" for i in range(args.workers)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Each worker uses a share of the cores, so N workers do not fight over every core.
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    procs: dict[str, subprocess.Popen] = {}
    tails: dict[str, list[str]] = {name: [] for name in names}
    readers = []
    print_step(f"Starting {args.workers} search workers on one study ({args.study!r}).")
    try:
        for name in names:
            procs[name] = subprocess.Popen(
                worker_argv(args, project, name),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,  # Ctrl+C reaches them through us, once
            )
            t = threading.Thread(target=_pump, args=(name, procs[name], tails[name]), daemon=True)
            t.start()
            readers.append(t)
        for proc in procs.values():
            proc.wait()
    except KeyboardInterrupt:
        print_step("Stopping every worker ...")
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    finally:
        for t in readers:
            t.join(timeout=5)
    failed = [(n, p.returncode, tails[n]) for n, p in procs.items() if p.returncode != 0]
    for name, code, tail in failed:
        last = tail[-1] if tail else "no message"
        print_step(f"The search {name} stopped with an error (exit code {code}): {last}")
    if len(failed) == len(procs):
        raise UserError("Every search worker stopped with an error; see their messages above.")
    return len(failed)


def _pump(name: str, proc: subprocess.Popen, tail: list[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        line = line.rstrip("\n")
        if not line:
            continue
        tail.append(line)
        del tail[:-5]
        sys.stderr.write(f"[{name}] {line}\n")
        sys.stderr.flush()
