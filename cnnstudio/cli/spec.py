"""`cnnstudio spec`: a model design's layers, output shapes, parameters and FLOPs, without torch."""

from __future__ import annotations

import argparse

from cnnstudio.cli.args import print_json
from cnnstudio.core.errors import UserError

# Kept here (not imported from core) so that `cnnstudio --help` stays light; a test checks it
# against cnnstudio.core.spec.TEMPLATES.
TEMPLATE_NAMES = ("seed", "tiny", "small-vgg", "resnet18", "mobilenet-v3-small", "efficientnet-b0")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spec",
        help="show a model design's layers, shapes and size",
        description="Show each layer's output shape, parameters and FLOPs, the totals and a memory "
        "estimate; exits with status 2 when the design cannot work, saying why.",
    )
    p.add_argument("file", nargs="?", help="a model design (.json) saved by CNN Studio")
    p.add_argument("--template", metavar="NAME", help=f"a built-in design: {', '.join(TEMPLATE_NAMES)}")
    p.add_argument("--classes", type=int, default=10, metavar="N", help="number of classes (default 10)")
    p.add_argument("--json", action="store_true", help="print the design and its report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.core.spec import ModelSpec, infer_shapes, template

    if (args.file is None) == (args.template is None):
        raise UserError("Give either a model design file or --template NAME (not both).")
    if args.classes < 1:
        raise UserError(f"--classes must be 1 or more (it is {args.classes}).")
    spec = template(args.template) if args.template else ModelSpec.load(args.file)
    report = infer_shapes(spec, args.classes)
    if args.json:
        print_json({"spec": spec.to_dict(), "report": report.to_dict()})
    else:
        print(f"Model: {spec.name}")
        print(report.format_table())
    return 0 if report.ok else 2
