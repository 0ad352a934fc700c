"""Several-process training's entry point in core: `python -m cnnstudio.core.train.worker JOB.json`.

Started without torchrun's environment, it is the launcher: torchrun's own launcher
(torch.distributed.run's `elastic_launch`, standalone rendezvous on a free local port) starts the
job's `nproc` processes on this computer, each running the same command; started by torchrun, it
is one of them (see core/train/distributed.py): rank 0 checks and decodes the pictures into the
cache first, then every process trains its share and rank 0 writes the run folder.

`core/train/processes.py: train_in_processes` writes the job and starts the launcher in a child
process (the launcher needs a main thread of its own), for the app and `cnnstudio train --nproc`
alike. The job names files only (project folder, design, settings, run folder), never command
line arguments. How the launcher ended goes to the job's `outcome` file: {"error": words} or
{"stopped": true}; Ctrl+C (SIGINT to its process group) stops every process and the last
checkpoint stays.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from cnnstudio.core.errors import UserError

MODULE = "cnnstudio.core.train.worker"  # this module, also when it runs as __main__
# The exit code of a process that stopped because another one died (so it is not named as the cause).
LOST_CONTACT = 75
STOPPED = 130
# How a process's own message starts on stderr (train_in_processes shows the last one).
ERROR_PREFIX = "Training stopped"


@dataclass
class WorkerJob:
    """What every process of one several-process run needs, as files."""

    project: str  # the project folder (already made)
    spec_file: str  # the design, as ModelSpec.save writes it
    config_file: str  # the training settings, TrainConfig.to_dict as JSON
    nproc: int = 2
    run_folder: str | None = None  # a new run's empty folder in the project's runs, made beforehand
    resume: str | None = None  # or the run to continue (its folder name)
    init_from: str | None = None  # fine-tune from a run folder, weights file or .cnnmodel bundle
    epochs: int | None = None  # with resume: the run's new total
    outcome: str | None = None  # where the launcher writes how it ended

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> WorkerJob:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))

    def command(self, job_file: Path) -> list[str]:
        """The command each process (and the launcher) runs."""
        return [sys.executable, "-m", MODULE, str(job_file)]


def failure_message(failures: dict, world_size: int) -> str:
    """Plain words for the process that failed first (torchrun's ChildFailedError.failures:
    rank -> ProcessFailure); the others usually failed because it did."""
    if not failures:
        return "A training process stopped, so the others were stopped too."

    def consequence(failure) -> bool:  # stopped because another process failed, or by the launcher
        return failure.exitcode in (LOST_CONTACT, -signal.SIGTERM)

    rank, failure = min(failures.items(), key=lambda item: (consequence(item[1]), item[1].timestamp, item[0]))
    if failure.exitcode < 0:
        how = f"was killed ({failure.signal_name()})"
    else:
        how = f"stopped with exit code {failure.exitcode}"
    return f"Training process {rank} of {world_size} {how}, so the other processes were stopped too."


def lost_contact(exc: BaseException) -> bool:
    """Whether `exc` says another process of the group went away (Gloo or NCCL)."""
    import torch

    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        word in text for word in ("gloo", "Gloo", "NCCL", "Connection reset", "Connection closed")
    )


def launch(job: WorkerJob, job_file: Path) -> int:
    """Start the job's processes with torchrun's launcher and wait for them (in the main thread)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # torchrun's agent logs its own housekeeping; the user gets our messages instead.
    for name in ["torch.distributed.elastic", *logging.root.manager.loggerDict]:
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=int(job.nproc),
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
    )
    executable, *argv = job.command(job_file)
    try:
        elastic_launch(config, entrypoint=executable)(*argv)
    except ChildFailedError as exc:
        return _ended(job, 1, error=failure_message(exc.failures, int(job.nproc)))
    except (SignalException, KeyboardInterrupt) as exc:
        sig = signal.Signals(getattr(exc, "sigval", signal.SIGINT))
        print(f"Stopped ({sig.name}): every training process was stopped.", file=sys.stderr, flush=True)
        return _ended(job, STOPPED, stopped=True)
    return _ended(job, 0)


def _ended(job: WorkerJob, code: int, **outcome) -> int:
    if job.outcome:
        Path(job.outcome).write_text(json.dumps(outcome), encoding="utf-8")
    return code


def in_group(env, device: str, work) -> int:
    """Run `work()` as one process of the group `env`: join it, leave it, and turn a stop or the loss
    of another process into an exit code (rank 0 re-raises Ctrl+C; the others stay quiet)."""
    from cnnstudio.core.train import distributed

    distributed.setup(env, device)
    try:
        return work()
    except KeyboardInterrupt:  # Ctrl+C reaches every process
        if env.is_rank0:
            raise
        return STOPPED
    except Exception as exc:
        if not lost_contact(exc):
            raise
        print(f"Training process {env.rank} lost contact with the other training processes.", file=sys.stderr)
        return LOST_CONTACT
    finally:
        distributed.teardown()


def train_in_group(
    env,
    load,
    *,
    progress=None,
    callbacks=(),
    evaluate: tuple[str, ...] = (),
    resume: str | None = None,
    init_from=None,
    epochs: int | None = None,
    run_name: str | None = None,
):
    """One process's training. `load() -> (project, spec, config)`: rank 0 calls it first (it may
    make the project) and checks and decodes the pictures into the cache alone (`progress(done,
    total)`); then the others do the same from the cache. `callbacks` and `evaluate` are rank 0's.
    Returns rank 0's TrainingResult (None in the others)."""
    from cnnstudio.core.pipeline import prepare_data, train_project
    from cnnstudio.core.runs import find_run
    from cnnstudio.core.train import distributed

    if env.is_rank0:
        project, spec, config = load()
        data = prepare_data(project, spec, progress=progress)
    distributed.barrier()
    if not env.is_rank0:
        project, spec, config = load()
        data = prepare_data(project, spec)
    result = train_project(
        project,
        spec,
        config,
        callbacks=callbacks if env.is_rank0 else (),
        data=data,
        resume=find_run(project, resume) if resume else None,
        init_weights=init_from,
        epochs=epochs,
        evaluate=evaluate if env.is_rank0 else (),
        run_name=run_name if env.is_rank0 else None,
    )
    if result.history.error is not None and not env.is_rank0:
        raise UserError(f"Process {env.rank}: {result.history.error}")
    distributed.barrier()  # every process leaves the group together (else Gloo may abort one)
    return result if env.is_rank0 else None


def _config(job: WorkerJob):
    from cnnstudio.core.train import TrainConfig

    return TrainConfig.from_dict(json.loads(Path(job.config_file).read_text(encoding="utf-8")))


def _load(job: WorkerJob):
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import ModelSpec

    return Project.open(Path(job.project)), ModelSpec.load(Path(job.spec_file)), _config(job)


def run_worker(job: WorkerJob, env) -> int:
    """One process that torchrun started for `job`."""

    def work() -> int:
        result = train_in_group(
            env,
            lambda: _load(job),
            resume=job.resume,
            init_from=job.init_from,
            epochs=job.epochs,
            run_name=job.run_folder,
        )
        if result is not None and result.history.error is not None:
            raise UserError(str(result.history.error))
        return 0

    return in_group(env, _config(job).device, work)


def main(argv: list[str] | None = None) -> int:
    from cnnstudio.core.train import distributed

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {MODULE} JOB.json", file=sys.stderr)
        return 2
    job_file = Path(args[0])
    job = WorkerJob.load(job_file)
    env = distributed.from_env()
    try:
        return launch(job, job_file) if env is None else run_worker(job, env)
    except KeyboardInterrupt:  # the launcher says so once
        return STOPPED
    except UserError as exc:
        who = f"process {env.rank}" if env is not None else "launcher"
        print(f"{ERROR_PREFIX} ({who}): {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
