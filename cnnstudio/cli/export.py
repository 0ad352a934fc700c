"""`cnnstudio export PROJECT --format bundle|onnx|torchscript|pt2 --out PATH [--int8]`: a verified export of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnstudio.cli.args import open_project, print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="save a trained run as a .cnnmodel bundle, ONNX, TorchScript or torch.export .pt2, checked",
        description=(
            "Export a project's run. The export is loaded back and run on the validation images; it is "
            "saved only when it predicts what the app predicts (same class for every image)."
        ),
    )
    p.add_argument("project", type=Path, metavar="PROJECT", help="a project folder")
    p.add_argument("--run", help="the run's id (default: the newest run)")
    p.add_argument(
        "--format",
        required=True,
        choices=["bundle", "onnx", "torchscript", "pt2"],
        dest="fmt",
        help="bundle: a .cnnmodel file for CNN Studio; onnx: for any language; pt2: torch.export's "
        "ExportedProgram for PyTorch programs (torch.export.load); torchscript: for torch.jit.load and "
        "libtorch (C++), which PyTorch now marks deprecated",
    )
    p.add_argument(
        "--out", required=True, metavar="PATH", help="the file to write, or a folder to write it into"
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="with --format onnx: a smaller int8 model, calibrated on the training pictures; kept only "
        "when it gives the app's class for at least 99%% of the validation pictures",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a file beside the export that is not CNN Studio's (TorchScript's NAME.json); "
        "with --int8, keep the int8 model even when it falls short of 99%%",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the result")
    p.set_defaults(func=run)


def run(args) -> int:
    from cnnstudio.cli.progress import count_progress, print_step
    from cnnstudio.core.errors import UserError
    from cnnstudio.core.export import export_run
    from cnnstudio.core.runs import find_run

    if args.int8 and args.fmt != "onnx":
        raise UserError("--int8 is for ONNX only; add --format onnx.")
    project = open_project(args.project)
    run_dir = find_run(project, args.run)  # a wrong project or run is reported before any work
    kind = "int8 ONNX" if args.int8 else args.fmt
    print_step(f"Exporting run {run_dir.name} as {kind} and checking it on the validation images...")
    result = export_run(
        project,
        args.fmt,
        args.out,
        run=run_dir.name,
        progress=count_progress("images"),
        overwrite=args.force,
        int8=args.int8,
        force=args.force,
    )
    if args.json:
        print_json(result.to_dict())
        return 0
    print(result.message)
    print(f"Saved {result.path}")
    for extra in result.extra_files:
        print(f"  and {extra}")
    return 0
