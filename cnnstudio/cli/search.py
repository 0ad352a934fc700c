"""`cnnstudio search PROJECT`: a hyperparameter search; each trial is a run of the project.

The study is kept in PROJECT/search/<study>.db: running the same command again continues it (up to
--trials trials in all), also after a crash or Ctrl+C; several terminals can run the same study at
once to share the work. --storage keeps the study in a shared Optuna storage instead (journal:FILE on
a shared folder, postgresql://..., mysql+pymysql://...), so processes on several computers started with
the same --study and --storage share one study; --workers N starts N processes here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnnstudio.cli.args import positive_float, positive_int, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="search for good training settings (learning rate, batch size, ...); each trial is a run",
        description=__doc__,
    )
    p.add_argument("project", type=Path, help="a project, or a dataset folder (one sub-folder per class)")
    p.add_argument("--project-dir", type=Path, dest="project_dir", help="where a new project goes")
    p.add_argument(
        "--study", default="search", help="the search's name (default: search); the same name continues it"
    )
    p.add_argument(
        "--trials",
        type=positive_int,
        default=None,
        help="trials in the study in all (default 20, or the whole grid)",
    )
    p.add_argument(
        "--minutes", type=positive_float, default=None, help="start no trial after this many minutes"
    )
    p.add_argument(
        "--space",
        type=Path,
        default=None,
        help='a JSON file of what to vary, such as {"learning_rate": {"min": 0.0001, "max": 0.01}, '
        '"batch_size": [16, 32, 64]}; names: learning_rate, batch_size, optimizer, dropout, '
        "augmentation, filters, dense_units, train_blocks (default: learning rate and batch size)",
    )
    p.add_argument("--strategy", choices=["smart", "random", "grid"], default=None, help="default: smart")
    p.add_argument(
        "--metric",
        choices=["val_accuracy", "macro_f1", "val_loss"],
        default=None,
        help="default: val_accuracy",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs per trial (default 5)")
    p.add_argument(
        "--pruning",
        choices=["halving", "median", "none"],
        default=None,
        help="stop clearly worse trials early (default: halving)",
    )
    p.add_argument("--seed", type=int, default=None)
    design = p.add_mutually_exclusive_group()
    design.add_argument("--template", help="search over this template instead of the project's design")
    design.add_argument("--spec", type=Path, help="a model design saved as JSON")
    p.add_argument(
        "--storage",
        default=None,
        help="where the study is kept, to share it between processes and computers: journal:FILE "
        "(a file on a shared folder), postgresql://user:password@host/database, "
        "mysql+pymysql://user:password@host/database (default: the project's search/STUDY.db)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="run the search in this many processes on this computer at once (default 1)",
    )
    p.add_argument("--worker-name", default=None, help=argparse.SUPPRESS)
    p.add_argument("--use-best", action="store_true", help="make the best trial's settings the project's own")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object with the trials and the best one"
    )
    p.set_defaults(func=run)


OPTIONS = ("strategy", "metric", "epochs", "pruning", "seed")


def _settings(args, spec):
    from cnnstudio.core.search import SearchSettings, SearchSpace, default_space

    space = SearchSpace.load(args.space) if args.space else default_space(spec)
    given = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    return SearchSettings(space=space, **given)


def _check_same(search, args) -> None:
    """Options given for a study that exists must match it (a study keeps its settings)."""
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.search import SearchSpace

    differs = [
        f"--{k}"
        for k in OPTIONS
        if getattr(args, k) is not None and getattr(args, k) != getattr(search.settings, k)
    ]
    if args.space is not None:
        mine, _ = SearchSpace.load(args.space).for_design(search.spec)
        if mine.to_dict() != search.settings.space.to_dict():
            differs.append("--space")
    if args.template or args.spec:
        # The same design is fine: workers on several computers start with the same command.
        from cnnstudio.core.pipeline import resolve_spec

        given = resolve_spec(search.project, args.template, args.spec)
        if given.to_dict() != search.spec.to_dict():
            differs.append("--template/--spec")
    if differs:
        raise UserError(
            f"The search {search.name!r} already exists with other settings ({', '.join(differs)}). "
            "Leave those options out to continue it, or start a new search with --study NAME."
        )


def run(args) -> int:
    from cnnstudio.cli.progress import print_step
    from cnnstudio.core.pipeline import open_or_create_project, resolve_spec
    from cnnstudio.core.search import Search

    project = open_or_create_project(args.project, args.project_dir)
    failed_workers = 0
    if Search.exists(project, args.study, args.storage):
        search = Search.open(project, args.study, storage=args.storage)
        _check_same(search, args)
        print_step(f"Continuing the search {args.study!r} ({len(search.trials())} trials so far).")
    else:
        spec = resolve_spec(project, args.template, args.spec)
        search = Search.open(
            project, args.study, spec=spec, settings=_settings(args, spec), storage=args.storage
        )
        print_step(f"New search {args.study!r} in {search.location}")
    try:
        for line in search.settings.describe():
            print_step(f"  {line}")
        for note in search.notes:
            print_step(f"Note: {note}")
        if args.workers > 1:
            from cnnstudio.cli.search_workers import run_workers

            search.close()
            failed_workers = run_workers(args, project.folder)
            search = Search.open(project, args.study, storage=args.storage)
            summary = search.summary(ended_because="")
        else:
            reporter = _Reporter(search)
            summary = search.run(trials=args.trials, minutes=args.minutes, on_event=reporter)
        if args.use_best and summary.best is not None:
            search.use_best_settings(project)
            print_step("The best trial's design and training settings are now the project's own.")
    finally:
        search.close()
    if args.json:
        print_json(summary.to_dict())
    else:
        print_summary(summary, search.settings.metric_info)
    if failed_workers:
        print_step(f"{failed_workers} of {args.workers} search workers stopped with an error (see above).")
        return 1
    return 0


class _Reporter:
    """One line per trial on stderr, so --json output stays clean."""

    def __init__(self, search):
        self.metric = search.settings.metric_info
        self.best = None
        b = search.best()
        self.best = b.value if b is not None else None

    def __call__(self, event) -> None:
        from cnnstudio.cli.progress import print_step

        if event.kind == "message":
            print_step(event.text)
        elif event.kind == "trial_started":
            print_step(f"Trial {event.trial}: {format_params(event.params)}")
        elif event.kind == "trial_finished":
            r = event.record
            seconds = f" [{r.seconds:.0f} s]" if r.seconds is not None else ""
            if r.state == "complete":
                mark = ""
                if self.best is None or self.metric.better(r.value, self.best):
                    self.best, mark = r.value, "  (best so far)"
                print_step(f"  -> {self.metric.label.lower()} {r.value:.4f}{mark}{seconds}")
            else:
                print_step(f"  -> {r.state_words}: {r.message}{seconds}")
        sys.stderr.flush()


def format_params(params: dict) -> str:
    from cnnstudio.core.search import PARAMS

    parts = []
    for name, value in params.items():
        label = PARAMS[name].label.lower() if name in PARAMS else name
        parts.append(f"{label} {value:.3g}" if isinstance(value, float) else f"{label} {value}")
    return ", ".join(parts)


def print_summary(summary, metric) -> None:
    trials = summary.trials
    counts = ", ".join(
        f"{summary.count(s)} {s}" for s in ("complete", "pruned", "failed", "interrupted") if summary.count(s)
    )
    print(f"Search {summary.study!r}: {len(trials)} trials ({counts or 'none'}) in {summary.seconds:.0f} s.")
    ended = {
        "trials": "the number of trials was reached",
        "time": "the time was up",
        "grid": "every combination was tried",
        "stopped": "it was stopped",
    }.get(summary.ended_because)
    if ended:
        print(f"It ended because {ended}.")
    done = [t for t in trials if t.value is not None]
    done.sort(key=lambda t: t.value, reverse=metric.higher_is_better)
    if done:
        print(f"\n{'trial':>5}  {metric.label:<22} settings")
        for t in done[:10]:
            print(f"{t.number:>5}  {t.value:<22.4f} {format_params(t.params)}")
    if summary.best is not None:
        b = summary.best
        print(f"\nBest: trial {b.number}, {metric.label.lower()} {b.value:.4f}, run {b.run}")
        print(f"Settings: {format_params(b.params)}")
        print("Use them with --use-best (they become the project's design and training settings).")
    for note in summary.notes:
        print(f"Note: {note}")
