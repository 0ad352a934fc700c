"""`cnnstudio train --nproc N`, and `cnnstudio train` in a process that torchrun started.

`--nproc N` trains through core's entry point (core/train/processes.py: `train_in_processes`, the
same as the app's): N processes on this computer, followed through the run folder, with the
epoch lines and the report (or --json) of `cnnstudio train`. On several computers, the user runs
torchrun on each (`torchrun --nnodes M --nproc-per-node N --rdzv-endpoint HOST:PORT -m cnnstudio
train PROJECT ...`); `run_process` then does the work of one process through core's
`train_in_group` (see core/train/worker.py and core/train/distributed.py).
"""

from __future__ import annotations

import signal

from cnnstudio.core.errors import UserError


def launch(args, project, spec, config) -> int:
    from cnnstudio.cli.progress import TerminalProgress, count_progress, print_step
    from cnnstudio.cli.training import report_result
    from cnnstudio.core.pipeline import prepare_data
    from cnnstudio.core.runs import find_run
    from cnnstudio.core.train.distributed import processes_backend
    from cnnstudio.core.train.processes import train_in_processes

    n = int(args.nproc)
    backend = processes_backend(n, config.device)
    # Ctrl+C stops the run (its processes are told by train_in_processes), also where the shell
    # started this command with SIGINT ignored (a background job), as torchrun's launcher does.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print_step(f"Project: {project.folder}")
    print_step("Checking and decoding the images...")
    data = prepare_data(project, spec, progress=count_progress("images"))
    for warning in data.warnings:
        print_step(f"Note: {warning}")
    how = "one per GPU" if backend == "nccl" else "on the CPU"
    print_step(f"Distributed training: {n} processes ({backend}), {how}.")

    result = train_in_processes(
        project,
        spec,
        config,
        n,
        callbacks=[TerminalProgress(config.epochs)],
        resume=find_run(project, args.resume) if args.resume else None,
        init_weights=args.init_from,
        epochs=args.epochs if args.resume else None,
        data=data,
        show_output=True,
    )
    if result.history.error is not None:
        name = result.run_dir.name
        raise UserError(
            f"{result.history.error} Any message of its own is above. "
            f"The run {name} keeps its last checkpoint: continue it with --resume {name}."
        )
    return report_result(result, args.json)


def run_process(args, env) -> int:
    """One process of a run that torchrun started: rank 0 prepares the project first, then everyone
    trains; rank 0 reports."""
    from cnnstudio.cli.progress import TerminalProgress, count_progress, print_step
    from cnnstudio.cli.training import config_from_args, report_result
    from cnnstudio.core.pipeline import open_or_create_project, resolve_spec
    from cnnstudio.core.train import distributed
    from cnnstudio.core.train.worker import in_group, train_in_group

    config = config_from_args(args)

    def load():
        project = open_or_create_project(args.source, args.project)
        return project, resolve_spec(project, args.template, args.spec), config

    def work() -> int:
        if env.is_rank0:
            print_step(f"Distributed training: {env.world_size} processes ({distributed.backend_name()}).")
        result = train_in_group(
            env,
            load,
            progress=count_progress("images") if env.is_rank0 else None,
            callbacks=[TerminalProgress(config.epochs)],
            evaluate=("val", "test"),
            resume=args.resume,
            init_from=args.init_from,
            epochs=args.epochs if args.resume else None,
        )
        if result is None:
            return 0
        if result.history.error is not None:
            raise UserError(
                f"{result.history.error} The run {result.run_dir.name} keeps its last good checkpoint."
            )
        return report_result(result, args.json)

    return in_group(env, args.device, work)
