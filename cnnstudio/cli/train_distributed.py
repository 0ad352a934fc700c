"""`cnnstudio train --nproc N`, and `cnnstudio train` in a process that torchrun started.

`launch` starts N processes on this computer with torchrun's own launcher (torch.distributed.run's
`elastic_launch`, standalone rendezvous on a free local port), each running
`python -m cnnstudio train ...` with the same arguments. On several computers, the user runs
torchrun on each (`torchrun --nnodes M --nproc-per-node N --rdzv-endpoint HOST:PORT -m cnnstudio
train PROJECT ...`); either way `run_process` does the work of one process (see
core/train/distributed.py).
"""

from __future__ import annotations

import logging
import signal
import sys
import uuid

from cnnstudio.core.errors import UserError

# The exit code of a process that stopped because another one died (so it is not named as the cause).
LOST_CONTACT = 75


def child_argv(argv: list[str]) -> list[str]:
    """The command line without --nproc (a started process must not start more)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out


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
    return (
        f"Training process {rank} of {world_size} {how}, so the other processes were stopped too. "
        "Any message of its own is above. The run keeps its last checkpoint: continue it with --resume RUN."
    )


def launch(args) -> int:
    import torch
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from cnnstudio.cli.progress import print_step

    n = int(args.nproc)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if args.device in ("auto", "cuda") and gpus:
        if n > gpus:
            raise UserError(
                f"This computer has {gpus} GPUs: use --nproc {gpus} or fewer (one process per GPU)."
            )
        print_step(f"Starting {n} training processes, one per GPU (NCCL).")
    else:
        if args.device == "cuda":
            raise UserError(
                "This computer has no CUDA GPU that PyTorch can use. Choose the device 'auto' or 'cpu'."
            )
        print_step(f"Starting {n} training processes on the CPU (Gloo).")
    # torchrun's agent logs its own housekeeping; the user gets our messages instead.
    for name in ["torch.distributed.elastic", *logging.root.manager.loggerDict]:
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=n,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
    )
    argv = ["-m", "cnnstudio", *child_argv(args.argv)]
    try:
        elastic_launch(config, entrypoint=sys.executable)(*argv)
    except ChildFailedError as exc:
        raise UserError(failure_message(exc.failures, n)) from None
    except (SignalException, KeyboardInterrupt) as exc:
        sig = getattr(exc, "sigval", signal.SIGINT)
        print(f"Stopped ({signal.Signals(sig).name}): every training process was stopped.", file=sys.stderr)
        return 130
    return 0


def run_process(args, env) -> int:
    """One process of a distributed run: rank 0 prepares the project first, then everyone trains."""
    from cnnstudio.core.train import distributed

    distributed.setup(env, args.device)
    try:
        return _run_process(args, env)
    except KeyboardInterrupt:  # Ctrl+C reaches every process; rank 0 alone says so
        if env.is_rank0:
            raise
        return 130
    except Exception as exc:
        if not lost_contact(exc):
            raise
        print(
            f"cnnstudio train: process {env.rank} lost contact with the other training processes.",
            file=sys.stderr,
        )
        return LOST_CONTACT
    finally:
        distributed.teardown()


def lost_contact(exc: BaseException) -> bool:
    """Whether `exc` says another process of the group went away (Gloo or NCCL)."""
    import torch

    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        word in text for word in ("gloo", "Gloo", "NCCL", "Connection reset", "Connection closed")
    )


def _run_process(args, env) -> int:
    from cnnstudio.cli.training import config_from_args, train_and_report
    from cnnstudio.core.pipeline import (
        open_or_create_project,
        prepare_data,
        resolve_spec,
        train_project,
    )
    from cnnstudio.core.runs import find_run
    from cnnstudio.core.train import distributed

    data = None
    if env.is_rank0:  # makes the project, checks and decodes into the cache, alone
        from cnnstudio.cli.progress import count_progress, print_step

        print_step(f"Distributed training: {env.world_size} processes ({distributed.backend_name()}).")
        project = open_or_create_project(args.source, args.project)
        spec = resolve_spec(project, args.template, args.spec)
        data = prepare_data(project, spec, progress=count_progress("images"))
    distributed.barrier()
    if not env.is_rank0:  # the others read what rank 0 made
        project = open_or_create_project(args.source, args.project)
        spec = resolve_spec(project, args.template, args.spec)
        data = prepare_data(project, spec)
    config = config_from_args(args)
    epochs = args.epochs if args.resume else None
    if env.is_rank0:
        code = train_and_report(
            project,
            spec,
            config,
            args.json,
            resume=args.resume,
            init_from=args.init_from,
            epochs=epochs,
            data=data,
            run_name=args.run_folder,
        )
        distributed.barrier()  # every process leaves the group together (else Gloo may abort one)
        return code
    result = train_project(
        project,
        spec,
        config,
        data=data,
        resume=find_run(project, args.resume) if args.resume else None,
        init_weights=args.init_from,
        epochs=epochs,
        evaluate=(),
    )
    if result.history.error is not None:
        raise UserError(f"Process {env.rank}: {result.history.error}")
    distributed.barrier()  # rank 0 is still evaluating the run
    return 0
