"""A random search with pruning against the same search without it, on the demo data (one process).

Both searches draw the same settings (RandomSampler, same seed): learning rate 1e-4 to 3e-2 (log),
batch size 16/32/64, optimizer adam/sgd, with the Seed CNN (or --template tiny), --epochs epochs per
trial, --trials trials. The first prunes with successive halving (the app's default: a trial in the
worst two thirds at its first epoch, or at its third, stops there); the second trains every trial in
full. Target: the pruned search takes at most half the wall time of the full one.

The pictures are decoded once, before either search, and both get the same PreparedData, so the
times compare training only (with each trial's evaluation and bookkeeping); a one-trial search
warms up first. Each search works in a temporary project on the demo dataset (deleted
afterwards unless --keep). The machine is shared: the times are noisy, and so is the ratio.

    python benchmarks/bench_search.py [--trials 16] [--epochs 5] [--template seed] [--keep]
    (BENCH_FULL=1: --trials 20)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from targets import Targets, size

import cnnstudio  # noqa: F401  (sets OMP_WAIT_POLICY before torch is imported)
from cnnstudio.core.demo import ensure_demo_dataset
from cnnstudio.core.pipeline import prepare_data
from cnnstudio.core.project import Project
from cnnstudio.core.search import Search, SearchSettings, SearchSpace
from cnnstudio.core.spec import template
from cnnstudio.core.train import TrainConfig

SPACE = {
    "learning_rate": {"min": 1e-4, "max": 3e-2},
    "batch_size": [16, 32, 64],
    "optimizer": ["adam", "sgd"],
}


def run_search(project: Project, name: str, spec, data, trials: int, epochs: int, pruning: str) -> dict:
    settings = SearchSettings(
        space=SearchSpace.from_dict(SPACE), strategy="random", epochs=epochs, pruning=pruning, seed=0
    )
    search = Search.open(project, name, spec=spec, config=TrainConfig(), settings=settings)

    def progress(event) -> None:
        if event.kind == "trial_finished":
            r = event.record
            value = f"{r.value:.4f}" if r.value is not None else f"({r.last_value:.4f})"
            print(
                f"  {name} trial {r.number:>2}: {r.state:<9} {value}  epochs {r.epochs_done}", file=sys.stderr
            )

    start = time.perf_counter()
    summary = search.run(trials=trials, data=data, on_event=progress)
    seconds = time.perf_counter() - start
    search.close()
    best = summary.best
    return {
        "seconds": seconds,
        "pruned": summary.count("pruned"),
        "complete": summary.count("complete"),
        "epochs": sum(t.epochs_done for t in summary.trials),
        "best": best.value if best else None,
        "best_params": best.params if best else None,
        "params": [t.params for t in summary.trials],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=size(16, 20))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--template", default="seed", choices=["seed", "tiny"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench_search_"))
    try:
        project = Project.create(folder / "project", ensure_demo_dataset(), name="bench-search")
        spec = template(args.template)
        t = time.perf_counter()
        data = prepare_data(project, spec)
        print(
            f"Demo data: {', '.join(f'{k} {len(v.y)}' for k, v in data.splits.items())} pictures, decoded in "
            f"{time.perf_counter() - t:.1f} s. {args.trials} trials of {args.epochs} epochs, {args.template} design.",
            file=sys.stderr,
        )
        # Warm-up (first use of torch's kernels, Optuna's database code), so neither search pays it.
        run_search(project, "warm-up", spec, data, 1, 1, "none")
        pruned = run_search(project, "pruned", spec, data, args.trials, args.epochs, "halving")
        full = run_search(project, "full", spec, data, args.trials, args.epochs, "none")
    finally:
        if args.keep:
            print(f"Kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    same = pruned["params"] == full["params"]
    ratio = full["seconds"] / pruned["seconds"]
    print(f"random search, {args.trials} trials x {args.epochs} epochs, {args.template} design, demo digits")
    print(
        f"  with pruning:    {pruned['seconds']:7.1f} s  {pruned['epochs']:3d} epochs trained  "
        f"{pruned['pruned']:2d} pruned  best validation accuracy {pruned['best']:.4f}"
    )
    print(
        f"  without pruning: {full['seconds']:7.1f} s  {full['epochs']:3d} epochs trained  "
        f"{full['pruned']:2d} pruned  best validation accuracy {full['best']:.4f}"
    )
    targets = Targets()
    targets.check("  speed-up with pruning", ratio, 2)
    print(
        f"  same settings drawn in both: {same}; same best trial: {pruned['best_params'] == full['best_params']}"
    )
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
